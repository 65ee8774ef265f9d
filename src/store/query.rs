//! Analysts' queries over stored mentions: filters, full-text search, newest first.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, StoreError};
use crate::mention::{Label, format_time};

/// Hits from which a search's newest rows are found by walking the mentions by time rather
/// than by sorting the hits: with 20,000 hits among ten million posts (one in 500) about 50,000
/// rows are walked for a hundred, cheaper than sorting the hits; with fewer, sorting wins.
const DENSE_HITS: i64 = 20_000;

/// `--label`: one of VADER's labels, or the mentions no engine could score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFilter {
    Is(Label),
    Unscored,
}

impl LabelFilter {
    pub fn parse(s: &str) -> Option<LabelFilter> {
        if s.eq_ignore_ascii_case("unscored") {
            return Some(LabelFilter::Unscored);
        }
        Label::parse(s).map(LabelFilter::Is)
    }
}

/// Filters combine with AND. `since` is inclusive, `until` exclusive.
#[derive(Debug, Clone, Default)]
pub struct MentionQuery {
    pub brand: Option<String>,
    pub source: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub label: Option<LabelFilter>,
    pub lang: Option<String>,
    /// Words and "quoted phrases", all of which must appear; `word*` matches a prefix; `OR`
    /// between two terms accepts either. Accents and case are ignored.
    pub search: Option<String>,
    /// `None` returns every row.
    pub limit: Option<u64>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

/// One (mention, brand) pair as analysts see it. A post linked to two brands gives two rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MentionRow {
    pub source: String,
    pub external_id: String,
    pub brand: String,
    pub url: Option<String>,
    pub author: Option<String>,
    pub text: String,
    pub lang: Option<String>,
    pub created_at: String,
    pub compound: Option<f64>,
    pub label: Option<String>,
    pub pos: Option<f64>,
    pub neu: Option<f64>,
    pub neg: Option<f64>,
    pub author_followers: Option<i64>,
    pub reply_to: Option<String>,
    pub engagement: Option<serde_json::Value>,
    pub lang_origin: Option<String>,
    pub scorer_version: String,
}

impl MentionRow {
    /// Likes, reposts, replies, comments... summed; views and impressions are not engagement.
    pub fn engagement_total(&self) -> u64 {
        self.engagement
            .as_ref()
            .and_then(|e| e.as_object())
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "impressions" | "views"))
                    .filter_map(|(_, v)| v.as_u64())
                    .fold(0u64, u64::saturating_add)
            })
            .unwrap_or(0)
    }
}

/// Turns a user's search into a safe FTS5 query: every word or phrase becomes a quoted FTS
/// string (so `-`, `:`, `(` and other FTS syntax in the input cannot break the query), `*` after
/// a word asks for a prefix, and a bare `OR` between terms is kept as FTS5's OR.
pub fn fts_query(input: &str) -> Result<String, StoreError> {
    let err = |reason: &str| StoreError::Search {
        query: input.to_string(),
        reason: reason.to_string(),
    };
    let mut parts: Vec<String> = Vec::new();
    let mut chars = input.chars().peekable();
    let mut last_was_or = true;
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let (term, quoted) = if c == '"' {
            chars.next();
            let mut t = String::new();
            let mut closed = false;
            for ch in chars.by_ref() {
                if ch == '"' {
                    closed = true;
                    break;
                }
                t.push(ch);
            }
            if !closed {
                return Err(err("unclosed quote"));
            }
            (t, true)
        } else {
            let mut t = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '"' {
                    break;
                }
                t.push(ch);
                chars.next();
            }
            (t, false)
        };
        if !quoted && term == "OR" {
            if last_was_or {
                return Err(err("OR must stand between two terms"));
            }
            parts.push("OR".into());
            last_was_or = true;
            continue;
        }
        let (body, prefix) = match term.strip_suffix('*') {
            Some(b) if !quoted => (b.to_string(), true),
            _ => (term, false),
        };
        if !body.chars().any(char::is_alphanumeric) {
            continue;
        }
        let escaped = body.replace('"', "\"\"");
        parts.push(if prefix {
            format!("\"{escaped}\"*")
        } else {
            format!("\"{escaped}\"")
        });
        last_was_or = false;
    }
    if parts.last().is_some_and(|p| p == "OR") {
        return Err(err("OR must stand between two terms"));
    }
    if parts.is_empty() {
        return Err(err("nothing to search for"));
    }
    Ok(parts.join(" "))
}

