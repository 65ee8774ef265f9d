//! Durable storage of mentions: SQLite (one file, the default) or PostgreSQL (one server for
//! several instances). [`Store`] is what the rest of mentiond sees; each backend implements the
//! same operations with its own SQL and migrations, and sqlx's types never leave this module.
//! Times leave the store as `DateTime<Utc>` or as RFC 3339 UTC text with milliseconds, the same
//! on both backends.

mod alerts;
mod digests;
mod maintenance;
#[cfg(test)]
mod plans;
mod postgres;
mod query;
mod sources;
mod sqlite;
mod transfer;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::DatabaseLocation;
use crate::mention::ScoredMention;

pub use alerts::{AlertRecord, BucketCount, NewAlert, NewMessage, OutboxMessage, Silence};
pub use digests::{DigestRun, NewDigestRun, RunState};
pub use maintenance::{BackupError, Pruned};
pub use query::{LabelFilter, MentionQuery, MentionRow, QuarterCounts, fts_query};
pub use sources::{LeaseClaim, LeaseRecord, PageCommit, SourceHealth, SourceStatus};
pub use transfer::TableCopy;

use postgres::PgStore;
use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// Without the password.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the folder of database {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid search {query:?}: {reason}")]
    Search { query: String, reason: String },
    #[error("cannot copy: {0}")]
    Transfer(String),
    #[error("lease {name:?} is held by another instance now")]
    LeaseLost { name: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "{}: schema version {found:?}, this mentiond expects {expected:?}: open it once with write access (mentiond run, or any command as the service's user) to migrate it",
        path.display()
    )]
    Schema {
        path: PathBuf,
        found: Option<i64>,
        expected: Option<i64>,
    },
}

impl StoreError {
    /// Whether retrying the same operation later may succeed (a locked or busy database, a
    /// full pool), as opposed to a bug or a corrupt file.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::PoolTimedOut) => true,
            StoreError::Database(sqlx::Error::Database(e)) => {
                let msg = e.message();
                msg.contains("locked") || msg.contains("busy")
            }
            StoreError::Database(sqlx::Error::Io(_)) => true,
            _ => false,
        }
    }
}

/// What a batch insert did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Posts stored for the first time (mentions; a brand's own posts are counted in `own`).
    pub stored: u64,
    /// A brand's own posts stored for the first time.
    pub own: u64,
    /// Posts that were already stored (same source and external id).
    pub duplicates: u64,
}

impl std::ops::AddAssign for InsertOutcome {
    fn add_assign(&mut self, rhs: Self) {
        self.stored += rhs.stored;
        self.own += rhs.own;
        self.duplicates += rhs.duplicates;
    }
}

/// A mention with the first reply its brand's own account gave it (issue 17).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRow {
    pub source: String,
    pub external_id: String,
    pub url: Option<String>,
    pub text: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The earliest own post of the brand replying to it, published after it.
    pub first_reply_at: Option<DateTime<Utc>>,
}

/// A stored mention whose scores may need recomputing.
#[derive(Debug, Clone)]
pub struct ScoreRow {
    pub id: i64,
    pub text: String,
    pub lang: Option<String>,
    pub label: Option<String>,
}

