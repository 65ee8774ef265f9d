//! `mentiond migrate-storage`: every table copied from one store to another (SQLite to
//! PostgreSQL when one machine is no longer enough, or back), ids kept so that the links
//! between tables (brand links, an alert's worst mentions, an e-mail's alert) stay true.
//!
//! Rows travel as [`Value`]s described by a column list per table: each backend reads and
//! writes its own types (SQLite's RFC 3339 text and 0/1, PostgreSQL's `timestamptz`, `jsonb`,
//! `boolean`). Tables are copied in key order in batches, each batch one transaction on the
//! destination with `ON CONFLICT DO NOTHING`, starting after the largest key the destination
//! already holds: a copy that was interrupted resumes where it stopped, and a second run copies
//! only what the source gained since. Leases are not copied (they belong to running daemons).

use chrono::{DateTime, SubsecRound, Utc};

use super::StoreError;

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Int,
    Real,
    Text,
    Blob,
    Time,
    Json,
    Bool,
}

/// One value in transit.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Time(DateTime<Utc>),
    /// JSON text (SQLite keeps it as text, PostgreSQL as `jsonb`).
    Json(String),
    Bool(bool),
}

/// A table as the copy sees it.
#[derive(Debug)]
pub(super) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Columns the copy pages by, in order (an integer key; empty: the table is small and
    /// copied in one batch).
    pub key: &'static [&'static str],
    /// The destination's identity sequence to move past the copied ids (PostgreSQL).
    pub identity: bool,
}

use Kind::*;

