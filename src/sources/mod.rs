//! Where mentions come from: one module per platform behind the [`Source`] trait, the cursor
//! model that makes polling resumable, the retry policy, and the [`runner`] that drives a
//! source and stores what it finds.
//!
//! # Cursors
//!
//! Every platform here lists posts newest first and pages towards older ones. A query's
//! [`Cursor`] holds a *floor* (every post at or below it is stored) and, while a catch-up is
//! in progress, a *round*: the newest position seen when the round started (`top`) and where
//! to resume paging down. Each page is stored in the same transaction that advances the
//! cursor, so a crash at any moment loses nothing and re-pages at most one page: on restart the
//! round resumes where it stopped, and when it reaches the floor the floor moves up to `top`.
//! Posts stored twice are impossible anyway (`(source, external_id)` is unique), so resuming
//! slightly before the last page is safe.

pub mod bluesky;
pub mod hackernews;
pub mod http;
pub mod mastodon;
pub mod reddit;
pub mod retry;
pub mod rss;
pub mod runner;
pub mod x;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::config::{BrandConfig, SourcesConfig};
use crate::mention::Mention;

pub use http::{Http, RateLimit};
pub use retry::RetryPolicy;
pub use runner::SourceRunner;

/// Why a request or a page failed; the variant decides how it is retried
/// ([`retry::next_attempt`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("rate limited ({message}){}", retry_at.map(|t| format!(", retrying after {}", t.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default())]
    RateLimited {
        retry_at: Option<DateTime<Utc>>,
        message: String,
    },
    #[error("{0}")]
    Transient(String),
    #[error("authentication failed ({0}): check the credentials; retrying slowly")]
    Auth(String),
    #[error("{0}")]
    Permanent(String),
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("response larger than the {limit}-byte cap (sources.max_response_bytes)")]
    TooLarge { limit: u64 },
    #[error("monthly budget of posts used up; polling resumes on {}", resets_at.format("%Y-%m-%d"))]
    Budget { resets_at: DateTime<Utc> },
}

/// A point in a query's stream of posts: its time and, where the platform has ordered ids,
/// its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Position {
    pub fn at(time: DateTime<Utc>) -> Position {
        Position { time, id: None }
    }
}

/// Where paging resumes: the platform's page token if it gave one, and the oldest position
/// seen so far (for platforms that page by id or time).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Position>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// The newest post seen when this round started; becomes the floor when it ends.
    pub top: Option<Position>,
    pub resume: Resume,
}

/// The persisted progress of one (source, query).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<Round>,
    /// Platform-specific state: validators of a feed, ids already seen by a relevance-ordered
    /// search, ...
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub state: serde_json::Value,
}

/// One page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    pub query: &'a str,
    /// Only posts above this are wanted.
    pub floor: &'a Position,
    /// `None` for the first (newest) page of a round.
    pub resume: Option<&'a Resume>,
    pub state: &'a serde_json::Value,
    pub now: DateTime<Utc>,
}

/// A post as a source found it, before the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub mention: Mention,
    /// When not empty, the post is a mention of these brands whatever its text says (a feed
    /// dedicated to one brand).
    pub brands: Vec<String>,
    /// False when the platform gave no date and `created_at` is the time it was found: such
    /// a post says nothing about how fresh the source is.
    pub dated: bool,
}

impl Item {
    pub fn new(mention: Mention) -> Item {
        Item {
            mention,
            brands: Vec::new(),
            dated: true,
        }
    }
}

/// What one request returned.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Broken items that were skipped, with the reason (logged with the source).
    pub skipped: Vec<String>,
    /// The newest position on this page (the round's top when it is the first page).
    pub newest: Option<Position>,
    /// `None` when the floor or the end was reached.
    pub next: Option<Resume>,
    /// Replaces the cursor's platform state when set.
    pub state: Option<serde_json::Value>,
    pub rate: RateLimit,
    /// Posts the platform billed for (X).
    pub billed: u64,
    /// A remark for `mentiond status` (e.g. "timeline empty: may be disabled").
    pub note: Option<String>,
}