/// The store: one of the two backends.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens (creating a SQLite file if missing) the database and applies pending migrations.
    pub async fn open(location: &DatabaseLocation) -> Result<Store, StoreError> {
        match location {
            DatabaseLocation::Sqlite(path) => Store::open_sqlite(path).await,
            DatabaseLocation::Postgres(pg) => Ok(Store {
                backend: Backend::Postgres(PgStore::open(pg).await?),
            }),
        }
    }

    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(SqliteStore::open_sqlite(path).await?),
        })
    }

    /// Opens an existing SQLite database for reading only: no migration, no write lock, no
    /// file created, so a reader needs only read access (an analyst in the service's group).
    /// Refuses a database whose schema differs from this mentiond's.
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(SqliteStore::open_read_only(path).await?),
        })
    }

    /// For commands that only read: SQLite read-only as above; PostgreSQL connects without
    /// migrating and refuses a schema other than this mentiond's.
    pub async fn open_for_reading(location: &DatabaseLocation) -> Result<Store, StoreError> {
        match location {
            DatabaseLocation::Sqlite(path) => Store::open_read_only(path).await,
            DatabaseLocation::Postgres(pg) => Ok(Store {
                backend: Backend::Postgres(PgStore::open_existing(pg).await?),
            }),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The SQLite file, when the store is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(db) => Some(db.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// The SQLite reader pool, for tests that inspect the file directly. Panics on PostgreSQL.
    #[doc(hidden)]
    pub fn reader(&self) -> &sqlx::SqlitePool {
        match &self.backend {
            Backend::Sqlite(db) => db.reader(),
            Backend::Postgres(_) => panic!("reader(): a SQLite store was expected"),
        }
    }

    /// The SQLite writer pool, for tests that hold its lock or alter rows. Panics on PostgreSQL.
    #[doc(hidden)]
    pub fn writer(&self) -> &sqlx::SqlitePool {
        match &self.backend {
            Backend::Sqlite(db) => db.writer(),
            Backend::Postgres(_) => panic!("writer(): a SQLite store was expected"),
        }
    }

    /// The PostgreSQL pool, for tests. Panics on SQLite.
    #[doc(hidden)]
    pub fn pg_pool(&self) -> &sqlx::PgPool {
        match &self.backend {
            Backend::Postgres(db) => db.pool(),
            Backend::Sqlite(_) => panic!("pg_pool(): a PostgreSQL store was expected"),
        }
    }

    /// Stores an alert and its messages (the e-mail, a message per chat channel) in one
    /// transaction; returns the alert's id. The messages are built by `render` once the id is
    /// known (it appears in them and in their ids).
    pub async fn insert_alert<F>(&self, alert: &NewAlert, render: F) -> Result<i64, StoreError>
    where
        F: FnOnce(i64) -> Vec<NewMessage>,
    {
        match &self.backend {
            Backend::Sqlite(db) => db.insert_alert(alert, render).await,
            Backend::Postgres(db) => db.insert_alert(alert, render).await,
        }
    }

    /// Runs a query and hands each row to `each` as it is read, so exports of millions of
    /// rows run in constant memory.
    pub async fn query_each<F>(&self, query: &MentionQuery, each: F) -> Result<u64, StoreError>
    where
        F: FnMut(MentionRow) -> std::io::Result<()>,
    {
        match &self.backend {
            Backend::Sqlite(db) => db.query_each(query, each).await,
            Backend::Postgres(db) => db.query_each(query, each).await,
        }
    }

    /// Runs a query and collects the rows.
    pub async fn query(&self, query: &MentionQuery) -> Result<Vec<MentionRow>, StoreError> {
        let mut out = Vec::new();
        self.query_each(query, |row| {
            out.push(row);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// A consistent copy of a SQLite database (see [`SqliteStore::backup_to`]); PostgreSQL has
    /// its own tools (`pg_dump`).
    pub async fn backup_to(&self, to: &Path, overwrite: bool) -> Result<u64, BackupError> {
        match &self.backend {
            Backend::Sqlite(db) => db.backup_to(to, overwrite).await,
            Backend::Postgres(_) => Err(BackupError::Unsupported),
        }
    }
}

impl Store {
    async fn read_rows(
        &self,
        table: &transfer::Table,
        after: Option<&[i64]>,
        limit: usize,
    ) -> Result<Vec<Vec<transfer::Value>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read_rows(table, after, limit).await,
            Backend::Postgres(db) => db.read_rows(table, after, limit).await,
        }
    }

    async fn write_rows(
        &self,
        table: &transfer::Table,
        rows: &[Vec<transfer::Value>],
    ) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.write_rows(table, rows).await,
            Backend::Postgres(db) => db.write_rows(table, rows).await,
        }
    }

    async fn last_key(&self, table: &transfer::Table) -> Result<Option<Vec<i64>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.last_key(table).await,
            Backend::Postgres(db) => db.last_key(table).await,
        }
    }

    async fn count_rows(&self, table: &transfer::Table) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.count_rows(table).await,
            Backend::Postgres(db) => db.count_rows(table).await,
        }
    }

    /// Copies every table into `to` (see `store/transfer.rs`), `batch` rows per transaction,
    /// resuming after what `to` already holds; `progress(table, rows copied so far)` after each
    /// batch. Returns each table's counts on both sides: equal counts verify the copy.
    /// `source` names this store in `to`'s mark: `to` must be empty or an earlier copy of it.
    pub async fn copy_into(
        &self,
        to: &Store,
        source: &str,
        batch: usize,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<Vec<TableCopy>, StoreError> {
        let batch = batch.max(1);
        let (sources, holds_data) = match &to.backend {
            Backend::Sqlite(db) => (db.copy_sources().await?, db.holds_data().await?),
            Backend::Postgres(db) => (db.copy_sources().await?, db.holds_data().await?),
        };
        if !sources.iter().any(|s| s == source) && (holds_data || !sources.is_empty()) {
            return Err(StoreError::Transfer(format!(
                "the destination already holds data that was not copied from {source}: copy into an empty database"
            )));
        }
        let mark = |finished: bool| async move {
            let now = Utc::now();
            match &to.backend {
                Backend::Sqlite(db) => db.mark_copy(source, now, finished).await,
                Backend::Postgres(db) => db.mark_copy(source, now, finished).await,
            }
        };
        mark(false).await?;
        let mut report = Vec::new();
        for table in transfer::TABLES {
            let mut after = to.last_key(table).await?;
            let mut copied = 0;
            loop {
                let rows = self.read_rows(table, after.as_deref(), batch).await?;
                if rows.is_empty() {
                    break;
                }
                copied += to.write_rows(table, &rows).await?;
                progress(table.name, copied);
                if table.key.is_empty() || rows.len() < batch {
                    break;
                }
                after = rows.last().map(|r| transfer::key_of(table, r));
            }
            report.push(TableCopy {
                table: table.name,
                source_rows: self.count_rows(table).await?,
                copied,
                destination_rows: to.count_rows(table).await?,
            });
        }
        mark(true).await?;
        Ok(report)
    }
}

