//! The PostgreSQL backend: the same operations as the SQLite one (see `sqlite.rs` and its
//! sibling files for what each means), with PostgreSQL's types and its own migrations.
//!
//! Text is ordered as SQLite orders it (`COLLATE "C"`: by code point), whatever the
//! database's collation, so both backends list rows in the same order.
//!
//! Times are `timestamptz`, truncated to milliseconds before they are written so that both
//! backends compare and return the same instants. Search uses a `tsvector` column built with
//! the mention's language (English and Italian stem words, others are split only) over
//! unaccented text; a search is tried with each configuration, so a query matches a mention in
//! its own language whatever the language it was typed in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::TryStreamExt;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Postgres, QueryBuilder, Row, Transaction};

use super::{
    AlertRecord, BucketCount, DigestRun, InsertOutcome, LabelFilter, LeaseRecord, MentionQuery,
    MentionRow, NewAlert, NewDigestRun, NewMessage, OutboxMessage, PageCommit, Pruned,
    QuarterCounts, ResponseRow, RunState, ScoreRow, Silence, SourceHealth, SourceStatus,
    StoreError, fts_query,
};
use crate::config::PostgresLocation;
use crate::mention::{ScoredMention, format_time};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Rows per multi-row INSERT: 18 values each, far below PostgreSQL's 65,535 parameters.
const ROWS_PER_INSERT: usize = 500;

/// The text search configurations a search is tried with (see the module comment).
const SEARCH_CONFIGS: [&str; 3] = ["english", "italian", "simple"];

pub struct PgStore {
    pool: PgPool,
    /// Brand name (lowercase) -> id, filled as brands are first seen.
    brand_ids: Mutex<HashMap<String, i64>>,
}

/// A stored post as a batch needs it for its brand links: id, time, label.
type Stored = (i64, DateTime<Utc>, Option<String>);

/// What is written: milliseconds, as SQLite keeps them.
fn ms(t: &DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// An optional RFC 3339 text (as `SourceStatus` carries times) as an instant.
fn parse_opt(t: &Option<String>) -> Option<DateTime<Utc>> {
    t.as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| ms(&t.to_utc()))
}

fn time_at(r: &PgRow, i: &str) -> Result<String, sqlx::Error> {
    Ok(format_time(&r.try_get::<DateTime<Utc>, _>(i)?))
}

fn time_opt(r: &PgRow, i: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(r.try_get::<Option<DateTime<Utc>>, _>(i)?
        .map(|t| format_time(&t)))
}