/// Parents before children: links and references point at rows already copied.
pub(super) const TABLES: &[Table] = &[
    Table {
        name: "brands",
        columns: &[("id", Int), ("name", Text)],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "mentions",
        columns: &[
            ("id", Int),
            ("source", Text),
            ("external_id", Text),
            ("url", Text),
            ("author", Text),
            ("author_followers", Int),
            ("reply_to", Text),
            ("text", Text),
            ("lang", Text),
            ("lang_origin", Text),
            ("created_at", Time),
            ("ingested_at", Time),
            ("engagement", Json),
            ("compound", Real),
            ("pos", Real),
            ("neu", Real),
            ("neg", Real),
            ("label", Text),
            ("scorer_version", Text),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "mention_brands",
        columns: &[
            ("mention_id", Int),
            ("brand_id", Int),
            ("created_at", Time),
            ("label", Text),
        ],
        key: &["mention_id", "brand_id"],
        identity: false,
    },
    Table {
        name: "own_posts",
        columns: &[
            ("id", Int),
            ("brand_id", Int),
            ("source", Text),
            ("external_id", Text),
            ("reply_to", Text),
            ("author", Text),
            ("url", Text),
            ("text", Text),
            ("created_at", Time),
            ("ingested_at", Time),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "source_cursors",
        columns: &[
            ("source_id", Text),
            ("query", Text),
            ("cursor", Text),
            ("updated_at", Time),
        ],
        key: &[],
        identity: false,
    },
    Table {
        name: "source_status",
        columns: &[
            ("source_id", Text),
            ("query", Text),
            ("platform", Text),
            ("state", Text),
            ("last_poll_at", Time),
            ("last_success_at", Time),
            ("last_error", Text),
            ("last_error_at", Time),
            ("consecutive_failures", Int),
            ("next_poll_at", Time),
            ("rate_remaining", Real),
            ("rate_reset_at", Time),
            ("newest_post_at", Time),
            ("note", Text),
        ],
        key: &[],
        identity: false,
    },
    Table {
        name: "source_polls",
        columns: &[
            ("id", Int),
            ("source_id", Text),
            ("query", Text),
            ("at", Time),
            ("fetched", Int),
            ("stored", Int),
            ("duplicates", Int),
            ("unmatched", Int),
            ("skipped", Int),
            ("error", Text),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "source_usage",
        columns: &[("source_id", Text), ("month", Text), ("posts", Int)],
        key: &[],
        identity: false,
    },
    Table {
        name: "alerts",
        columns: &[
            ("id", Int),
            ("brand", Text),
            ("fired_at", Time),
            ("bucket_at", Time),
            ("window_start", Time),
            ("window_end", Time),
            ("observed", Real),
            ("expected", Real),
            ("p_value", Real),
            ("p_threshold", Real),
            ("threshold_rule", Text),
            ("window_total", Real),
            ("usual_share", Real),
            ("severe", Bool),
            ("worst", Json),
            ("details", Json),
            ("state", Text),
            ("resolved_at", Time),
            ("silenced", Text),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "silences",
        columns: &[
            ("id", Int),
            ("brand", Text),
            ("starts_at", Time),
            ("ends_at", Time),
            ("reason", Text),
            ("created_at", Time),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "digest_runs",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("scheduled_at", Time),
            ("period_start", Time),
            ("period_end", Time),
            ("trigger", Text),
            ("state", Text),
            ("note", Text),
            ("mentions", Int),
            ("created_at", Time),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("ref_id", Int),
            ("brand", Text),
            ("message_id", Text),
            ("sender", Text),
            ("recipients", Json),
            ("subject", Text),
            ("message", Blob),
            ("html", Text),
            ("created_at", Time),
            ("not_before", Time),
            ("next_attempt_at", Time),
            ("attempts", Int),
            ("state", Text),
            ("last_error", Text),
            ("sent_at", Time),
            ("claimed_until", Time),
            ("claimed_by", Text),
            ("channel", Text),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "unanswered_notices",
        columns: &[("mention_id", Int), ("brand", Text), ("notified_at", Time)],
        key: &[],
        identity: false,
    },
    Table {
        name: "digest_schedules",
        columns: &[("name", Text), ("armed_at", Time)],
        key: &[],
        identity: false,
    },
];

/// The key of a row (its first `key.len()` columns: keys lead every column list).
pub(super) fn key_of(table: &Table, row: &[Value]) -> Vec<i64> {
    row.iter()
        .take(table.key.len())
        .map(|v| match v {
            Value::Int(i) => *i,
            _ => 0,
        })
        .collect()
}

/// What the copy of one table did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    pub table: &'static str,
    /// Rows the source holds.
    pub source_rows: i64,
    /// Rows written by this run (the rest were there from an earlier run).
    pub copied: u64,
    /// Rows the destination holds after the copy.
    pub destination_rows: i64,
}

impl TableCopy {
    pub fn matches(&self) -> bool {
        self.source_rows == self.destination_rows
    }
}

/// A value read from a text column that should hold a time.
pub(super) fn parse_time(table: &str, column: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| StoreError::Transfer(format!("{table}.{column}: {s:?} is not a time: {e}")))
}

// ---- SQLite ----

use sqlx::Row;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use crate::mention::format_time;

fn select_sql(table: &Table, json_as_text: bool, after: Option<&[i64]>, limit: usize) -> String {
    let cols: Vec<String> = table
        .columns
        .iter()
        .map(|(c, k)| match k {
            Json if json_as_text => format!("{c}::text"),
            _ => c.to_string(),
        })
        .collect();
    let mut sql = format!("SELECT {} FROM {}", cols.join(", "), table.name);
    if !table.key.is_empty() {
        if let Some(after) = after {
            let values: Vec<String> = after.iter().map(i64::to_string).collect();
            sql.push_str(&format!(
                " WHERE ({}) > ({})",
                table.key.join(", "),
                values.join(", ")
            ));
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", table.key.join(", ")));
    }
    sql
}

fn last_key_sql(table: &Table) -> String {
    let desc: Vec<String> = table.key.iter().map(|k| format!("{k} DESC")).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT 1",
        table.key.join(", "),
        table.name,
        desc.join(", ")
    )
}

impl SqliteStore {
    pub(super) async fn read_rows(
        &self,
        table: &Table,
        after: Option<&[i64]>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        // Only fixed table and column names and integers go into the text.
        let sql = select_sql(table, false, after, limit);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.reader)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = Vec::with_capacity(table.columns.len());
            for (i, (column, kind)) in table.columns.iter().enumerate() {
                let v = match kind {
                    Int => r.try_get::<Option<i64>, _>(i)?.map(Value::Int),
                    Real => r.try_get::<Option<f64>, _>(i)?.map(Value::Real),
                    Text => r.try_get::<Option<String>, _>(i)?.map(Value::Text),
                    Blob => r.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Blob),
                    Json => r.try_get::<Option<String>, _>(i)?.map(Value::Json),
                    Bool => r.try_get::<Option<i64>, _>(i)?.map(|b| Value::Bool(b != 0)),
                    Time => match r.try_get::<Option<String>, _>(i)? {
                        Some(t) => Some(Value::Time(parse_time(table.name, column, &t)?)),
                        None => None,
                    },
                };
                row.push(v.unwrap_or(Value::Null));
            }
            out.push(row);
        }
        Ok(out)
    }

    pub(super) async fn write_rows(
        &self,
        table: &Table,
        rows: &[Vec<Value>],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        // SQLite binds at most 32,766 values per statement.
        let per = (30_000 / table.columns.len()).max(1);
        for chunk in rows.chunks(per) {
            let names: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "INSERT INTO {} ({}) ",
                table.name,
                names.join(", ")
            ));
            qb.push_values(chunk, |mut b, row| {
                for v in row {
                    match v {
                        Value::Null => b.push("NULL"),
                        Value::Int(i) => b.push_bind(*i),
                        Value::Real(f) => b.push_bind(*f),
                        Value::Text(s) | Value::Json(s) => b.push_bind(s.clone()),
                        Value::Blob(x) => b.push_bind(x.clone()),
                        Value::Time(t) => b.push_bind(format_time(t)),
                        Value::Bool(x) => b.push_bind(i64::from(*x)),
                    };
                }
            });
            qb.push(" ON CONFLICT DO NOTHING");
            written += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    pub(super) async fn last_key(&self, table: &Table) -> Result<Option<Vec<i64>>, StoreError> {
        if table.key.is_empty() {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(last_key_sql(table)))
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| {
            (0..table.key.len())
                .map(|i| r.try_get::<i64, _>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(StoreError::from)
    }

    pub(super) async fn count_rows(&self, table: &Table) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            table.name
        )))
        .fetch_one(&self.reader)
        .await?)
    }
}

