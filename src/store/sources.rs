//! Persistence of the sources' polling state: cursors (advanced atomically with the page they
//! stored), health, the poll log and billed usage.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{InsertOutcome, SqliteStore, StoreError};
use crate::mention::{ScoredMention, format_time};
use crate::sources::Cursor;

/// A lease the writer holds: the write commits only if it still holds it, and renews it until
/// `until`. A fenced write from an instance that lost its lease (it stalled, another instance
/// took over) changes nothing.
#[derive(Debug, Clone, Copy)]
pub struct LeaseClaim<'a> {
    pub name: &'a str,
    pub holder: &'a str,
    pub until: DateTime<Utc>,
}

/// A lease as stored (`status`, tests).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaseRecord {
    pub name: String,
    pub holder: String,
    pub expires_at: String,
}

/// Everything one page changes, written in one transaction.
#[derive(Debug)]
pub struct PageCommit<'a> {
    pub source_id: &'a str,
    pub query: &'a str,
    pub cursor: &'a Cursor,
    pub mentions: &'a [ScoredMention],
    pub fetched: u64,
    pub unmatched: u64,
    pub skipped: u64,
    /// Posts billed for this page (X), counted against the month of `at`.
    pub billed: u64,
    pub at: DateTime<Utc>,
    /// When set, the page commits only while this lease is held (several instances).
    pub lease: Option<LeaseClaim<'a>>,
}

/// Health of one (source, query).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    pub source_id: String,
    pub query: String,
    pub platform: String,
    /// `ok`, `failing`, `rate_limited`, `auth_failed` or `budget`.
    pub state: String,
    pub last_poll_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub consecutive_failures: i64,
    pub next_poll_at: Option<String>,
    pub rate_remaining: Option<f64>,
    pub rate_reset_at: Option<String>,
    pub newest_post_at: Option<String>,
    pub note: Option<String>,
    /// Filled by [`Store::source_statuses`]: mentions stored from this query recently.
    pub stored_last_hour: i64,
    pub stored_last_day: i64,
}

impl SourceStatus {
    pub fn new(source_id: &str, query: &str, platform: &str) -> SourceStatus {
        SourceStatus {
            source_id: source_id.into(),
            query: query.into(),
            platform: platform.into(),
            state: "ok".into(),
            last_poll_at: None,
            last_success_at: None,
            last_error: None,
            last_error_at: None,
            consecutive_failures: 0,
            next_poll_at: None,
            rate_remaining: None,
            rate_reset_at: None,
            newest_post_at: None,
            note: None,
            stored_last_hour: 0,
            stored_last_day: 0,
        }
    }
}

/// A failed or empty period of a source, for the digests' health section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceHealth {
    pub source_id: String,
    pub query: String,
    pub polls: i64,
    pub errors: i64,
    pub fetched: i64,
    pub stored: i64,
    pub last_error: Option<String>,
}

