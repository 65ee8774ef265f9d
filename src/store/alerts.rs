//! Persistence of alerts, silences and the outbox. An alert and its e-mail are written in one
//! transaction; the outbox row carries its delivery state, attempts and next attempt time.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{SqliteStore, StoreError};
use crate::mention::format_time;

/// Counts of one brand's mentions in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketCount {
    /// Bucket start, seconds since the epoch.
    pub t: i64,
    pub negative: u64,
    pub total: u64,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub brand: String,
    pub fired_at: String,
    pub bucket_at: String,
    pub window_start: String,
    pub window_end: String,
    pub observed: f64,
    pub expected: f64,
    pub p_value: f64,
    pub p_threshold: f64,
    pub threshold_rule: String,
    pub window_total: Option<f64>,
    pub usual_share: Option<f64>,
    pub severe: bool,
    pub worst: Vec<i64>,
    pub state: String,
    pub resolved_at: Option<String>,
    pub silenced: Option<String>,
}

/// A new alert to store.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub brand: String,
    pub fired_at: DateTime<Utc>,
    pub bucket_at: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub observed: f64,
    pub expected: f64,
    pub p_value: f64,
    pub p_threshold: f64,
    pub threshold_rule: String,
    pub window_total: Option<f64>,
    pub usual_share: Option<f64>,
    pub severe: bool,
    pub worst: Vec<i64>,
    pub details: serde_json::Value,
}

/// An e-mail waiting in (or gone through) the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub kind: String,
    pub ref_id: Option<i64>,
    pub brand: Option<String>,
    pub message_id: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub message: Vec<u8>,
    pub html: Option<String>,
    pub created_at: String,
    pub not_before: String,
    pub next_attempt_at: String,
    pub attempts: i64,
    pub state: String,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    /// The `[[channels]]` entry a chat or webhook message goes to; `None` for an e-mail.
    pub channel: Option<String>,
}

/// A new e-mail (or chat/webhook message) for the outbox.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: &'static str,
    pub brand: Option<String>,
    pub message_id: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub message: Vec<u8>,
    pub html: Option<String>,
    pub created_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    /// A chat or webhook channel's name: `message` is then the JSON body to POST.
    pub channel: Option<String>,
}

/// A silence as `mentiond silence --list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub brand: String,
    pub starts_at: String,
    pub ends_at: String,
    pub reason: String,
    pub created_at: String,
}

fn alert_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<AlertRecord, sqlx::Error> {
    let worst: String = r.try_get("worst")?;
    Ok(AlertRecord {
        id: r.try_get("id")?,
        brand: r.try_get("brand")?,
        fired_at: r.try_get("fired_at")?,
        bucket_at: r.try_get("bucket_at")?,
        window_start: r.try_get("window_start")?,
        window_end: r.try_get("window_end")?,
        observed: r.try_get("observed")?,
        expected: r.try_get("expected")?,
        p_value: r.try_get("p_value")?,
        p_threshold: r.try_get("p_threshold")?,
        threshold_rule: r.try_get("threshold_rule")?,
        window_total: r.try_get("window_total")?,
        usual_share: r.try_get("usual_share")?,
        severe: r.try_get::<i64, _>("severe")? != 0,
        worst: serde_json::from_str(&worst).unwrap_or_default(),
        state: r.try_get("state")?,
        resolved_at: r.try_get("resolved_at")?,
        silenced: r.try_get("silenced")?,
    })
}

