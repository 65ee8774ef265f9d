//! The SQLite backend.
//!
//! One writer connection (SQLite allows one writer at a time; queuing writes in the pool is
//! cheaper than `SQLITE_BUSY` retries) and a small pool of readers, WAL journal, `synchronous =
//! FULL` so a committed batch survives a power cut, `busy_timeout` for other processes (an
//! analyst's `sqlite3` shell, a backup).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row, Sqlite, Transaction};

use super::{InsertOutcome, ResponseRow, ScoreRow, StoreError};
use crate::mention::{ScoredMention, format_time};

/// A stored post as a batch needs it for its brand links: id, time, label.
type Stored = (i64, String, Option<String>);

/// Rows per multi-row INSERT: 18 values each stays far below SQLite's limit of 32,766 bound
/// values per statement.
const ROWS_PER_INSERT: usize = 100;

pub struct SqliteStore {
    pub(super) path: PathBuf,
    pub(super) writer: SqlitePool,
    pub(super) reader: SqlitePool,
    /// Brand name (lowercase) -> id, filled as brands are first seen.
    pub(super) brand_ids: Mutex<HashMap<String, i64>>,
}

/// The `-wal` file next to a database.
fn wal_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if missing) the database and applies pending migrations.
    pub async fn open_sqlite(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        // The writer keeps a larger page cache (64 MiB, against SQLite's 2 MiB default): a bulk
        // ingest re-reads the same index pages for every batch.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone().pragma("cache_size", "-65536"))
            .await
            .map_err(open_err)?;
        // Two processes opening a new database at once (the daemon and an analyst's `query`)
        // may race to apply the same migration: the loser retries and finds it applied.
        let mut attempt = 0;
        loop {
            match MIGRATOR.run(&writer).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "migration raced with another process; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            reader,
            brand_ids: Mutex::new(HashMap::new()),
        })
    }

    /// Opens an existing database for reading only: no migration, no write lock, no file
    /// created, so a reader needs only read access (an analyst in the service's group).
    /// Refuses a database whose schema differs from this mentiond's.
    pub async fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        match SqliteStore::open_read_only_with(path, false).await {
            // A WAL database read without write access needs the `-shm` file the writer
            // keeps. When no writer is active (no `-wal` file), nothing can change under the
            // reader, and SQLite may read the file as immutable.
            Err(StoreError::Open { .. }) if !wal_file(path).exists() => {
                SqliteStore::open_read_only_with(path, true).await
            }
            other => other,
        }
    }

    async fn open_read_only_with(path: &Path, immutable: bool) -> Result<SqliteStore, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(path)
            .read_only(true)
            .immutable(immutable)
            .busy_timeout(Duration::from_secs(10))
            // A long export is not a warning: sqlx would log every statement over a second.
            .disable_statement_logging();
        let pool = |n| {
            SqlitePoolOptions::new()
                .max_connections(n)
                .connect_with(options.clone())
        };
        let reader = pool(4).await.map_err(open_err)?;
        let applied: Option<i64> =
            match sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&reader)
                .await
            {
                Ok(v) => v,
                Err(sqlx::Error::Database(e)) if e.message().contains("no such table") => None,
                Err(e) => {
                    reader.close().await;
                    return Err(open_err(e));
                }
            };
        let known = MIGRATOR.iter().map(|m| m.version).max();
        if applied != known {
            reader.close().await;
            return Err(StoreError::Schema {
                path: path.to_path_buf(),
                found: applied,
                expected: known,
            });
        }
        let writer = pool(1).await.map_err(open_err)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            reader,
            brand_ids: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, waiting for connections to be returned (checkpoints the WAL).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Pool for read-only queries.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// The single writer connection's pool.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction that takes SQLite's write lock at once. A deferred `BEGIN` reads
    /// first and asks for the lock at its first write; when another process holds the lock
    /// at that moment SQLite fails at once with "database is locked" instead of waiting the
    /// busy timeout (it cannot wait for a lock while holding a read snapshot that may go
    /// stale). `BEGIN IMMEDIATE` waits the busy timeout for the lock, then reads.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    async fn brand_id(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        name: &str,
    ) -> Result<i64, StoreError> {
        let key = name.to_lowercase();
        if let Some(id) = self.brand_ids.lock().expect("brand id cache").get(&key) {
            return Ok(*id);
        }
        sqlx::query("INSERT INTO brands (name) VALUES (?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(&mut **tx)
            .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM brands WHERE name = ?")
            .bind(name)
            .fetch_one(&mut **tx)
            .await?;
        // Cached only after commit would be stricter; a rolled-back brand row is re-created by
        // the next insert with the same name, and ids of committed rows never change.
        self.brand_ids
            .lock()
            .expect("brand id cache")
            .insert(key, id);
        Ok(id)
    }

    /// Stores a batch in one transaction. A post already stored is not stored again, but is
    /// linked to any brand it was not yet linked to (e.g. a brand added to the config).
    pub async fn insert_batch(&self, batch: &[ScoredMention]) -> Result<InsertOutcome, StoreError> {
        self.insert_batch_at(batch, Utc::now()).await
    }

    /// As [`SqliteStore::insert_batch`], stored as of `now` (the daemon's clock).
    pub async fn insert_batch_at(
        &self,
        batch: &[ScoredMention],
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = self.insert_in(&mut tx, batch, now).await;
        let committed = match outcome {
            Ok(outcome) => tx.commit().await.map(|_| outcome).map_err(StoreError::from),
            Err(e) => Err(e),
        };
        if committed.is_err() {
            self.forget_brand_ids();
        }
        committed
    }

    /// After a rolled-back transaction the brand cache may hold ids created in it.
    pub(super) fn forget_brand_ids(&self) {
        self.brand_ids.lock().expect("brand id cache").clear();
    }

    /// Inserts within a caller's transaction, so a source can advance its cursor atomically
    /// with the page it stores.
    ///
    /// A batch is a few multi-row statements, not several statements per post: each statement
    /// is a round trip to SQLite's worker thread, and those round trips, not SQLite, were most
    /// of the cost of a bulk ingest.
    pub async fn insert_in(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        batch: &[ScoredMention],
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, StoreError> {
        if !batch.iter().any(|sm| sm.own_by.is_some()) {
            return self.insert_mentions(tx, batch, now).await;
        }
        let (own, rest): (Vec<ScoredMention>, Vec<ScoredMention>) =
            batch.iter().cloned().partition(|sm| sm.own_by.is_some());
        let mut outcome = self.insert_own(tx, &own, now).await?;
        outcome += self.insert_mentions(tx, &rest, now).await?;
        Ok(outcome)
    }

    /// A brand's own posts: kept apart from mentions (see `own_posts`).
    async fn insert_own(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        own: &[ScoredMention],
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut outcome = InsertOutcome::default();
        let ingested_at = format_time(&now);
        for chunk in own.chunks(ROWS_PER_INSERT) {
            let mut rows = Vec::with_capacity(chunk.len());
            for sm in chunk {
                let brand = sm.own_by.as_deref().unwrap_or_default();
                rows.push((self.brand_id(tx, brand).await?, sm));
            }
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO own_posts (brand_id, source, external_id, reply_to, author, url, text, created_at, ingested_at) ",
            );
            insert.push_values(&rows, |mut row, (brand_id, sm)| {
                let m = &sm.mention;
                row.push_bind(*brand_id)
                    .push_bind(m.source.as_str())
                    .push_bind(m.external_id.as_str())
                    .push_bind(m.reply_to.as_deref())
                    .push_bind(m.author.as_deref())
                    .push_bind(m.url.as_deref())
                    .push_bind(m.text.as_str())
                    .push_bind(format_time(&m.created_at))
                    .push_bind(ingested_at.as_str());
            });
            insert.push(" ON CONFLICT (source, external_id) DO NOTHING");
            let n = insert.build().execute(&mut **tx).await?.rows_affected();
            outcome.own += n;
            outcome.duplicates += chunk.len() as u64 - n;
        }
        Ok(outcome)
    }

    async fn insert_mentions(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        batch: &[ScoredMention],
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut outcome = InsertOutcome::default();
        let ingested_at = format_time(&now);
        // Brand ids first (a handful of names, cached after the first batch).
        let mut brand_ids: HashMap<&str, i64> = HashMap::new();
        for sm in batch {
            for brand in &sm.brands {
                if !brand_ids.contains_key(brand.as_str()) {
                    let id = self.brand_id(tx, brand).await?;
                    brand_ids.insert(brand, id);
                }
            }
        }
        // (source, external_id) -> (id, created_at and label as stored).
        let mut stored_ids: HashMap<(&str, &str), Stored> = HashMap::new();
        // The first occurrence of a post in the batch may be new; any later one is a duplicate.
        let mut claimed: std::collections::HashSet<(&str, &str)> = Default::default();
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO mentions (source, external_id, url, author, author_followers, reply_to, text, \
                 lang, lang_origin, created_at, ingested_at, engagement, compound, pos, neu, neg, label, scorer_version) ",
            );
            insert.push_values(chunk, |mut row, sm| {
                let m = &sm.mention;
                let s = sm.sentiment.as_ref();
                let engagement = (!m.engagement.is_empty())
                    .then(|| serde_json::to_string(&m.engagement).expect("counts serialise"));
                row.push_bind(m.source.as_str())
                    .push_bind(m.external_id.as_str())
                    .push_bind(m.url.as_deref())
                    .push_bind(m.author.as_deref())
                    .push_bind(
                        m.author_followers
                            .map(|f| i64::try_from(f).unwrap_or(i64::MAX)),
                    )
                    .push_bind(m.reply_to.as_deref())
                    .push_bind(m.text.as_str())
                    .push_bind(sm.lang.as_deref())
                    .push_bind(sm.lang_origin.map(|o| o.as_str()))
                    .push_bind(format_time(&m.created_at))
                    .push_bind(ingested_at.as_str())
                    .push_bind(engagement)
                    .push_bind(s.map(|s| s.compound))
                    .push_bind(s.map(|s| s.pos))
                    .push_bind(s.map(|s| s.neu))
                    .push_bind(s.map(|s| s.neg))
                    .push_bind(s.map(|s| s.label.as_str()))
                    .push_bind(sm.scorer_version.as_str());
            });
            insert.push(
                " ON CONFLICT (source, external_id) DO NOTHING RETURNING id, source, external_id, created_at, label",
            );
            let rows = insert.build().fetch_all(&mut **tx).await?;
            let mut new: HashMap<(String, String), Stored> = HashMap::with_capacity(rows.len());
            for r in rows {
                new.insert((r.get(1), r.get(2)), (r.get(0), r.get(3), r.get(4)));
            }
            let mut missing: Vec<(&str, &str)> = Vec::new();
            for sm in chunk {
                let key = (sm.mention.source.as_str(), sm.mention.external_id.as_str());
                let fresh = claimed.insert(key);
                match new.remove(&(key.0.to_string(), key.1.to_string())) {
                    Some(stored) if fresh => {
                        outcome.stored += 1;
                        stored_ids.insert(key, stored);
                    }
                    _ => {
                        outcome.duplicates += 1;
                        if !stored_ids.contains_key(&key) {
                            missing.push(key);
                        }
                    }
                }
            }
            // Posts already stored: their ids, to link them to brands they lack.
            for keys in missing.chunks(ROWS_PER_INSERT * 4) {
                let mut select = sqlx::QueryBuilder::<Sqlite>::new(
                    "SELECT id, source, external_id, created_at, label FROM mentions WHERE (source, external_id) IN (",
                );
                let mut list = select.separated(", ");
                for (source, id) in keys {
                    list.push("(")
                        .push_bind_unseparated(*source)
                        .push_unseparated(", ")
                        .push_bind_unseparated(*id)
                        .push_unseparated(")");
                }
                select.push(")");
                let rows = select.build().fetch_all(&mut **tx).await?;
                let found: HashMap<(String, String), Stored> = rows
                    .into_iter()
                    .map(|r| ((r.get(1), r.get(2)), (r.get(0), r.get(3), r.get(4))))
                    .collect();
                for key in keys {
                    if let Some(v) = found.get(&(key.0.to_string(), key.1.to_string())) {
                        stored_ids.insert(*key, v.clone());
                    }
                }
            }
        }
        // Brand links, in bulk.
        let mut links: Vec<(i64, i64, &str, Option<&str>)> = Vec::new();
        for sm in batch {
            let key = (sm.mention.source.as_str(), sm.mention.external_id.as_str());
            let Some((mention_id, stored_at, label)) = stored_ids.get(&key) else {
                continue;
            };
            for brand in &sm.brands {
                links.push((
                    brand_ids[brand.as_str()],
                    *mention_id,
                    stored_at.as_str(),
                    label.as_deref(),
                ));
            }
        }
        for chunk in links.chunks(ROWS_PER_INSERT * 4) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO mention_brands (brand_id, mention_id, created_at, label) ",
            );
            insert.push_values(chunk, |mut row, (brand, mention, at, label)| {
                row.push_bind(*brand)
                    .push_bind(*mention)
                    .push_bind(*at)
                    .push_bind(*label);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut **tx).await?;
        }
        Ok(outcome)
    }

    pub async fn response_rows(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ResponseRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.source, m.external_id, m.label, mb.created_at, \
             (SELECT min(o.created_at) FROM own_posts o WHERE o.source = m.source AND o.reply_to = m.external_id \
              AND o.brand_id = mb.brand_id AND o.created_at >= mb.created_at), m.url, m.text \
             FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             WHERE b.name = ? AND mb.created_at >= ? AND mb.created_at < ? ORDER BY mb.created_at, m.id",
        )
        .bind(brand)
        .bind(format_time(&from))
        .bind(format_time(&to))
        .fetch_all(&self.reader)
        .await?;
        let time = |s: String| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.to_utc())
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        rows.iter()
            .map(|r| {
                Ok(ResponseRow {
                    source: r.try_get(0)?,
                    external_id: r.try_get(1)?,
                    url: r.try_get(5)?,
                    text: r.try_get(6)?,
                    label: r.try_get(2)?,
                    created_at: time(r.try_get(3)?)?,
                    first_reply_at: r.try_get::<Option<String>, _>(4)?.map(time).transpose()?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Number of stored posts (each counted once whatever its brands).
    pub async fn count_mentions(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM mentions")
            .fetch_one(&self.reader)
            .await?)
    }
}

impl SqliteStore {
    /// Up to `limit` mentions scored by another version than `version`, after `after_id`, in
    /// id order (so a run can resume where it stopped), optionally only those published at or
    /// after `since`.
    pub async fn mentions_to_rescore(
        &self,
        version: &str,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ScoreRow>, StoreError> {
        let since = since.map(|t| format_time(&t)).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT id, text, lang, label FROM mentions \
             WHERE id > ? AND scorer_version <> ? AND created_at >= ? ORDER BY id LIMIT ?",
        )
        .bind(after_id)
        .bind(version)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScoreRow {
                    id: r.try_get(0)?,
                    text: r.try_get(1)?,
                    lang: r.try_get(2)?,
                    label: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Writes new scores for a batch in one transaction.
    pub async fn update_scores(
        &self,
        version: &str,
        scores: &[(i64, Option<crate::mention::Sentiment>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (id, s) in scores {
            sqlx::query("UPDATE mentions SET compound = ?, pos = ?, neu = ?, neg = ?, label = ?, scorer_version = ? WHERE id = ?")
                .bind(s.map(|s| s.compound))
                .bind(s.map(|s| s.pos))
                .bind(s.map(|s| s.neu))
                .bind(s.map(|s| s.neg))
                .bind(s.map(|s| s.label.as_str()))
                .bind(version)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE mention_brands SET label = ? WHERE mention_id = ?")
                .bind(s.map(|s| s.label.as_str()))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