fn month_of(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

impl SqliteStore {
    pub async fn load_cursor(
        &self,
        source_id: &str,
        query: &str,
    ) -> Result<Option<Cursor>, StoreError> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT cursor FROM source_cursors WHERE source_id = ? AND query = ?",
        )
        .bind(source_id)
        .bind(query)
        .fetch_optional(&self.reader)
        .await?;
        Ok(text.and_then(|t| match serde_json::from_str(&t) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(source = source_id, query, error = %e, "unreadable cursor, starting this query afresh");
                None
            }
        }))
    }

    /// Stores a page's mentions, advances the cursor, logs the page and counts billed posts,
    /// all or nothing.
    pub async fn commit_page(&self, page: &PageCommit<'_>) -> Result<InsertOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = async {
            if let Some(lease) = &page.lease {
                let held = sqlx::query(
                    "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
                )
                .bind(format_time(&lease.until))
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
            let at = format_time(&page.at);
            let cursor = serde_json::to_string(page.cursor).expect("a cursor serialises");
            sqlx::query(
                "INSERT INTO source_cursors (source_id, query, cursor, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (source_id, query) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .bind(page.source_id)
            .bind(page.query)
            .bind(cursor)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO source_polls (source_id, query, at, fetched, stored, duplicates, unmatched, skipped) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(page.source_id)
            .bind(page.query)
            .bind(&at)
            .bind(page.fetched as i64)
            .bind(outcome.stored as i64)
            .bind(outcome.duplicates as i64)
            .bind(page.unmatched as i64)
            .bind(page.skipped as i64)
            .execute(&mut *tx)
            .await?;
            if page.billed > 0 {
                sqlx::query(
                    "INSERT INTO source_usage (source_id, month, posts) VALUES (?, ?, ?) \
                     ON CONFLICT (source_id, month) DO UPDATE SET posts = posts + excluded.posts",
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
        // Brand ids cached during a transaction that did not commit may be reused by others.
        let committed = match result {
            Ok(outcome) => tx.commit().await.map(|_| outcome).map_err(StoreError::from),
            Err(e) => Err(e),
        };
        if committed.is_err() {
            self.forget_brand_ids();
        }
        committed
    }

    /// Takes or renews the lease `name` for `holder` until `now + period`: true when it is
    /// `holder`'s now, false when another instance holds it and it has not expired.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        period: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
        )
        .bind(name)
        .bind(holder)
        .bind(format_time(&(now + period)))
        .bind(format_time(&now))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Gives up the leases of `holder` (every lease when `None`), so that others take over at
    /// once instead of after the period.
    pub async fn release_leases(&self, holder: Option<&str>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM leases WHERE ?1 IS NULL OR holder = ?1")
                .bind(holder)
                .execute(&self.writer)
                .await?
                .rows_affected(),
        )
    }

    /// Every lease, by name.
    pub async fn leases(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, holder, expires_at FROM leases ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRecord {
                    name: r.try_get(0)?,
                    holder: r.try_get(1)?,
                    expires_at: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Logs a failed attempt (for digests and `status`).
    pub async fn log_poll_error(
        &self,
        source_id: &str,
        query: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO source_polls (source_id, query, at, error) VALUES (?, ?, ?, ?)")
            .bind(source_id)
            .bind(query)
            .bind(format_time(&at))
            .bind(error)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn billed_in_month(
        &self,
        source_id: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT posts FROM source_usage WHERE source_id = ? AND month = ?")
                .bind(source_id)
                .bind(month_of(&at))
                .fetch_optional(&self.reader)
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        .bind(&s.last_poll_at)
        .bind(&s.last_success_at)
        .bind(&s.last_error)
        .bind(&s.last_error_at)
        .bind(s.consecutive_failures)
        .bind(&s.next_poll_at)
        .bind(s.rate_remaining)
        .bind(&s.rate_reset_at)
        .bind(&s.newest_post_at)
        .bind(&s.note)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Every (source, query) ever polled, with the mentions stored in the hour and the day
    /// before `now`.
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
        let hour = format_time(&(now - chrono::Duration::hours(1)));
        let day = format_time(&(now - chrono::Duration::days(1)));
        let mut sql = String::from(
            "SELECT s.source_id, s.query, s.platform, s.state, s.last_poll_at, s.last_success_at, s.last_error, \
             s.last_error_at, s.consecutive_failures, s.next_poll_at, s.rate_remaining, s.rate_reset_at, \
             s.newest_post_at, s.note, \
             (SELECT coalesce(sum(stored), 0) FROM source_polls p WHERE p.source_id = s.source_id AND p.query = s.query AND p.at >= ?1), \
             (SELECT coalesce(sum(stored), 0) FROM source_polls p WHERE p.source_id = s.source_id AND p.query = s.query AND p.at >= ?2) \
             FROM source_status s",
        );
        if only.is_some() {
            sql.push_str(" WHERE s.source_id = ?3 AND s.query = ?4");
        }
        sql.push_str(" ORDER BY s.source_id, s.query");
        // The text is built from fixed fragments only; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hour).bind(day);
        if let Some((source, query)) = only {
            q = q.bind(source).bind(query);
        }
        let rows = q.fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(SourceStatus {
                    source_id: r.try_get(0)?,
                    query: r.try_get(1)?,
                    platform: r.try_get(2)?,
                    state: r.try_get(3)?,
                    last_poll_at: r.try_get(4)?,
                    last_success_at: r.try_get(5)?,
                    last_error: r.try_get(6)?,
                    last_error_at: r.try_get(7)?,
                    consecutive_failures: r.try_get(8)?,
                    next_poll_at: r.try_get(9)?,
                    rate_remaining: r.try_get(10)?,
                    rate_reset_at: r.try_get(11)?,
                    newest_post_at: r.try_get(12)?,
                    note: r.try_get(13)?,
                    stored_last_hour: r.try_get(14)?,
                    stored_last_day: r.try_get(15)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Per (source, query): polls, failures and posts between `from` and `to`.
    pub async fn source_health(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SourceHealth>, StoreError> {
        let rows = sqlx::query(
            "SELECT source_id, query, count(*), sum(error IS NOT NULL), coalesce(sum(fetched), 0), coalesce(sum(stored), 0), \
             (SELECT error FROM source_polls q WHERE q.source_id = p.source_id AND q.query = p.query AND q.error IS NOT NULL \
              AND q.at >= ?1 AND q.at < ?2 ORDER BY q.at DESC LIMIT 1) \
             FROM source_polls p WHERE at >= ?1 AND at < ?2 GROUP BY source_id, query ORDER BY source_id, query",
        )
        .bind(format_time(&from))
        .bind(format_time(&to))
        .fetch_all(&self.reader)
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