/// A `silences` row selected as `id, brand, starts_at, ends_at, reason, created_at`.
fn silence_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Silence, sqlx::Error> {
    Ok(Silence {
        id: r.try_get(0)?,
        brand: r.try_get(1)?,
        starts_at: r.try_get(2)?,
        ends_at: r.try_get(3)?,
        reason: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

fn message_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<OutboxMessage, sqlx::Error> {
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
        created_at: r.try_get("created_at")?,
        not_before: r.try_get("not_before")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        attempts: r.try_get("attempts")?,
        state: r.try_get("state")?,
        last_error: r.try_get("last_error")?,
        sent_at: r.try_get("sent_at")?,
        channel: r.try_get("channel")?,
    })
}

const ALERT_COLUMNS: &str = "id, brand, fired_at, bucket_at, window_start, window_end, observed, expected, p_value, \
     p_threshold, threshold_rule, window_total, usual_share, severe, worst, state, resolved_at, silenced";

// The detector's and the sender's queries, run every minute or so; their plans are checked in
// `store/plans.rs`.
pub(super) const BURST_PROFILE_SQL: &str = "SELECT m.author, m.text \
     FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id \
     JOIN brands br ON br.id = mb.brand_id \
     WHERE br.name = ? AND mb.created_at >= ? AND mb.created_at < ? AND m.label = 'negative' \
     LIMIT 20000";
/// From the few mentions stored since, never from the brand's whole history: as a join the
/// planner would rather walk the brand's mentions.
pub(super) const LATE_ARRIVAL_SQL: &str = "SELECT 1 FROM mentions m WHERE m.ingested_at > ?1 AND EXISTS ( \
     SELECT 1 FROM mention_brands mb WHERE mb.mention_id = m.id AND mb.created_at < ?3 \
     AND mb.brand_id = (SELECT id FROM brands WHERE name = ?2)) LIMIT 1";
pub(super) const BUCKET_COUNTS_SQL: &str = "SELECT (CAST(strftime('%s', mb.created_at) AS INTEGER) / ?1) * ?1 AS b, \
     coalesce(sum(mb.label = 'negative'), 0), count(*) \
     FROM mention_brands mb \
     JOIN brands br ON br.id = mb.brand_id \
     WHERE br.name = ?2 AND mb.created_at >= ?3 AND mb.created_at < ?4 \
     GROUP BY b ORDER BY b";
pub(super) const DUE_MESSAGES_SQL: &str = "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 AND not_before <= ?1 \
     AND (claimed_until IS NULL OR claimed_until <= ?1) ORDER BY next_attempt_at, id LIMIT ?2";

impl SqliteStore {
    /// Who wrote the negative mentions of `brand` published in [from, to): the burst
    /// filter's input (at most 20,000 mentions are read).
    pub async fn burst_profile(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<crate::detect::Burst, StoreError> {
        let rows = sqlx::query(BURST_PROFILE_SQL)
            .bind(brand)
            .bind(format_time(&from))
            .bind(format_time(&to))
            .fetch_all(&self.reader)
            .await?;
        let posts: Vec<(Option<String>, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(crate::detect::burst_profile(
            posts.iter().map(|(a, t)| (a.as_deref(), t.as_str())),
        ))
    }

    /// Whether a mention of `brand` published before `created_before` was stored after
    /// `ingested_after`: a late arrival the detector's state has not seen.
    pub async fn late_arrival(
        &self,
        brand: &str,
        ingested_after: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(LATE_ARRIVAL_SQL)
            .bind(format_time(&ingested_after))
            .bind(brand)
            .bind(format_time(&created_before))
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    /// Negative and total mentions of `brand` per bucket of `bucket` seconds, for buckets
    /// starting in [from, to). Buckets without mentions are absent.
    pub async fn bucket_counts(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: i64,
    ) -> Result<Vec<BucketCount>, StoreError> {
        let rows = sqlx::query(BUCKET_COUNTS_SQL)
            .bind(bucket)
            .bind(brand)
            .bind(format_time(&from))
            .bind(format_time(&to))
            .fetch_all(&self.reader)
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

    /// The most recent alert of a brand.
    pub async fn last_alert(&self, brand: &str) -> Result<Option<AlertRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE brand = ? ORDER BY fired_at DESC, id DESC LIMIT 1"
        )))
        .bind(brand)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref()
            .map(alert_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref()
            .map(alert_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    /// Alerts fired in [from, to), oldest first.
    pub async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE fired_at >= ? AND fired_at < ? ORDER BY fired_at, id"
        )))
        .bind(format_time(&from))
        .bind(format_time(&to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(alert_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// For the alerts fired in [from, to): the state of each one's e-mail (`sent`, `pending`,
    /// `failed`, `silenced`), by alert id.
    pub async fn alert_email_states(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<i64, String>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, (SELECT o.state FROM outbox o WHERE o.kind = 'alert' AND o.ref_id = a.id AND o.channel IS NULL ORDER BY o.id DESC LIMIT 1) \
             FROM alerts a WHERE a.fired_at >= ? AND a.fired_at < ?",
        )
        .bind(format_time(&from))
        .bind(format_time(&to))
        .fetch_all(&self.reader)
        .await?;
        let mut out = std::collections::HashMap::new();
        for r in &rows {
            if let Some(state) = r.try_get::<Option<String>, _>(1)? {
                out.insert(r.try_get::<i64, _>(0)?, state);
            }
        }
        Ok(out)
    }

    /// Stores an alert and its e-mail in one transaction; returns the alert's id. The message is
    /// built by `render` once the id is known (it appears in the e-mail and its Message-ID).
    pub async fn insert_alert<F>(&self, alert: &NewAlert, render: F) -> Result<i64, StoreError>
    where
        F: FnOnce(i64) -> Vec<NewMessage>,
    {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alerts (brand, fired_at, bucket_at, window_start, window_end, observed, expected, p_value, \
             p_threshold, threshold_rule, window_total, usual_share, severe, worst, details, state) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') RETURNING id",
        )
        .bind(&alert.brand)
        .bind(format_time(&alert.fired_at))
        .bind(format_time(&alert.bucket_at))
        .bind(format_time(&alert.window_start))
        .bind(format_time(&alert.window_end))
        .bind(alert.observed)
        .bind(alert.expected)
        .bind(alert.p_value)
        .bind(alert.p_threshold)
        .bind(&alert.threshold_rule)
        .bind(alert.window_total)
        .bind(alert.usual_share)
        .bind(alert.severe as i64)
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

    /// Marks an alert resolved, with its "back to normal" e-mail if any, in one transaction.
    pub async fn resolve_alert(
        &self,
        id: i64,
        at: DateTime<Utc>,
        messages: Vec<NewMessage>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE id = ? AND state = 'open'",
        )
        .bind(format_time(&at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Resolved already (by another instance): its "back to normal" went with that.
        for msg in messages.into_iter().filter(|_| changed == 1) {
            insert_message(&mut tx, &msg, Some(id)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues a message that belongs to no alert (a digest), in its own transaction.
    pub async fn enqueue(&self, msg: &NewMessage, ref_id: Option<i64>) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = insert_message(&mut tx, msg, ref_id).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Pending messages whose time has come, oldest first.
    pub async fn due_messages(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let now = format_time(&now);
        let rows = sqlx::query(DUE_MESSAGES_SQL)
            .bind(&now)
            .bind(limit)
            .fetch_all(&self.writer)
            .await?;
        rows.iter()
            .map(message_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// When the next pending message is due (to sleep until then).
    pub async fn next_message_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<String> = sqlx::query_scalar(
            "SELECT min(max(next_attempt_at, not_before, coalesce(claimed_until, ''))) FROM outbox WHERE state = 'pending'",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    pub async fn messages(&self, state: Option<&str>) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE ?1 IS NULL OR state = ?1 ORDER BY id")
            .bind(state)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(message_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Takes a due message for delivery for `lease`, on behalf of `owner` (`daemon`, `cli`), so
    /// that no other sender delivers it meanwhile. False when it is no longer pending, due and
    /// free. A sender that dies mid-delivery leaves the message to whoever comes after the
    /// lease, or to the daemon's next start for the daemon's own claims
    /// ([`Store::release_claims`]).
    pub async fn claim_message(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let now_s = format_time(&now);
        let n = sqlx::query(
            "UPDATE outbox SET claimed_until = ?1, claimed_by = ?4 WHERE id = ?2 AND state = 'pending' AND next_attempt_at <= ?3 \
             AND not_before <= ?3 AND (claimed_until IS NULL OR claimed_until <= ?3)",
        )
        .bind(format_time(&(now + lease)))
        .bind(id)
        .bind(&now_s)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(n.rows_affected() == 1)
    }

    /// Frees the claims of `owner`: the daemon calls it when it starts, since only one daemon
    /// runs on a database and the claims of one that died are void. (A `digest --send` running
    /// at that moment keeps its claim.)
    pub async fn release_claims(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL WHERE claimed_until IS NOT NULL AND claimed_by = ?",
        )
        .bind(owner)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// One message by id.
    pub async fn message(&self, id: i64) -> Result<Option<OutboxMessage>, StoreError> {
        let row = sqlx::query("SELECT * FROM outbox WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref()
            .map(message_from_row)
            .transpose()
            .map_err(StoreError::from)
    }

    pub async fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = ?")
            .bind(format_time(&at))
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `next`, or given up (`next` = None).
    pub async fn mark_attempt_failed(
        &self,
        id: i64,
        error: &str,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        match next {
            Some(next) => {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, claimed_until = NULL WHERE id = ?")
                    .bind(error)
                    .bind(format_time(&next))
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
            }
            None => {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?, state = 'failed', claimed_until = NULL WHERE id = ?")
                    .bind(error)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
            }
        }
        Ok(())
    }

    /// A silence covered the message at send time: not sent, and the alert says why.
    pub async fn mark_silenced(&self, msg: &OutboxMessage, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE outbox SET state = 'silenced', last_error = ? WHERE id = ?")
            .bind(format!("silenced: {reason}"))
            .bind(msg.id)
            .execute(&mut *tx)
            .await?;
        if let (Some(alert), "alert") = (msg.ref_id, msg.kind.as_str()) {
            sqlx::query("UPDATE alerts SET silenced = ? WHERE id = ?")
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
            "INSERT INTO silences (brand, starts_at, ends_at, reason, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(brand)
        .bind(format_time(&starts))
        .bind(format_time(&ends))
        .bind(reason)
        .bind(format_time(&now))
        .fetch_one(&self.writer)
        .await?)
    }

    /// Silences that have not ended by `now`.
    pub async fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        let rows = sqlx::query("SELECT id, brand, starts_at, ends_at, reason, created_at FROM silences WHERE ends_at > ? ORDER BY starts_at, id")
            .bind(format_time(&now))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(silence_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Removes a silence; false when there was none with that id.
    pub async fn remove_silence(&self, id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM silences WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// The silence covering `brand` at `at`, if any.
    pub async fn active_silence(
        &self,
        brand: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Silence>, StoreError> {
        let at = format_time(&at);
        let row = sqlx::query(
            "SELECT id, brand, starts_at, ends_at, reason, created_at FROM silences \
             WHERE (brand = ? COLLATE NOCASE OR brand = '*') AND starts_at <= ? AND ends_at > ? ORDER BY ends_at DESC LIMIT 1",
        )
        .bind(brand)
        .bind(&at)
        .bind(&at)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref()
            .map(silence_from_row)
            .transpose()
            .map_err(StoreError::from)
    }
}

pub(super) async fn insert_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    msg: &NewMessage,
    ref_id: Option<i64>,
) -> Result<i64, StoreError> {
    let created = format_time(&msg.created_at);
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (kind, ref_id, brand, message_id, sender, recipients, subject, message, html, created_at, \
         not_before, next_attempt_at, state, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) RETURNING id",
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
    .bind(&created)
    .bind(format_time(&msg.not_before))
    .bind(&created)
    .bind(&msg.channel)
    .fetch_one(&mut **tx)
    .await?)
}