impl PgStore {
    /// Connects, then applies pending migrations (sqlx holds an advisory lock meanwhile, so
    /// instances starting together migrate once).
    pub async fn open(location: &PostgresLocation) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(location).await?;
        MIGRATOR.run(&store.pool).await?;
        Ok(store)
    }

    /// Connects without migrating; refuses a schema other than this mentiond's.
    pub async fn open_existing(location: &PostgresLocation) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(location).await?;
        let applied: Option<i64> =
            match sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&store.pool)
                .await
            {
                Ok(v) => v,
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => None,
                Err(e) => return Err(e.into()),
            };
        let known = MIGRATOR.iter().map(|m| m.version).max();
        if applied != known {
            store.pool.close().await;
            return Err(StoreError::Schema {
                path: PathBuf::from(&location.url),
                found: applied,
                expected: known,
            });
        }
        Ok(store)
    }

    async fn connect(location: &PostgresLocation) -> Result<PgStore, StoreError> {
        let connect_err = |source| StoreError::Connect {
            url: location.url.clone(),
            source,
        };
        let mut options = PgConnectOptions::from_str(&location.url)
            .map_err(connect_err)?
            .application_name("mentiond")
            // A long export is not a warning: sqlx would log every statement over a second.
            .disable_statement_logging();
        if let Some(password) = &location.password {
            options = options.password(password.expose_secret());
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(PgStore {
            pool,
            brand_ids: Mutex::new(HashMap::new()),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn brand_id(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        name: &str,
    ) -> Result<i64, StoreError> {
        let key = name.to_lowercase();
        if let Some(id) = self.brand_ids.lock().expect("brand id cache").get(&key) {
            return Ok(*id);
        }
        sqlx::query("INSERT INTO brands (name) VALUES ($1) ON CONFLICT (lower(name)) DO NOTHING")
            .bind(name)
            .execute(&mut **tx)
            .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM brands WHERE lower(name) = lower($1)")
            .bind(name)
            .fetch_one(&mut **tx)
            .await?;
        self.brand_ids
            .lock()
            .expect("brand id cache")
            .insert(key, id);
        Ok(id)
    }

    fn forget_brand_ids(&self) {
        self.brand_ids.lock().expect("brand id cache").clear();
    }

    pub async fn insert_batch(&self, batch: &[ScoredMention]) -> Result<InsertOutcome, StoreError> {
        self.insert_batch_at(batch, Utc::now()).await
    }

    pub async fn insert_batch_at(
        &self,
        batch: &[ScoredMention],
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
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

    /// As the SQLite backend: multi-row inserts, `ON CONFLICT DO NOTHING` for posts stored
    /// before (by this instance or another one at the same moment), links in bulk.
    async fn insert_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
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

    async fn insert_own(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        own: &[ScoredMention],
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut outcome = InsertOutcome::default();
        for chunk in own.chunks(ROWS_PER_INSERT) {
            let mut rows = Vec::with_capacity(chunk.len());
            for sm in chunk {
                let brand = sm.own_by.as_deref().unwrap_or_default();
                rows.push((self.brand_id(tx, brand).await?, sm));
            }
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO own_posts (brand_id, source, external_id, reply_to, author, url, text, created_at, ingested_at) ",
            );
            insert.push_values(&rows, |mut row, (brand_id, sm)| {
                let m = &sm.mention;
                row.push_bind(*brand_id)
                    .push_bind(m.source.clone())
                    .push_bind(m.external_id.clone())
                    .push_bind(m.reply_to.clone())
                    .push_bind(m.author.clone())
                    .push_bind(m.url.clone())
                    .push_bind(m.text.clone())
                    .push_bind(ms(&m.created_at))
                    .push_bind(ms(&now));
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
        tx: &mut Transaction<'_, Postgres>,
        batch: &[ScoredMention],
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut outcome = InsertOutcome::default();
        let ingested_at = ms(&now);
        let mut brand_ids: HashMap<&str, i64> = HashMap::new();
        for sm in batch {
            for brand in &sm.brands {
                if !brand_ids.contains_key(brand.as_str()) {
                    let id = self.brand_id(tx, brand).await?;
                    brand_ids.insert(brand, id);
                }
            }
        }
        let mut stored_ids: HashMap<(&str, &str), Stored> = HashMap::new();
        let mut claimed: std::collections::HashSet<(&str, &str)> = Default::default();
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO mentions (source, external_id, url, author, author_followers, reply_to, text, \
                 lang, lang_origin, created_at, ingested_at, engagement, compound, pos, neu, neg, label, scorer_version) ",
            );
            insert.push_values(chunk, |mut row, sm| {
                let m = &sm.mention;
                let s = sm.sentiment.as_ref();
                let engagement = (!m.engagement.is_empty())
                    .then(|| serde_json::to_string(&m.engagement).expect("counts serialise"));
                row.push_bind(m.source.clone())
                    .push_bind(m.external_id.clone())
                    .push_bind(m.url.clone())
                    .push_bind(m.author.clone())
                    .push_bind(
                        m.author_followers
                            .map(|f| i64::try_from(f).unwrap_or(i64::MAX)),
                    )
                    .push_bind(m.reply_to.clone())
                    .push_bind(m.text.clone())
                    .push_bind(sm.lang.clone())
                    .push_bind(sm.lang_origin.map(|o| o.as_str()))
                    .push_bind(ms(&m.created_at))
                    .push_bind(ingested_at)
                    .push_bind(engagement)
                    .push_unseparated("::jsonb")
                    .push_bind(s.map(|s| s.compound))
                    .push_bind(s.map(|s| s.pos))
                    .push_bind(s.map(|s| s.neu))
                    .push_bind(s.map(|s| s.neg))
                    .push_bind(s.map(|s| s.label.as_str()))
                    .push_bind(sm.scorer_version.clone());
            });
            insert.push(
                " ON CONFLICT (source, external_id) DO NOTHING RETURNING id, source, external_id, created_at, label",
            );
            let rows = insert.build().fetch_all(&mut **tx).await?;
            let mut new: HashMap<(String, String), Stored> = HashMap::with_capacity(rows.len());
            for r in rows {
                new.insert(
                    (r.try_get(1)?, r.try_get(2)?),
                    (r.try_get(0)?, r.try_get(3)?, r.try_get(4)?),
                );
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
            for keys in missing.chunks(ROWS_PER_INSERT) {
                let mut select = QueryBuilder::<Postgres>::new(
                    "SELECT id, source, external_id, created_at, label FROM mentions WHERE (source, external_id) IN (",
                );
                let mut list = select.separated(", ");
                for (source, id) in keys {
                    list.push("(")
                        .push_bind_unseparated(source.to_string())
                        .push_unseparated(", ")
                        .push_bind_unseparated(id.to_string())
                        .push_unseparated(")");
                }
                select.push(")");
                let rows = select.build().fetch_all(&mut **tx).await?;
                let mut found: HashMap<(String, String), Stored> = HashMap::new();
                for r in rows {
                    found.insert(
                        (r.try_get(1)?, r.try_get(2)?),
                        (r.try_get(0)?, r.try_get(3)?, r.try_get(4)?),
                    );
                }
                for key in keys {
                    if let Some(v) = found.get(&(key.0.to_string(), key.1.to_string())) {
                        stored_ids.insert(*key, v.clone());
                    }
                }
            }
        }
        let mut links: Vec<(i64, i64, DateTime<Utc>, Option<String>)> = Vec::new();
        for sm in batch {
            let key = (sm.mention.source.as_str(), sm.mention.external_id.as_str());
            let Some((mention_id, stored_at, label)) = stored_ids.get(&key) else {
                continue;
            };
            for brand in &sm.brands {
                links.push((
                    brand_ids[brand.as_str()],
                    *mention_id,
                    *stored_at,
                    label.clone(),
                ));
            }
        }
        for chunk in links.chunks(ROWS_PER_INSERT * 4) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO mention_brands (brand_id, mention_id, created_at, label) ",
            );
            insert.push_values(chunk, |mut row, (brand, mention, at, label)| {
                row.push_bind(*brand)
                    .push_bind(*mention)
                    .push_bind(*at)
                    .push_bind(label.clone());
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
              AND o.brand_id = mb.brand_id AND o.created_at >= mb.created_at) AS first_reply, m.url, m.text \
             FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             WHERE lower(b.name) = lower($1) AND mb.created_at >= $2 AND mb.created_at < $3 \
             ORDER BY mb.created_at, m.id",
        )
        .bind(brand)
        .bind(ms(&from))
        .bind(ms(&to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ResponseRow {
                    source: r.try_get(0)?,
                    external_id: r.try_get(1)?,
                    url: r.try_get(5)?,
                    text: r.try_get(6)?,
                    label: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    first_reply_at: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn count_mentions(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM mentions")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn mentions_to_rescore(
        &self,
        version: &str,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ScoreRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, text, lang, label FROM mentions \
             WHERE id > $1 AND scorer_version <> $2 AND ($3::timestamptz IS NULL OR created_at >= $3) \
             ORDER BY id LIMIT $4",
        )
        .bind(after_id)
        .bind(version)
        .bind(since.map(|t| ms(&t)))
        .bind(limit)
        .fetch_all(&self.pool)
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

    pub async fn update_scores(
        &self,
        version: &str,
        scores: &[(i64, Option<crate::mention::Sentiment>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, s) in scores {
            sqlx::query("UPDATE mentions SET compound = $1, pos = $2, neu = $3, neg = $4, label = $5, scorer_version = $6 WHERE id = $7")
                .bind(s.map(|s| s.compound))
                .bind(s.map(|s| s.pos))
                .bind(s.map(|s| s.neu))
                .bind(s.map(|s| s.neg))
                .bind(s.map(|s| s.label.as_str()))
                .bind(version)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE mention_brands SET label = $1 WHERE mention_id = $2")
                .bind(s.map(|s| s.label.as_str()))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

// ---- alerts, silences, outbox ----

const ALERT_COLUMNS: &str = "id, brand, fired_at, bucket_at, window_start, window_end, observed, expected, p_value, \
     p_threshold, threshold_rule, window_total, usual_share, severe, worst::text AS worst, state, resolved_at, silenced";

fn alert_from_row(r: &PgRow) -> Result<AlertRecord, sqlx::Error> {
    let worst: String = r.try_get("worst")?;
    Ok(AlertRecord {
        id: r.try_get("id")?,
        brand: r.try_get("brand")?,
        fired_at: time_at(r, "fired_at")?,
        bucket_at: time_at(r, "bucket_at")?,
        window_start: time_at(r, "window_start")?,
        window_end: time_at(r, "window_end")?,
        observed: r.try_get("observed")?,
        expected: r.try_get("expected")?,
        p_value: r.try_get("p_value")?,
        p_threshold: r.try_get("p_threshold")?,
        threshold_rule: r.try_get("threshold_rule")?,
        window_total: r.try_get("window_total")?,
        usual_share: r.try_get("usual_share")?,
        severe: r.try_get("severe")?,
        worst: serde_json::from_str(&worst).unwrap_or_default(),
        state: r.try_get("state")?,
        resolved_at: time_opt(r, "resolved_at")?,
        silenced: r.try_get("silenced")?,
    })
}

const SILENCE_COLUMNS: &str = "id, brand, starts_at, ends_at, reason, created_at";

fn silence_from_row(r: &PgRow) -> Result<Silence, sqlx::Error> {
    Ok(Silence {
        id: r.try_get("id")?,
        brand: r.try_get("brand")?,
        starts_at: time_at(r, "starts_at")?,
        ends_at: time_at(r, "ends_at")?,
        reason: r.try_get("reason")?,
        created_at: time_at(r, "created_at")?,
    })
}

const MESSAGE_COLUMNS: &str = "id, kind, ref_id, brand, message_id, sender, recipients::text AS recipients, subject, \
     message, html, created_at, not_before, next_attempt_at, attempts, state, last_error, sent_at, channel";

fn message_from_row(r: &PgRow) -> Result<OutboxMessage, sqlx::Error> {
    let recipients: String = r.try_get("recipients")?;
    Ok(OutboxMessage {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        ref_id: r.try_get("ref_id")?,
        brand: r.try_get("brand")?,
        message_id: r.try_get("message_id")?,
        sender: r.try_get("sender")?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        subject: r.try_get("subject")?,
        message: r.try_get("message")?,
        html: r.try_get("html")?,
        created_at: time_at(r, "created_at")?,
        not_before: time_at(r, "not_before")?,
        next_attempt_at: time_at(r, "next_attempt_at")?,
        attempts: r.try_get("attempts")?,
        state: r.try_get("state")?,
        last_error: r.try_get("last_error")?,
        sent_at: time_opt(r, "sent_at")?,
        channel: r.try_get("channel")?,
    })
}

async fn insert_message(
    tx: &mut Transaction<'_, Postgres>,
    msg: &NewMessage,
    ref_id: Option<i64>,
) -> Result<i64, StoreError> {
    let created = ms(&msg.created_at);
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (kind, ref_id, brand, message_id, sender, recipients, subject, message, html, created_at, \
         not_before, next_attempt_at, state, channel) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $10, 'pending', $12) RETURNING id",
    )
    .bind(msg.kind)
    .bind(ref_id)
    .bind(&msg.brand)
    .bind(&msg.message_id)
    .bind(&msg.sender)
    .bind(serde_json::to_string(&msg.recipients).expect("addresses serialise"))
    .bind(&msg.subject)
    .bind(&msg.message)
    .bind(&msg.html)
    .bind(created)
    .bind(ms(&msg.not_before))
    .bind(&msg.channel)
    .fetch_one(&mut **tx)
    .await?)
}

impl PgStore {
    pub async fn burst_profile(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<crate::detect::Burst, StoreError> {
        let rows = sqlx::query(
            "SELECT m.author, m.text \
             FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id \
             JOIN brands br ON br.id = mb.brand_id \
             WHERE lower(br.name) = lower($1) AND mb.created_at >= $2 AND mb.created_at < $3 AND m.label = 'negative' \
             LIMIT 20000",
        )
        .bind(brand)
        .bind(ms(&from))
        .bind(ms(&to))
        .fetch_all(&self.pool)
        .await?;
        let posts: Vec<(Option<String>, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(crate::detect::burst_profile(
            posts.iter().map(|(a, t)| (a.as_deref(), t.as_str())),
        ))
    }

    pub async fn late_arrival(
        &self,
        brand: &str,
        ingested_after: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM mentions m WHERE m.ingested_at > $1 AND EXISTS ( \
             SELECT 1 FROM mention_brands mb WHERE mb.mention_id = m.id AND mb.created_at < $3 \
             AND mb.brand_id = (SELECT id FROM brands WHERE lower(name) = lower($2))) LIMIT 1",
        )
        .bind(ms(&ingested_after))
        .bind(brand)
        .bind(ms(&created_before))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn bucket_counts(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: i64,
    ) -> Result<Vec<BucketCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT (floor(extract(epoch FROM mb.created_at))::bigint / $1) * $1 AS b, \
             count(*) FILTER (WHERE mb.label = 'negative'), count(*) \
             FROM mention_brands mb \
             JOIN brands br ON br.id = mb.brand_id \
             WHERE lower(br.name) = lower($2) AND mb.created_at >= $3 AND mb.created_at < $4 \
             GROUP BY b ORDER BY b",
        )
        .bind(bucket)
        .bind(brand)
        .bind(ms(&from))
        .bind(ms(&to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BucketCount {
                    t: r.try_get(0)?,
                    negative: r.try_get::<i64, _>(1)?.max(0) as u64,
                    total: r.try_get::<i64, _>(2)?.max(0) as u64,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn last_alert(&self, brand: &str) -> Result<Option<AlertRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE brand = $1 ORDER BY fired_at DESC, id DESC LIMIT 1"
        )))
        .bind(brand)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(alert_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(alert_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    pub async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE fired_at >= $1 AND fired_at < $2 ORDER BY fired_at, id"
        )))
        .bind(ms(&from))
        .bind(ms(&to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(alert_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn alert_email_states(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, String>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, (SELECT o.state FROM outbox o WHERE o.kind = 'alert' AND o.ref_id = a.id AND o.channel IS NULL ORDER BY o.id DESC LIMIT 1) \
             FROM alerts a WHERE a.fired_at >= $1 AND a.fired_at < $2",
        )
        .bind(ms(&from))
        .bind(ms(&to))
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::new();
        for r in &rows {
            if let Some(state) = r.try_get::<Option<String>, _>(1)? {
                out.insert(r.try_get::<i64, _>(0)?, state);
            }
        }
        Ok(out)
    }

    pub async fn insert_alert<F>(&self, alert: &NewAlert, render: F) -> Result<i64, StoreError>
    where
        F: FnOnce(i64) -> Vec<NewMessage>,
    {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alerts (brand, fired_at, bucket_at, window_start, window_end, observed, expected, p_value, \
             p_threshold, threshold_rule, window_total, usual_share, severe, worst, details, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, 'open') RETURNING id",
        )
        .bind(&alert.brand)
        .bind(ms(&alert.fired_at))
        .bind(ms(&alert.bucket_at))
        .bind(ms(&alert.window_start))
        .bind(ms(&alert.window_end))
        .bind(alert.observed)
        .bind(alert.expected)
        .bind(alert.p_value)
        .bind(alert.p_threshold)
        .bind(&alert.threshold_rule)
        .bind(alert.window_total)
        .bind(alert.usual_share)
        .bind(alert.severe)
        .bind(serde_json::to_string(&alert.worst).expect("ids serialise"))
        .bind(alert.details.to_string())
        .fetch_one(&mut *tx)
        .await?;
        for msg in render(id) {
            insert_message(&mut tx, &msg, Some(id)).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn resolve_alert(
        &self,
        id: i64,
        at: DateTime<Utc>,
        messages: Vec<NewMessage>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE alerts SET state = 'resolved', resolved_at = $1 WHERE id = $2 AND state = 'open'",
        )
        .bind(ms(&at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for msg in messages.into_iter().filter(|_| changed == 1) {
            insert_message(&mut tx, &msg, Some(id)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn enqueue(&self, msg: &NewMessage, ref_id: Option<i64>) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = insert_message(&mut tx, msg, ref_id).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn due_messages(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1 AND not_before <= $1 \
             AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at, id LIMIT $2"
        )))
        .bind(ms(&now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(message_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn next_message_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT min(greatest(next_attempt_at, not_before, coalesce(claimed_until, '-infinity'::timestamptz))) \
             FROM outbox WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn messages(&self, state: Option<&str>) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE $1::text IS NULL OR state = $1 ORDER BY id"
        )))
        .bind(state)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(message_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn claim_message(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE outbox SET claimed_until = $1, claimed_by = $4 WHERE id = $2 AND state = 'pending' AND next_attempt_at <= $3 \
             AND not_before <= $3 AND (claimed_until IS NULL OR claimed_until <= $3)",
        )
        .bind(ms(&(now + lease)))
        .bind(id)
        .bind(ms(&now))
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(n.rows_affected() == 1)
    }

    pub async fn release_claims(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL WHERE claimed_until IS NOT NULL AND claimed_by = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn message(&self, id: i64) -> Result<Option<OutboxMessage>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(message_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    pub async fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = $2")
            .bind(ms(&at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_attempt_failed(
        &self,
        id: i64,
        error: &str,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        match next {
            Some(next) => {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, claimed_until = NULL WHERE id = $3")
                    .bind(error)
                    .bind(ms(&next))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
            }
            None => {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, state = 'failed', claimed_until = NULL WHERE id = $2")
                    .bind(error)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn mark_silenced(&self, msg: &OutboxMessage, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE outbox SET state = 'silenced', last_error = $1 WHERE id = $2")
            .bind(format!("silenced: {reason}"))
            .bind(msg.id)
            .execute(&mut *tx)
            .await?;
        if let (Some(alert), "alert") = (msg.ref_id, msg.kind.as_str()) {
            sqlx::query("UPDATE alerts SET silenced = $1 WHERE id = $2")
                .bind(reason)
                .bind(alert)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_silence(
        &self,
        brand: &str,
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO silences (brand, starts_at, ends_at, reason, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(brand)
        .bind(ms(&starts))
        .bind(ms(&ends))
        .bind(reason)
        .bind(ms(&now))
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > $1 ORDER BY starts_at, id"
        )))
        .bind(ms(&now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(silence_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn remove_silence(&self, id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM silences WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    pub async fn active_silence(
        &self,
        brand: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Silence>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences \
             WHERE (lower(brand) = lower($1) OR brand = '*') AND starts_at <= $2 AND ends_at > $2 \
             ORDER BY ends_at DESC LIMIT 1"
        )))
        .bind(brand)
        .bind(ms(&at))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(silence_from_row)
            .transpose()
            .map_err(StoreError::from)
    }
}

// ---- digests ----

const RUN_COLUMNS: &str = "r.id, r.name, r.scheduled_at, r.period_start, r.period_end, r.trigger, r.state, r.note, \
     r.mentions, r.created_at, \
     (SELECT o.state FROM outbox o WHERE o.kind = 'digest' AND o.ref_id = r.id AND o.channel IS NULL ORDER BY o.id DESC LIMIT 1) AS email_state, \
     (SELECT o.last_error FROM outbox o WHERE o.kind = 'digest' AND o.ref_id = r.id AND o.channel IS NULL ORDER BY o.id DESC LIMIT 1) AS email_error";

fn run_from_row(r: &PgRow) -> Result<DigestRun, sqlx::Error> {
    Ok(DigestRun {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scheduled_at: time_at(r, "scheduled_at")?,
        period_start: time_at(r, "period_start")?,
        period_end: time_at(r, "period_end")?,
        trigger: r.try_get("trigger")?,
        state: r.try_get("state")?,
        note: r.try_get("note")?,
        mentions: r.try_get("mentions")?,
        created_at: time_at(r, "created_at")?,
        email_state: r.try_get("email_state")?,
        email_error: r.try_get("email_error")?,
    })
}

impl PgStore {
    pub async fn record_digest_run(
        &self,
        run: &NewDigestRun,
        messages: Vec<NewMessage>,
    ) -> Result<Option<(i64, Vec<i64>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO digest_runs (name, scheduled_at, period_start, period_end, trigger, state, note, mentions, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (name, scheduled_at) WHERE trigger = 'schedule' DO NOTHING RETURNING id",
        )
        .bind(&run.name)
        .bind(ms(&run.scheduled_at))
        .bind(ms(&run.period_start))
        .bind(ms(&run.period_end))
        .bind(if run.manual { "manual" } else { "schedule" })
        .bind(run.state.as_str())
        .bind(&run.note)
        .bind(run.mentions)
        .bind(ms(&run.created_at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let mut queued = Vec::new();
        if run.state == RunState::Queued {
            for msg in &messages {
                queued.push(insert_message(&mut tx, msg, Some(id)).await?);
            }
        }
        tx.commit().await?;
        Ok(Some((id, queued)))
    }

    pub async fn arm_digest(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        sqlx::query("INSERT INTO digest_schedules (name, armed_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(ms(&now))
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT armed_at FROM digest_schedules WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn last_scheduled_run(&self, name: &str) -> Result<Option<DigestRun>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM digest_runs r WHERE r.name = $1 AND r.trigger = 'schedule' \
             ORDER BY r.scheduled_at DESC LIMIT 1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(run_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    pub async fn digest_runs(&self, limit: i64) -> Result<Vec<DigestRun>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM digest_runs r ORDER BY r.scheduled_at DESC, r.id DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(run_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

// ---- maintenance ----

impl PgStore {
    /// PostgreSQL checks its own pages; what mentiond can check cheaply is that its tables
    /// answer.
    pub async fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query("SELECT 1 FROM mentions LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(Vec::new())
    }

    pub async fn prune_before(
        &self,
        before: DateTime<Utc>,
        batch: i64,
    ) -> Result<Pruned, StoreError> {
        let before = ms(&before);
        let mentions = sqlx::query(
            "DELETE FROM mentions WHERE id IN \
             (SELECT id FROM mentions WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let own = sqlx::query(
            "DELETE FROM own_posts WHERE id IN \
             (SELECT id FROM own_posts WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let polls = sqlx::query(
            "DELETE FROM source_polls WHERE id IN (SELECT id FROM source_polls WHERE at < $1 ORDER BY at LIMIT $2)",
        )
        .bind(before)
        .bind(batch.saturating_mul(10))
        .execute(&self.pool)
        .await?
        .rows_affected();
        let messages = sqlx::query(
            "DELETE FROM outbox WHERE id IN \
             (SELECT id FROM outbox WHERE state != 'pending' AND created_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(Pruned {
            mentions: mentions + own,
            polls,
            messages,
        })
    }
}

// ---- analysts' queries ----

const MENTION_COLUMNS: &str = "m.source, m.external_id, b.name, m.url, m.author, m.text, m.lang, m.created_at, \
     m.compound, m.label, m.pos, m.neu, m.neg, m.author_followers, m.reply_to, m.engagement::text AS engagement, \
     m.lang_origin, m.scorer_version";

fn row_to_mention(row: &PgRow) -> Result<MentionRow, sqlx::Error> {
    let engagement: Option<String> = row.try_get(15)?;
    Ok(MentionRow {
        source: row.try_get(0)?,
        external_id: row.try_get(1)?,
        brand: row.try_get(2)?,
        url: row.try_get(3)?,
        author: row.try_get(4)?,
        text: row.try_get(5)?,
        lang: row.try_get(6)?,
        created_at: format_time(&row.try_get::<DateTime<Utc>, _>(7)?),
        compound: row.try_get(8)?,
        label: row.try_get(9)?,
        pos: row.try_get(10)?,
        neu: row.try_get(11)?,
        neg: row.try_get(12)?,
        author_followers: row.try_get(13)?,
        reply_to: row.try_get(14)?,
        engagement: engagement.and_then(|e| serde_json::from_str(&e).ok()),
        lang_origin: row.try_get(16)?,
        scorer_version: row.try_get(17)?,
    })
}

/// A search as FTS5 reads it (see [`fts_query`]): groups joined by OR, each a list of terms
/// that must all appear. A term is (text, prefix).
fn search_groups(input: &str) -> Result<Vec<Vec<(String, bool)>>, StoreError> {
    let fts = fts_query(input)?;
    let mut groups: Vec<Vec<(String, bool)>> = vec![Vec::new()];
    let mut chars = fts.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut term = String::new();
                while let Some(ch) = chars.next() {
                    if ch == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            term.push('"');
                        } else {
                            break;
                        }
                    } else {
                        term.push(ch);
                    }
                }
                let prefix = chars.peek() == Some(&'*');
                if prefix {
                    chars.next();
                }
                groups.last_mut().expect("a group").push((term, prefix));
            }
            'O' if chars.peek() == Some(&'R') => {
                chars.next();
                groups.push(Vec::new());
            }
            _ => {}
        }
    }
    Ok(groups)
}

/// The words of `text` (letters and digits), as `to_tsquery` may read them quoted.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl MentionQuery {
    fn push_pg_filters(&self, qb: &mut QueryBuilder<Postgres>) -> Result<(), StoreError> {
        if let Some(brand) = &self.brand {
            qb.push(" AND lower(b.name) = lower(")
                .push_bind(brand.clone())
                .push(")");
        }
        if let Some(source) = &self.source {
            qb.push(" AND m.source = ")
                .push_bind(source.to_ascii_lowercase());
        }
        if let Some(since) = &self.since {
            qb.push(" AND mb.created_at >= ").push_bind(ms(since));
        }
        if let Some(until) = &self.until {
            qb.push(" AND mb.created_at < ").push_bind(ms(until));
        }
        match self.label {
            Some(LabelFilter::Is(label)) => {
                qb.push(" AND m.label = ").push_bind(label.as_str());
            }
            Some(LabelFilter::Unscored) => {
                qb.push(" AND m.label IS NULL");
            }
            None => {}
        }
        if let Some(lang) = &self.lang {
            qb.push(" AND m.lang = ")
                .push_bind(lang.to_ascii_lowercase());
        }
        if let Some(search) = &self.search {
            let groups = search_groups(search)?;
            qb.push(" AND (");
            for (i, config) in SEARCH_CONFIGS.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("m.search @@ (");
                for (g, group) in groups.iter().enumerate() {
                    if g > 0 {
                        qb.push(" || ");
                    }
                    qb.push("(");
                    for (t, (term, prefix)) in group.iter().enumerate() {
                        if t > 0 {
                            qb.push(" && ");
                        }
                        if *prefix {
                            // Quoted words only: nothing in the input is read as tsquery syntax.
                            let ws = words(term);
                            let text = ws
                                .iter()
                                .map(|w| format!("'{w}'"))
                                .collect::<Vec<_>>()
                                .join(" <-> ")
                                + ":*";
                            qb.push(format!("to_tsquery('{config}', mentiond_unaccent("))
                                .push_bind(text)
                                .push("))");
                        } else {
                            qb.push(format!(
                                "phraseto_tsquery('{config}', mentiond_search_text("
                            ))
                            .push_bind(term.clone())
                            .push("))");
                        }
                    }
                    qb.push(")");
                }
                qb.push(")");
            }
            qb.push(")");
        }
        Ok(())
    }

    fn build_pg(&self) -> Result<QueryBuilder<Postgres>, StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {MENTION_COLUMNS} FROM mention_brands mb \
             JOIN mentions m ON m.id = mb.mention_id \
             JOIN brands b ON b.id = mb.brand_id WHERE 1 = 1"
        ));
        self.push_pg_filters(&mut qb)?;
        let time = if self.brand.is_some() {
            "mb.created_at"
        } else {
            "m.created_at"
        };
        if self.oldest_first {
            qb.push(format!(
                " ORDER BY {time}, m.id, lower(b.name) COLLATE \"C\""
            ));
        } else {
            qb.push(format!(
                " ORDER BY {time} DESC, m.id DESC, lower(b.name) COLLATE \"C\""
            ));
        }
        if let Some(limit) = self.limit {
            qb.push(" LIMIT ")
                .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        Ok(qb)
    }

    fn series_pg(&self) -> Result<QueryBuilder<Postgres>, StoreError> {
        if self.links_suffice() {
            let mut qb = QueryBuilder::<Postgres>::new(
                "SELECT to_timestamp(floor(extract(epoch FROM mb.created_at) / 900) * 900) AS q, count(*), \
                        count(*) FILTER (WHERE mb.label = 'positive'), \
                        count(*) FILTER (WHERE mb.label = 'neutral'), count(*) FILTER (WHERE mb.label = 'negative') \
                 FROM mention_brands mb JOIN brands b ON b.id = mb.brand_id WHERE 1 = 1",
            );
            if let Some(brand) = &self.brand {
                qb.push(" AND lower(b.name) = lower(")
                    .push_bind(brand.clone())
                    .push(")");
            }
            if let Some(since) = &self.since {
                qb.push(" AND mb.created_at >= ").push_bind(ms(since));
            }
            if let Some(until) = &self.until {
                qb.push(" AND mb.created_at < ").push_bind(ms(until));
            }
            match self.label {
                Some(LabelFilter::Is(label)) => {
                    qb.push(" AND mb.label = ").push_bind(label.as_str());
                }
                Some(LabelFilter::Unscored) => {
                    qb.push(" AND mb.label IS NULL");
                }
                None => {}
            }
            qb.push(" GROUP BY q ORDER BY q");
            return Ok(qb);
        }
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT q, count(*), count(*) FILTER (WHERE label = 'positive'), \
                    count(*) FILTER (WHERE label = 'neutral'), count(*) FILTER (WHERE label = 'negative') \
             FROM (SELECT DISTINCT m.id, m.label AS label, \
                          to_timestamp(floor(extract(epoch FROM mb.created_at) / 900) * 900) AS q \
                   FROM mention_brands mb \
                   JOIN mentions m ON m.id = mb.mention_id \
                   JOIN brands b ON b.id = mb.brand_id WHERE 1 = 1",
        );
        self.push_pg_filters(&mut qb)?;
        qb.push(") AS quarters GROUP BY q ORDER BY q");
        Ok(qb)
    }
}

impl PgStore {
    pub async fn mentions_per_brand_and_source(
        &self,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT b.name, m.source, count(*) FROM mention_brands mb \
             JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             GROUP BY b.name, m.source ORDER BY lower(b.name) COLLATE \"C\", m.source COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn quarter_hour_counts(
        &self,
        query: &MentionQuery,
    ) -> Result<Vec<QuarterCounts>, StoreError> {
        let rows = query.series_pg()?.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let n = |i: usize| -> Result<u64, sqlx::Error> {
                    Ok(r.try_get::<i64, _>(i)?.max(0) as u64)
                };
                Ok(QuarterCounts {
                    start: r.try_get(0)?,
                    total: n(1)?,
                    positive: n(2)?,
                    neutral: n(3)?,
                    negative: n(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn negative_mentions(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(i64, MentionRow)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MENTION_COLUMNS}, m.id \
             FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             WHERE lower(b.name) = lower($1) AND mb.created_at >= $2 AND mb.created_at < $3 AND m.label = 'negative' \
             ORDER BY m.compound, m.id LIMIT $4"
        )))
        .bind(brand)
        .bind(ms(&from))
        .bind(ms(&to))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>(18)?, row_to_mention(r)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn unanswered_complaints(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, MentionRow)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MENTION_COLUMNS}, m.id \
             FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             WHERE lower(b.name) = lower($1) AND mb.created_at >= $2 AND mb.created_at < $3 AND mb.label = 'negative' \
             AND NOT EXISTS (SELECT 1 FROM own_posts o WHERE o.source = m.source AND o.reply_to = m.external_id \
                             AND o.brand_id = mb.brand_id AND o.created_at >= mb.created_at) \
             AND NOT EXISTS (SELECT 1 FROM unanswered_notices n WHERE n.mention_id = m.id AND n.brand = b.name) \
             ORDER BY mb.created_at, m.id LIMIT 5000"
        )))
        .bind(brand)
        .bind(ms(&from))
        .bind(ms(&to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>(18)?, row_to_mention(r)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn notify_unanswered(
        &self,
        mention_id: i64,
        brand: &str,
        now: DateTime<Utc>,
        messages: Vec<NewMessage>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "INSERT INTO unanswered_notices (mention_id, brand, notified_at) VALUES ($1, $2, $3) \
             ON CONFLICT (mention_id, brand) DO NOTHING",
        )
        .bind(mention_id)
        .bind(brand)
        .bind(ms(&now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            for msg in &messages {
                insert_message(&mut tx, msg, None).await?;
            }
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn query_each<F>(&self, query: &MentionQuery, mut each: F) -> Result<u64, StoreError>
    where
        F: FnMut(MentionRow) -> std::io::Result<()>,
    {
        let mut qb = query.build_pg()?;
        let mut rows = qb.build().fetch(&self.pool);
        let mut n = 0;
        while let Some(row) = rows.try_next().await? {
            each(row_to_mention(&row)?).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            n += 1;
        }
        Ok(n)
    }
}

// ---- sources ----

fn month_of(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

impl PgStore {
    pub async fn load_cursor(
        &self,
        source_id: &str,
        query: &str,
    ) -> Result<Option<crate::sources::Cursor>, StoreError> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT cursor FROM source_cursors WHERE source_id = $1 AND query = $2",
        )
        .bind(source_id)
        .bind(query)
        .fetch_optional(&self.pool)
        .await?;
        Ok(text.and_then(|t| match serde_json::from_str(&t) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(source = source_id, query, error = %e, "unreadable cursor, starting this query afresh");
                None
            }
        }))
    }

    pub async fn commit_page(&self, page: &PageCommit<'_>) -> Result<InsertOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = async {
            if let Some(lease) = &page.lease {
                let held = sqlx::query(
                    "UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3",
                )
                .bind(ms(&lease.until))
                .bind(lease.name)
                .bind(lease.holder)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if held == 0 {
                    return Err(StoreError::LeaseLost {
                        name: lease.name.to_string(),
                    });
                }
            }
            let outcome = self.insert_in(&mut tx, page.mentions, page.at).await?;
            let at = ms(&page.at);
            let cursor = serde_json::to_string(page.cursor).expect("a cursor serialises");
            sqlx::query(
                "INSERT INTO source_cursors (source_id, query, cursor, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (source_id, query) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .bind(page.source_id)
            .bind(page.query)
            .bind(cursor)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO source_polls (source_id, query, at, fetched, stored, duplicates, unmatched, skipped) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(page.source_id)
            .bind(page.query)
            .bind(at)
            .bind(page.fetched as i64)
            .bind(outcome.stored as i64)
            .bind(outcome.duplicates as i64)
            .bind(page.unmatched as i64)
            .bind(page.skipped as i64)
            .execute(&mut *tx)
            .await?;
            if page.billed > 0 {
                sqlx::query(
                    "INSERT INTO source_usage (source_id, month, posts) VALUES ($1, $2, $3) \
                     ON CONFLICT (source_id, month) DO UPDATE SET posts = source_usage.posts + excluded.posts",
                )
                .bind(page.source_id)
                .bind(month_of(&page.at))
                .bind(page.billed as i64)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, StoreError>(outcome)
        }
        .await;
        let committed = match result {
            Ok(outcome) => tx.commit().await.map(|_| outcome).map_err(StoreError::from),
            Err(e) => Err(e),
        };
        if committed.is_err() {
            self.forget_brand_ids();
        }
        committed
    }

    /// As the SQLite backend; the upsert locks the lease's row, so of two instances taking an
    /// expired lease at once exactly one gets it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        period: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(ms(&(now + period)))
        .bind(ms(&now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn release_leases(&self, holder: Option<&str>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM leases WHERE $1::text IS NULL OR holder = $1")
                .bind(holder)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn leases(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT name, holder, expires_at FROM leases ORDER BY name COLLATE \"C\"")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRecord {
                    name: r.try_get("name")?,
                    holder: r.try_get("holder")?,
                    expires_at: time_at(r, "expires_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn log_poll_error(
        &self,
        source_id: &str,
        query: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO source_polls (source_id, query, at, error) VALUES ($1, $2, $3, $4)",
        )
        .bind(source_id)
        .bind(query)
        .bind(ms(&at))
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn billed_in_month(
        &self,
        source_id: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT posts FROM source_usage WHERE source_id = $1 AND month = $2",
        )
        .bind(source_id)
        .bind(month_of(&at))
        .fetch_optional(&self.pool)
        .await?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    pub async fn load_source_status(
        &self,
        source_id: &str,
        query: &str,
    ) -> Result<Option<SourceStatus>, StoreError> {
        let rows = self.status_rows(Some((source_id, query)), None).await?;
        Ok(rows.into_iter().next())
    }

    pub async fn save_source_status(&self, s: &SourceStatus) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO source_status (source_id, query, platform, state, last_poll_at, last_success_at, last_error, \
             last_error_at, consecutive_failures, next_poll_at, rate_remaining, rate_reset_at, newest_post_at, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (source_id, query) DO UPDATE SET platform = excluded.platform, state = excluded.state, \
             last_poll_at = excluded.last_poll_at, last_success_at = excluded.last_success_at, \
             last_error = excluded.last_error, last_error_at = excluded.last_error_at, \
             consecutive_failures = excluded.consecutive_failures, next_poll_at = excluded.next_poll_at, \
             rate_remaining = excluded.rate_remaining, rate_reset_at = excluded.rate_reset_at, \
             newest_post_at = excluded.newest_post_at, note = excluded.note",
        )
        .bind(&s.source_id)
        .bind(&s.query)
        .bind(&s.platform)
        .bind(&s.state)
        .bind(parse_opt(&s.last_poll_at))
        .bind(parse_opt(&s.last_success_at))
        .bind(&s.last_error)
        .bind(parse_opt(&s.last_error_at))
        .bind(s.consecutive_failures)
        .bind(parse_opt(&s.next_poll_at))
        .bind(s.rate_remaining)
        .bind(parse_opt(&s.rate_reset_at))
        .bind(parse_opt(&s.newest_post_at))
        .bind(&s.note)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn source_statuses(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<SourceStatus>, StoreError> {
        self.status_rows(None, Some(now)).await
    }

    async fn status_rows(
        &self,
        only: Option<(&str, &str)>,
        now: Option<DateTime<Utc>>,
    ) -> Result<Vec<SourceStatus>, StoreError> {
        let now = now.unwrap_or_else(Utc::now);
        let hour = ms(&(now - chrono::Duration::hours(1)));
        let day = ms(&(now - chrono::Duration::days(1)));
        let rows = sqlx::query(
            "SELECT s.source_id, s.query, s.platform, s.state, s.last_poll_at, s.last_success_at, s.last_error, \
             s.last_error_at, s.consecutive_failures, s.next_poll_at, s.rate_remaining, s.rate_reset_at, \
             s.newest_post_at, s.note, \
             (SELECT coalesce(sum(stored), 0)::bigint FROM source_polls p WHERE p.source_id = s.source_id AND p.query = s.query AND p.at >= $1) AS stored_last_hour, \
             (SELECT coalesce(sum(stored), 0)::bigint FROM source_polls p WHERE p.source_id = s.source_id AND p.query = s.query AND p.at >= $2) AS stored_last_day \
             FROM source_status s \
             WHERE ($3::text IS NULL OR (s.source_id = $3 AND s.query = $4)) \
             ORDER BY s.source_id COLLATE \"C\", s.query COLLATE \"C\"",
        )
        .bind(hour)
        .bind(day)
        .bind(only.map(|o| o.0))
        .bind(only.map(|o| o.1))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceStatus {
                    source_id: r.try_get("source_id")?,
                    query: r.try_get("query")?,
                    platform: r.try_get("platform")?,
                    state: r.try_get("state")?,
                    last_poll_at: time_opt(r, "last_poll_at")?,
                    last_success_at: time_opt(r, "last_success_at")?,
                    last_error: r.try_get("last_error")?,
                    last_error_at: time_opt(r, "last_error_at")?,
                    consecutive_failures: r.try_get("consecutive_failures")?,
                    next_poll_at: time_opt(r, "next_poll_at")?,
                    rate_remaining: r.try_get("rate_remaining")?,
                    rate_reset_at: time_opt(r, "rate_reset_at")?,
                    newest_post_at: time_opt(r, "newest_post_at")?,
                    note: r.try_get("note")?,
                    stored_last_hour: r.try_get("stored_last_hour")?,
                    stored_last_day: r.try_get("stored_last_day")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn source_health(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SourceHealth>, StoreError> {
        let rows = sqlx::query(
            "SELECT source_id, query, count(*), count(*) FILTER (WHERE error IS NOT NULL), \
             coalesce(sum(fetched), 0)::bigint, coalesce(sum(stored), 0)::bigint, \
             (SELECT error FROM source_polls q WHERE q.source_id = p.source_id AND q.query = p.query AND q.error IS NOT NULL \
              AND q.at >= $1 AND q.at < $2 ORDER BY q.at DESC LIMIT 1) \
             FROM source_polls p WHERE at >= $1 AND at < $2 GROUP BY source_id, query ORDER BY source_id COLLATE \"C\", query COLLATE \"C\"",
        )
        .bind(ms(&from))
        .bind(ms(&to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceHealth {
                    source_id: r.try_get(0)?,
                    query: r.try_get(1)?,
                    polls: r.try_get(2)?,
                    errors: r.try_get(3)?,
                    fetched: r.try_get(4)?,
                    stored: r.try_get(5)?,
                    last_error: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_become_groups_of_terms() {
        let g = search_groups(r#"refund* "very late" OR rimborso"#).unwrap();
        assert_eq!(
            g,
            vec![
                vec![
                    ("refund".to_string(), true),
                    ("very late".to_string(), false)
                ],
                vec![("rimborso".to_string(), false)],
            ]
        );
        assert!(
            search_groups("acme OR").is_err(),
            "a trailing OR is refused as on SQLite"
        );
        assert_eq!(words("it's-o'clock"), vec!["it", "s", "o", "clock"]);
    }
}