impl MentionQuery {
    pub(super) fn build(&self) -> Result<QueryBuilder<Sqlite>, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT m.source, m.external_id, b.name, m.url, m.author, m.text, m.lang, m.created_at, \
             m.compound, m.label, m.pos, m.neu, m.neg, m.author_followers, m.reply_to, m.engagement, \
             m.lang_origin, m.scorer_version \
             FROM mention_brands mb \
             JOIN mentions m ON m.id = mb.mention_id \
             JOIN brands b ON b.id = mb.brand_id WHERE 1 = 1",
        );
        self.push_filters(&mut qb)?;
        Ok(self.build_rest(qb))
    }

    /// The newest hits of a search that matches many posts: walk the mentions newest first and
    /// keep those in the hit set, instead of sorting every hit by time (the full-text index
    /// gives them in id order). Chosen when the search has at least [`DENSE_HITS`] hits.
    pub(super) fn build_newest_hits(&self) -> Result<QueryBuilder<Sqlite>, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT m.source, m.external_id, b.name, m.url, m.author, m.text, m.lang, m.created_at, \
             m.compound, m.label, m.pos, m.neu, m.neg, m.author_followers, m.reply_to, m.engagement, \
             m.lang_origin, m.scorer_version \
             FROM mentions m INDEXED BY mentions_created_at \
             JOIN mention_brands mb ON mb.mention_id = m.id \
             JOIN brands b ON b.id = mb.brand_id WHERE 1 = 1",
        );
        self.push_filters(&mut qb)?;
        qb.push(" ORDER BY m.created_at DESC, m.id DESC, b.name");
        if let Some(limit) = self.limit {
            qb.push(" LIMIT ")
                .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        Ok(qb)
    }

    /// Whether [`MentionQuery::build_newest_hits`] may answer: a search, newest first, a
    /// small limit, no brand (a brand's own time index already gives its newest hits first).
    fn may_walk_newest(&self) -> bool {
        self.search.is_some()
            && self.brand.is_none()
            && !self.oldest_first
            && self.limit.is_some_and(|l| l <= 1000)
    }

    #[cfg(test)]
    pub(super) fn newest_hits_sql(&self) -> String {
        self.build_newest_hits().expect("query").into_string()
    }

    /// The filters of a [`MentionQuery::links_suffice`] query, over `mb` and `b` only.
    fn push_link_filters(&self, qb: &mut QueryBuilder<Sqlite>) {
        if let Some(brand) = &self.brand {
            qb.push(" AND b.name = ").push_bind(brand.clone());
        }
        if let Some(since) = &self.since {
            qb.push(" AND mb.created_at >= ")
                .push_bind(format_time(since));
        }
        if let Some(until) = &self.until {
            qb.push(" AND mb.created_at < ")
                .push_bind(format_time(until));
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
    }

    /// The filters, as `AND` clauses over `mb` (mention_brands), `m` (mentions), `b` (brands).
    fn push_filters(&self, qb: &mut QueryBuilder<Sqlite>) -> Result<(), StoreError> {
        if let Some(brand) = &self.brand {
            qb.push(" AND b.name = ").push_bind(brand.clone());
        }
        if let Some(source) = &self.source {
            qb.push(" AND m.source = ")
                .push_bind(source.to_ascii_lowercase());
        }
        if let Some(since) = &self.since {
            qb.push(" AND mb.created_at >= ")
                .push_bind(format_time(since));
        }
        if let Some(until) = &self.until {
            qb.push(" AND mb.created_at < ")
                .push_bind(format_time(until));
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
            let fts = fts_query(search)?;
            qb.push(" AND m.id IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ")
                .push_bind(fts)
                .push(")");
        }
        Ok(())
    }

    /// The per-quarter-hour counts of [`Store::quarter_hour_counts`].
    /// Whether a series can be counted from the brand links alone (their time and label
    /// copies), without reading a mention's row: one brand, no filter on the post itself.
    pub(super) fn links_suffice(&self) -> bool {
        self.brand.is_some()
            && self.source.is_none()
            && self.lang.is_none()
            && self.search.is_none()
    }

    fn series_builder(&self) -> Result<QueryBuilder<Sqlite>, StoreError> {
        if self.links_suffice() {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT q, count(*), \
                        sum(label = 'positive'), sum(label = 'neutral'), sum(label = 'negative') \
                 FROM (SELECT mb.label AS label, \
                              substr(mb.created_at, 1, 14) \
                              || printf('%02d', CAST(substr(mb.created_at, 15, 2) AS INTEGER) / 15 * 15) AS q \
                       FROM mention_brands mb \
                       JOIN brands b ON b.id = mb.brand_id WHERE 1 = 1",
            );
            self.push_link_filters(&mut qb);
            qb.push(") GROUP BY q ORDER BY q");
            return Ok(qb);
        }
        // `created_at` is fixed-width RFC 3339 (`2026-03-01T09:37:00.000Z`): its first 14
        // characters and the minute rounded down to a quarter name the quarter hour.
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT q, count(*), \
                    sum(label = 'positive'), sum(label = 'neutral'), sum(label = 'negative') \
             FROM (SELECT DISTINCT m.id, m.label AS label, \
                          substr(mb.created_at, 1, 14) \
                          || printf('%02d', CAST(substr(mb.created_at, 15, 2) AS INTEGER) / 15 * 15) AS q \
                   FROM mention_brands mb \
                   JOIN mentions m ON m.id = mb.mention_id \
                   JOIN brands b ON b.id = mb.brand_id WHERE 1 = 1",
        );
        self.push_filters(&mut qb)?;
        qb.push(") GROUP BY q ORDER BY q");
        Ok(qb)
    }

    #[cfg(test)]
    pub(super) fn list_sql(&self) -> String {
        self.build().expect("query").into_string()
    }

    #[cfg(test)]
    pub(super) fn series_sql(&self) -> String {
        self.series_builder().expect("query").into_string()
    }

    fn build_rest(&self, mut qb: QueryBuilder<Sqlite>) -> QueryBuilder<Sqlite> {
        // `mb.created_at` is a copy of `m.created_at`: with a brand, the (brand, time) index
        // gives the order; without, the mentions' time index does (a third faster on a
        // search with many hits).
        let time = if self.brand.is_some() {
            "mb.created_at"
        } else {
            "m.created_at"
        };
        if self.oldest_first {
            qb.push(format!(" ORDER BY {time}, m.id, b.name"));
        } else {
            qb.push(format!(" ORDER BY {time} DESC, m.id DESC, b.name"));
        }
        if let Some(limit) = self.limit {
            qb.push(" LIMIT ")
                .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        qb
    }
}

fn row_to_mention(row: &sqlx::sqlite::SqliteRow) -> Result<MentionRow, sqlx::Error> {
    let engagement: Option<String> = row.try_get(15)?;
    Ok(MentionRow {
        source: row.try_get(0)?,
        external_id: row.try_get(1)?,
        brand: row.try_get(2)?,
        url: row.try_get(3)?,
        author: row.try_get(4)?,
        text: row.try_get(5)?,
        lang: row.try_get(6)?,
        created_at: row.try_get(7)?,
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

/// The mentions of one quarter hour (UTC), by label: what series of any bucket size and time
/// zone are summed from (every time zone's offset is a whole number of quarter hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarterCounts {
    pub start: DateTime<Utc>,
    pub total: u64,
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
}

impl SqliteStore {
    /// Stored mentions per (brand, source), sorted: what the demo reports at the end.
    pub async fn mentions_per_brand_and_source(
        &self,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT b.name, m.source, count(*) FROM mention_brands mb \
             JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             GROUP BY b.name, m.source ORDER BY b.name, m.source",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    /// The mentions matching `query` (its limit aside) per quarter hour, oldest first. A post
    /// of two brands counts once unless the query names a brand.
    pub async fn quarter_hour_counts(
        &self,
        query: &MentionQuery,
    ) -> Result<Vec<QuarterCounts>, StoreError> {
        let rows = query
            .series_builder()?
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_search_error(e, query))?;
        rows.iter()
            .map(|r| {
                let q: String = r.try_get(0)?;
                let start = DateTime::parse_from_rfc3339(&format!("{q}:00Z"))
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
                    .to_utc();
                let n = |i: usize| -> Result<u64, sqlx::Error> {
                    Ok(r.try_get::<Option<i64>, _>(i)?.unwrap_or(0).max(0) as u64)
                };
                Ok(QuarterCounts {
                    start,
                    total: n(1)?,
                    positive: n(2)?,
                    neutral: n(3)?,
                    negative: n(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The negative mentions of `brand` published in [from, to), with their ids.
    pub async fn negative_mentions(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(i64, MentionRow)>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.source, m.external_id, b.name, m.url, m.author, m.text, m.lang, m.created_at, \
             m.compound, m.label, m.pos, m.neu, m.neg, m.author_followers, m.reply_to, m.engagement, \
             m.lang_origin, m.scorer_version, m.id \
             FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             WHERE b.name = ? AND mb.created_at >= ? AND mb.created_at < ? AND m.label = 'negative' \
             ORDER BY m.compound, m.id LIMIT ?",
        )
        .bind(brand)
        .bind(format_time(&from))
        .bind(format_time(&to))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>(18)?, row_to_mention(r)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Whether `query`'s search has at least [`DENSE_HITS`] hits (counted up to that many).
    async fn search_is_dense(&self, query: &MentionQuery) -> Result<bool, StoreError> {
        let Some(search) = &query.search else {
            return Ok(false);
        };
        let fts = fts_query(search)?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ? LIMIT ?)",
        )
        .bind(fts)
        .bind(DENSE_HITS)
        .fetch_one(&self.reader)
        .await
        .map_err(|e| map_search_error(e, query))?;
        Ok(n >= DENSE_HITS)
    }

    /// Negative mentions of `brand` published in [from, to) that no own post of the brand
    /// answers and that were not notified yet, oldest first (at most 100).
    pub async fn unanswered_complaints(
        &self,
        brand: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, MentionRow)>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.source, m.external_id, b.name, m.url, m.author, m.text, m.lang, m.created_at, \
             m.compound, m.label, m.pos, m.neu, m.neg, m.author_followers, m.reply_to, m.engagement, \
             m.lang_origin, m.scorer_version, m.id \
             FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id JOIN brands b ON b.id = mb.brand_id \
             WHERE b.name = ? AND mb.created_at >= ? AND mb.created_at < ? AND mb.label = 'negative' \
             AND NOT EXISTS (SELECT 1 FROM own_posts o WHERE o.source = m.source AND o.reply_to = m.external_id \
                             AND o.brand_id = mb.brand_id AND o.created_at >= mb.created_at) \
             AND NOT EXISTS (SELECT 1 FROM unanswered_notices n WHERE n.mention_id = m.id AND n.brand = b.name) \
             ORDER BY mb.created_at, m.id LIMIT 5000",
        )
        .bind(brand)
        .bind(format_time(&from))
        .bind(format_time(&to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>(18)?, row_to_mention(r)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records that a complaint was notified as unanswered, with its messages, once: false
    /// (and nothing queued) when it already was.
    pub async fn notify_unanswered(
        &self,
        mention_id: i64,
        brand: &str,
        now: DateTime<Utc>,
        messages: Vec<super::NewMessage>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "INSERT INTO unanswered_notices (mention_id, brand, notified_at) VALUES (?, ?, ?) \
             ON CONFLICT (mention_id, brand) DO NOTHING",
        )
        .bind(mention_id)
        .bind(brand)
        .bind(format_time(&now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            for msg in &messages {
                super::alerts::insert_message(&mut tx, msg, None).await?;
            }
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Runs a query and hands each row to `each` as it is read, so exports of millions of
    /// rows run in constant memory.
    pub async fn query_each<F>(&self, query: &MentionQuery, mut each: F) -> Result<u64, StoreError>
    where
        F: FnMut(MentionRow) -> std::io::Result<()>,
    {
        let mut qb = if query.may_walk_newest() && self.search_is_dense(query).await? {
            query.build_newest_hits()?
        } else {
            query.build()?
        };
        let mut rows = qb.build().fetch(&self.reader);
        let mut n = 0;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| map_search_error(e, query))?
        {
            each(row_to_mention(&row)?).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            n += 1;
        }
        Ok(n)
    }
}

fn map_search_error(e: sqlx::Error, query: &MentionQuery) -> StoreError {
    if let (sqlx::Error::Database(db), Some(search)) = (&e, &query.search) {
        if db.message().contains("fts5") {
            return StoreError::Search {
                query: search.clone(),
                reason: db.message().to_string(),
            };
        }
    }
    StoreError::Database(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_are_quoted() {
        assert_eq!(fts_query("acme coffee").unwrap(), r#""acme" "coffee""#);
        assert_eq!(
            fts_query(r#""acme coffee" late"#).unwrap(),
            r#""acme coffee" "late""#
        );
        assert_eq!(
            fts_query("refund* OR rimborso").unwrap(),
            r#""refund"* OR "rimborso""#
        );
        assert_eq!(
            fts_query("-drop: (table)").unwrap(),
            r#""-drop:" "(table)""#
        );
        assert!(fts_query("OR acme").is_err());
        assert!(fts_query("\"open").is_err());
        assert!(fts_query("  ").is_err());
    }
}