/// A platform connector. Implementations only translate: queries into requests, responses
/// into [`Item`]s and positions. Storage, retries and scheduling are the runner's.
pub trait Source: Send + Sync {
    /// Stable identifier, used in cursors and `status`: `mastodon:mastodon.social`, `rss:acme-reviews`.
    fn id(&self) -> &str;
    /// The `source` field of the mentions it produces.
    fn platform(&self) -> &'static str;
    fn interval(&self) -> Duration;
    /// Query keys (`tag:acme`, `search:acme coffee`, ...), stable across restarts.
    fn queries(&self) -> Vec<String>;
    /// Fetches one page.
    fn fetch<'a>(&'a self, request: PageRequest<'a>) -> BoxFuture<'a, Result<Page, SourceError>>;
    /// Checked before each request; an exhausted budget stops polling until it resets.
    fn budget<'a>(
        &'a self,
        _store: &'a crate::store::Store,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Builds the configured sources. Errors only on an unusable HTTP client, which is built only
/// when a source is configured (a daemon that only sends digests of ingested posts needs none).
pub fn build(
    config: &SourcesConfig,
    brands: &[BrandConfig],
) -> Result<Vec<Arc<dyn Source>>, SourceError> {
    let mut shared: Option<Http> = None;
    let mut http = || -> Result<Http, SourceError> {
        if let Some(h) = &shared {
            return Ok(h.clone());
        }
        let h = Http::new(
            &config.user_agent,
            config.timeout,
            config.max_response_bytes,
        )?;
        shared = Some(h.clone());
        Ok(h)
    };
    let mut out: Vec<Arc<dyn Source>> = Vec::new();
    if let Some(m) = &config.mastodon {
        for (i, instance) in m.instances.iter().enumerate() {
            out.push(Arc::new(mastodon::Mastodon::new(
                http()?,
                m,
                instance.clone(),
                i == 0,
                brands,
            )));
        }
    }
    if let Some(b) = &config.bluesky {
        out.push(Arc::new(bluesky::Bluesky::new(http()?, b, brands)));
    }
    if let Some(r) = &config.reddit {
        out.push(Arc::new(reddit::Reddit::new(http()?, r, brands)));
    }
    if let Some(h) = &config.hackernews {
        out.push(Arc::new(hackernews::HackerNews::new(http()?, h, brands)));
    }
    for feed in &config.rss {
        out.push(Arc::new(rss::Feed::new(http()?, feed)));
    }
    if let Some(x) = &config.x {
        out.push(Arc::new(x::X::new(http()?, x, brands)));
    }
    Ok(out)
}

/// The distinct search terms of the brands: each keyword phrase once, case-insensitively.
pub fn brand_keywords(brands: &[BrandConfig]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for b in brands {
        for k in &b.keywords {
            if !out.iter().any(|o| o.to_lowercase() == k.to_lowercase()) {
                out.push(k.clone());
            }
        }
    }
    out
}

/// Compares two platform ids that are decimal numbers of possibly different lengths
/// (Mastodon, X). Non-numeric ids compare as text.
pub fn id_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_compare_by_value() {
        use std::cmp::Ordering::*;
        assert_eq!(id_cmp("117020593741189701", "99"), Greater);
        assert_eq!(id_cmp("21", "117020593741189701"), Less);
        assert_eq!(id_cmp("42", "42"), Equal);
    }

    #[test]
    fn cursor_round_trips_as_json() {
        let c = Cursor {
            floor: Some(Position::at("2026-03-01T00:00:00Z".parse().unwrap())),
            round: Some(Round {
                top: Some(Position {
                    time: "2026-03-02T00:00:00Z".parse().unwrap(),
                    id: Some("9".into()),
                }),
                resume: Resume {
                    token: Some("abc".into()),
                    before: None,
                },
            }),
            state: serde_json::json!({"etag": "W/\"1\""}),
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&text).unwrap(), c);
        assert_eq!(serde_json::to_string(&Cursor::default()).unwrap(), "{}");
    }
}