// ---- PostgreSQL ----

impl PgStore {
    pub(super) async fn read_rows(
        &self,
        table: &Table,
        after: Option<&[i64]>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let sql = select_sql(table, true, after, limit);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                let v = match kind {
                    Int => r.try_get::<Option<i64>, _>(i)?.map(Value::Int),
                    Real => r.try_get::<Option<f64>, _>(i)?.map(Value::Real),
                    Text => r.try_get::<Option<String>, _>(i)?.map(Value::Text),
                    Blob => r.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Blob),
                    Json => r.try_get::<Option<String>, _>(i)?.map(Value::Json),
                    Bool => r.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
                    Time => r.try_get::<Option<DateTime<Utc>>, _>(i)?.map(Value::Time),
                };
                row.push(v.unwrap_or(Value::Null));
            }
            out.push(row);
        }
        Ok(out)
    }

    pub(super) async fn write_rows(
        &self,
        table: &Table,
        rows: &[Vec<Value>],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut written = 0;
        let per = (60_000 / table.columns.len()).max(1);
        for chunk in rows.chunks(per) {
            let names: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
            let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
                "INSERT INTO {} ({}) ",
                table.name,
                names.join(", ")
            ));
            qb.push_values(chunk, |mut b, row| {
                for v in row {
                    match v {
                        Value::Null => b.push("NULL"),
                        Value::Int(i) => b.push_bind(*i),
                        Value::Real(f) => b.push_bind(*f),
                        Value::Text(s) => b.push_bind(s.clone()),
                        Value::Json(s) => b.push_bind(s.clone()).push_unseparated("::jsonb"),
                        Value::Blob(x) => b.push_bind(x.clone()),
                        Value::Time(t) => b.push_bind(*t),
                        Value::Bool(x) => b.push_bind(*x),
                    };
                }
            });
            qb.push(" ON CONFLICT DO NOTHING");
            written += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        if table.identity {
            // Rows inserted later (by the daemon) take ids after the copied ones.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM {0}), false)",
                table.name
            )))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    pub(super) async fn last_key(&self, table: &Table) -> Result<Option<Vec<i64>>, StoreError> {
        if table.key.is_empty() {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(last_key_sql(table)))
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            (0..table.key.len())
                .map(|i| r.try_get::<i64, _>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(StoreError::from)
    }

    pub(super) async fn count_rows(&self, table: &Table) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            table.name
        )))
        .fetch_one(self.pool())
        .await?)
    }
}

// ---- the copy's mark on its destination ----

impl SqliteStore {
    /// Whether the database holds any mention, alert or e-mail.
    pub(super) async fn holds_data(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mentions) OR EXISTS (SELECT 1 FROM alerts) OR EXISTS (SELECT 1 FROM outbox)",
        )
        .fetch_one(&self.reader)
        .await?)
    }

    /// The copies made into this database, by source.
    pub(super) async fn copy_sources(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT source FROM storage_copies")
            .fetch_all(&self.reader)
            .await?)
    }

    pub(super) async fn mark_copy(
        &self,
        source: &str,
        now: DateTime<Utc>,
        finished: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO storage_copies (source, started_at, finished_at) VALUES (?1, ?2, NULL) \
             ON CONFLICT (source) DO UPDATE SET finished_at = CASE WHEN ?3 THEN ?2 END",
        )
        .bind(source)
        .bind(format_time(&now))
        .bind(finished)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

impl PgStore {
    pub(super) async fn holds_data(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mentions) OR EXISTS (SELECT 1 FROM alerts) OR EXISTS (SELECT 1 FROM outbox)",
        )
        .fetch_one(self.pool())
        .await?)
    }

    pub(super) async fn copy_sources(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT source FROM storage_copies")
            .fetch_all(self.pool())
            .await?)
    }

    pub(super) async fn mark_copy(
        &self,
        source: &str,
        now: DateTime<Utc>,
        finished: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO storage_copies (source, started_at, finished_at) VALUES ($1, $2, NULL) \
             ON CONFLICT (source) DO UPDATE SET finished_at = CASE WHEN $3 THEN $2 END",
        )
        .bind(source)
        .bind(now.trunc_subsecs(3))
        .bind(finished)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