/// Each operation below has the same meaning on both backends; the doc comments live on the
/// SQLite implementation.
macro_rules! delegate {
    ($( $(#[$meta:meta])* pub async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.backend {
                        Backend::Sqlite(db) => db.$name($($arg),*).await,
                        Backend::Postgres(db) => db.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate! {
    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) -> ();
    /// Stores a batch in one transaction. A post already stored is not stored again, but is
    /// linked to any brand it was not yet linked to (e.g. a brand added to the config).
    pub async fn insert_batch(&self, batch: &[ScoredMention]) -> Result<InsertOutcome, StoreError>;
    /// As [`Store::insert_batch`], stored as of `now` (the daemon's clock).
    pub async fn insert_batch_at(&self, batch: &[ScoredMention], now: DateTime<Utc>) -> Result<InsertOutcome, StoreError>;
    /// Number of stored posts (each counted once whatever its brands).
    pub async fn count_mentions(&self) -> Result<i64, StoreError>;
    /// The mentions of `brand` published in [from, to), oldest first, each with its brand's
    /// first reply.
    pub async fn response_rows(&self, brand: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ResponseRow>, StoreError>;
    /// Up to `limit` mentions scored by another version than `version`, after `after_id`, in
    /// id order, optionally only those published at or after `since`.
    pub async fn mentions_to_rescore(&self, version: &str, since: Option<DateTime<Utc>>, after_id: i64, limit: i64) -> Result<Vec<ScoreRow>, StoreError>;
    /// Writes new scores for a batch in one transaction.
    pub async fn update_scores(&self, version: &str, scores: &[(i64, Option<crate::mention::Sentiment>)]) -> Result<(), StoreError>;

    /// Who wrote the negative mentions of `brand` published in [from, to).
    pub async fn burst_profile(&self, brand: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<crate::detect::Burst, StoreError>;
    /// Whether a mention of `brand` published before `created_before` was stored after
    /// `ingested_after`.
    pub async fn late_arrival(&self, brand: &str, ingested_after: DateTime<Utc>, created_before: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Negative and total mentions of `brand` per bucket of `bucket` seconds, for buckets
    /// starting in [from, to). Buckets without mentions are absent.
    pub async fn bucket_counts(&self, brand: &str, from: DateTime<Utc>, to: DateTime<Utc>, bucket: i64) -> Result<Vec<BucketCount>, StoreError>;
    /// The most recent alert of a brand.
    pub async fn last_alert(&self, brand: &str) -> Result<Option<AlertRecord>, StoreError>;
    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError>;
    /// Alerts fired in [from, to), oldest first.
    pub async fn alerts_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<AlertRecord>, StoreError>;
    /// For the alerts fired in [from, to): the state of each one's e-mail, by alert id.
    pub async fn alert_email_states(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<std::collections::HashMap<i64, String>, StoreError>;
    /// Marks an alert resolved, with its "back to normal" messages, in one transaction.
    pub async fn resolve_alert(&self, id: i64, at: DateTime<Utc>, messages: Vec<NewMessage>) -> Result<(), StoreError>;
    /// Queues a message that belongs to no alert (a digest), in its own transaction.
    pub async fn enqueue(&self, msg: &NewMessage, ref_id: Option<i64>) -> Result<i64, StoreError>;
    /// Pending messages whose time has come, oldest first.
    pub async fn due_messages(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxMessage>, StoreError>;
    /// When the next pending message is due (to sleep until then).
    pub async fn next_message_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    pub async fn messages(&self, state: Option<&str>) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Takes a due message for delivery for `lease`, on behalf of `owner`; false when it is no
    /// longer pending, due and free.
    pub async fn claim_message(&self, id: i64, now: DateTime<Utc>, lease: chrono::Duration, owner: &str) -> Result<bool, StoreError>;
    /// Frees the claims of `owner`.
    pub async fn release_claims(&self, owner: &str) -> Result<u64, StoreError>;
    /// One message by id.
    pub async fn message(&self, id: i64) -> Result<Option<OutboxMessage>, StoreError>;
    pub async fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a failed attempt: retried at `next`, or given up (`next` = None).
    pub async fn mark_attempt_failed(&self, id: i64, error: &str, next: Option<DateTime<Utc>>) -> Result<(), StoreError>;
    /// A silence covered the message at send time: not sent, and the alert says why.
    pub async fn mark_silenced(&self, msg: &OutboxMessage, reason: &str) -> Result<(), StoreError>;
    pub async fn add_silence(&self, brand: &str, starts: DateTime<Utc>, ends: DateTime<Utc>, reason: &str, now: DateTime<Utc>) -> Result<i64, StoreError>;
    /// Silences that have not ended by `now`.
    pub async fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError>;
    /// Removes a silence; false when there was none with that id.
    pub async fn remove_silence(&self, id: i64) -> Result<bool, StoreError>;
    /// The silence covering `brand` at `at`, if any.
    pub async fn active_silence(&self, brand: &str, at: DateTime<Utc>) -> Result<Option<Silence>, StoreError>;

    /// Records a digest run and its messages (queued runs only) in one transaction: (run id,
    /// outbox ids); `None` when this scheduled run is already recorded.
    pub async fn record_digest_run(&self, run: &NewDigestRun, messages: Vec<NewMessage>) -> Result<Option<(i64, Vec<i64>)>, StoreError>;
    /// When the daemon first scheduled the digest `name` (now, if this is the first time).
    pub async fn arm_digest(&self, name: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError>;
    /// The latest scheduled run of a digest.
    pub async fn last_scheduled_run(&self, name: &str) -> Result<Option<DigestRun>, StoreError>;
    /// The most recent runs of every digest, newest first.
    pub async fn digest_runs(&self, limit: i64) -> Result<Vec<DigestRun>, StoreError>;

    /// The database's own consistency check: the problems found, empty when sound.
    pub async fn quick_check(&self) -> Result<Vec<String>, StoreError>;
    /// Removes up to `batch` mentions published before `before`, and old poll log rows and
    /// finished messages. Call until it returns zero.
    pub async fn prune_before(&self, before: DateTime<Utc>, batch: i64) -> Result<Pruned, StoreError>;

    /// Stored mentions per (brand, source), sorted.
    pub async fn mentions_per_brand_and_source(&self) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// The mentions matching `query` (its limit aside) per quarter hour, oldest first.
    pub async fn quarter_hour_counts(&self, query: &MentionQuery) -> Result<Vec<QuarterCounts>, StoreError>;
    /// Negative mentions of `brand` published in [from, to) that no own post answers and that
    /// were not notified yet, oldest first (at most 5,000).
    pub async fn unanswered_complaints(&self, brand: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<(i64, MentionRow)>, StoreError>;
    /// Records that a complaint was notified as unanswered, with its messages, once.
    pub async fn notify_unanswered(&self, mention_id: i64, brand: &str, now: DateTime<Utc>, messages: Vec<NewMessage>) -> Result<bool, StoreError>;
    /// The negative mentions of `brand` published in [from, to), with their ids, worst first.
    pub async fn negative_mentions(&self, brand: &str, from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Result<Vec<(i64, MentionRow)>, StoreError>;

    pub async fn load_cursor(&self, source_id: &str, query: &str) -> Result<Option<crate::sources::Cursor>, StoreError>;
    /// Stores a page's mentions, advances the cursor, logs the page and counts billed posts,
    /// all or nothing.
    pub async fn commit_page(&self, page: &PageCommit<'_>) -> Result<InsertOutcome, StoreError>;
    /// Takes or renews the lease `name` for `holder` until `now + period`; false when another
    /// instance holds it.
    pub async fn acquire_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, period: chrono::Duration) -> Result<bool, StoreError>;
    /// Gives up the leases of `holder` (every lease when `None`).
    pub async fn release_leases(&self, holder: Option<&str>) -> Result<u64, StoreError>;
    /// Every lease, by name.
    pub async fn leases(&self) -> Result<Vec<LeaseRecord>, StoreError>;
    /// Logs a failed attempt (for digests and `status`).
    pub async fn log_poll_error(&self, source_id: &str, query: &str, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;
    pub async fn billed_in_month(&self, source_id: &str, at: DateTime<Utc>) -> Result<u64, StoreError>;
    pub async fn load_source_status(&self, source_id: &str, query: &str) -> Result<Option<SourceStatus>, StoreError>;
    pub async fn save_source_status(&self, s: &SourceStatus) -> Result<(), StoreError>;
    /// Every (source, query) ever polled, with the mentions stored in the hour and the day
    /// before `now`.
    pub async fn source_statuses(&self, now: DateTime<Utc>) -> Result<Vec<SourceStatus>, StoreError>;
    /// Per (source, query): polls, failures and posts between `from` and `to`.
    pub async fn source_health(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<SourceHealth>, StoreError>;
}
