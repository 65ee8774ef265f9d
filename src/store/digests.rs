//! Persistence of digest runs. A run and its e-mail are written in one transaction, and a
//! scheduled run is unique per (digest, run time): whatever restarts happen, a digest is decided
//! once.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::alerts::insert_message;
use super::{NewMessage, SqliteStore, StoreError};
use crate::mention::format_time;

/// What became of a digest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Its e-mail is in the outbox.
    Queued,
    /// Too late to be useful (the daemon was down for more than a period).
    Skipped,
    /// Nothing to report and the digest has `skip_empty`.
    Empty,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Skipped => "skipped",
            RunState::Empty => "empty",
        }
    }
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewDigestRun {
    pub name: String,
    pub scheduled_at: DateTime<Utc>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// A scheduled run is unique per (name, scheduled_at); a manual one (`digest --send`) is not.
    pub manual: bool,
    pub state: RunState,
    pub note: Option<String>,
    pub mentions: i64,
    pub created_at: DateTime<Utc>,
}

/// A run as stored, with the state of its e-mail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestRun {
    pub id: i64,
    pub name: String,
    pub scheduled_at: String,
    pub period_start: String,
    pub period_end: String,
    pub trigger: String,
    pub state: String,
    pub note: Option<String>,
    pub mentions: i64,
    pub created_at: String,
    /// `pending`, `sent`, `failed`; `None` when no e-mail was queued.
    pub email_state: Option<String>,
    pub email_error: Option<String>,
}

const RUN_COLUMNS: &str = "r.id, r.name, r.scheduled_at, r.period_start, r.period_end, r.trigger, r.state, r.note, \
     r.mentions, r.created_at, \
     (SELECT o.state FROM outbox o WHERE o.kind = 'digest' AND o.ref_id = r.id AND o.channel IS NULL ORDER BY o.id DESC LIMIT 1), \
     (SELECT o.last_error FROM outbox o WHERE o.kind = 'digest' AND o.ref_id = r.id AND o.channel IS NULL ORDER BY o.id DESC LIMIT 1)";

fn run_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<DigestRun, sqlx::Error> {
    Ok(DigestRun {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        scheduled_at: r.try_get(2)?,
        period_start: r.try_get(3)?,
        period_end: r.try_get(4)?,
        trigger: r.try_get(5)?,
        state: r.try_get(6)?,
        note: r.try_get(7)?,
        mentions: r.try_get(8)?,
        created_at: r.try_get(9)?,
        email_state: r.try_get(10)?,
        email_error: r.try_get(11)?,
    })
}

impl SqliteStore {
    /// Records a run and its e-mail (for a queued run) in one transaction: (run id, outbox
    /// id). Returns `None`, writing nothing, when this scheduled run is already recorded
    /// (another instance, or this one before a restart, decided it).
    pub async fn record_digest_run(
        &self,
        run: &NewDigestRun,
        messages: Vec<NewMessage>,
    ) -> Result<Option<(i64, Vec<i64>)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO digest_runs (name, scheduled_at, period_start, period_end, trigger, state, note, mentions, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name, scheduled_at) WHERE trigger = 'schedule' DO NOTHING RETURNING id",
        )
        .bind(&run.name)
        .bind(format_time(&run.scheduled_at))
        .bind(format_time(&run.period_start))
        .bind(format_time(&run.period_end))
        .bind(if run.manual { "manual" } else { "schedule" })
        .bind(run.state.as_str())
        .bind(&run.note)
        .bind(run.mentions)
        .bind(format_time(&run.created_at))
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

    /// When the daemon first scheduled the digest `name` (now, if this is the first time).
    pub async fn arm_digest(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        sqlx::query("INSERT INTO digest_schedules (name, armed_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(format_time(&now))
            .execute(&self.writer)
            .await?;
        let at: String = sqlx::query_scalar("SELECT armed_at FROM digest_schedules WHERE name = ?")
            .bind(name)
            .fetch_one(&self.writer)
            .await?;
        Ok(DateTime::parse_from_rfc3339(&at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now))
    }

    /// The latest scheduled run of a digest.
    pub async fn last_scheduled_run(&self, name: &str) -> Result<Option<DigestRun>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM digest_runs r WHERE r.name = ? AND r.trigger = 'schedule' \
             ORDER BY r.scheduled_at DESC LIMIT 1"
        )))
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref()
            .map(run_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    /// The most recent runs of every digest, newest first.
    pub async fn digest_runs(&self, limit: i64) -> Result<Vec<DigestRun>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM digest_runs r ORDER BY r.scheduled_at DESC, r.id DESC LIMIT ?"
        )))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(run_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
