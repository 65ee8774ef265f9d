//! X (Twitter) API v2 recent search with an app bearer token. X bills per post read, so this
//! source is opt-in and enforces a monthly budget of posts: every page's posts are counted in
//! the store in the same transaction as the page, and polling stops when the month's budget is
//! used up. One query per brand combines its keywords, hashtags and handles with `OR` and its
//! exclusions with `-`, so a post is paid for once. Both the old (`tweet`) and the new (`post`)
//! field names are accepted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::http::{Http, RateHeaders};
use super::{Item, Page, PageRequest, Position, Resume, Source, SourceError};
use crate::config::{BrandConfig, XConfig};
use crate::mention::{Mention, normalise_lang_tag};
use crate::store::Store;

/// X's recent search accepts 10..=100 results per request.
const MAX_RESULTS: u64 = 100;
const MIN_RESULTS: u64 = 10;
/// Recent search only reaches back 7 days.
const SEARCH_WINDOW: chrono::Duration = chrono::Duration::days(7);
/// Query length limit of the basic access level.
const MAX_QUERY: usize = 512;

pub struct X {
    http: Http,
    base: Url,
    token: SecretString,
    interval: Duration,
    budget: u64,
    /// Posts left this month, as of the last budget check (the page size keeps within it).
    remaining: AtomicU64,
    queries: Vec<String>,
    /// Query key -> X query text.
    texts: HashMap<String, String>,
}

/// `acme coffee` -> `"acme coffee"`, `acme` -> `acme`.
fn term(t: &str) -> String {
    if t.contains(char::is_whitespace) || t.contains('-') {
        format!("\"{}\"", t.replace('"', ""))
    } else {
        t.to_string()
    }
}

/// The search query for one brand, without retweets (a retweet repeats a post already counted).
pub fn brand_query(b: &BrandConfig) -> String {
    let mut any: Vec<String> = b.keywords.iter().map(|k| term(k)).collect();
    any.extend(b.hashtags.iter().map(|h| format!("#{h}")));
    // X handles have no dots or @host part.
    any.extend(
        b.handles
            .iter()
            .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(|h| format!("@{h}")),
    );
    let mut q = if any.len() == 1 {
        any.remove(0)
    } else {
        format!("({})", any.join(" OR "))
    };
    for e in &b.exclude {
        let ex = match e.strip_prefix('#') {
            Some(tag) => format!(" -#{tag}"),
            None => format!(" -{}", term(e)),
        };
        if q.len() + ex.len() + " -is:retweet".len() <= MAX_QUERY {
            q.push_str(&ex);
        }
    }
    q.push_str(" -is:retweet");
    q
}

impl X {
    pub fn new(http: Http, config: &XConfig, brands: &[BrandConfig]) -> X {
        let mut queries = Vec::new();
        let mut texts = HashMap::new();
        for b in brands {
            let key = format!("brand:{}", b.name);
            texts.insert(key.clone(), brand_query(b));
            queries.push(key);
        }
        X {
            http,
            base: config.base_url.clone(),
            token: config.bearer_token.clone(),
            interval: config.interval,
            budget: config.monthly_budget,
            remaining: AtomicU64::new(config.monthly_budget),
            queries,
            texts,
        }
    }

    async fn remaining(&self, store: &Store, now: DateTime<Utc>) -> Result<u64, SourceError> {
        let used = store
            .billed_in_month("x", now)
            .await
            .map_err(|e| SourceError::Transient(format!("cannot read the X budget: {e}")))?;
        Ok(self.budget.saturating_sub(used))
    }

    async fn search(
        &self,
        req: PageRequest<'_>,
        store_remaining: u64,
    ) -> Result<Page, SourceError> {
        let query = self
            .texts
            .get(req.query)
            .ok_or_else(|| SourceError::Permanent(format!("unknown query {:?}", req.query)))?;
        let max_results = store_remaining.clamp(MIN_RESULTS, MAX_RESULTS);
        let mut gap_note: Option<String> = None;
        let mut url = self
            .base
            .join("/2/tweets/search/recent")
            .map_err(|e| SourceError::Permanent(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("query", query)
                .append_pair("max_results", &max_results.to_string())
                .append_pair(
                    "tweet.fields",
                    "created_at,lang,public_metrics,author_id,conversation_id,referenced_tweets",
                )
                .append_pair("expansions", "author_id")
                .append_pair("user.fields", "username,public_metrics");
            // Recent search reaches 7 days back and refuses an older `since_id`: past that,
            // ask by time and say what could not be read.
            let earliest = req.now - SEARCH_WINDOW + chrono::Duration::minutes(1);
            match &req.floor.id {
                Some(id) if req.floor.time > earliest + chrono::Duration::minutes(5) => {
                    q.append_pair("since_id", id);
                }
                _ => {
                    if req.floor.id.is_some() {
                        gap_note = Some(format!(
                            "posts between {} and {} could not be read: X recent search reaches back 7 days",
                            req.floor.time.format("%Y-%m-%d %H:%M"),
                            earliest.format("%Y-%m-%d %H:%M")
                        ));
                    }
                    let start = req.floor.time.max(earliest);
                    q.append_pair(
                        "start_time",
                        &start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    );
                }
            }
            if let Some(token) = req.resume.and_then(|r| r.token.as_ref()) {
                q.append_pair("next_token", token);
            }
        }
        let http_req = self
            .http
            .client()
            .get(url)
            .bearer_auth(self.token.expose_secret());
        let resp = self.http.send(http_req, RateHeaders::X, req.now).await?;
        let body: SearchResponse = resp.json()?;
        let users: HashMap<String, User> = body
            .includes
            .map(|i| i.users.into_iter().map(|u| (u.id.clone(), u)).collect())
            .unwrap_or_default();
        let mut page = Page {
            rate: resp.rate,
            billed: body.data.len() as u64,
            note: gap_note,
            ..Default::default()
        };
        for value in body.data {
            let post: Post = match serde_json::from_value(value) {
                Ok(p) => p,
                Err(e) => {
                    page.skipped.push(format!("unreadable post: {e}"));
                    continue;
                }
            };
            let time = post
                .created_at
                .or_else(|| snowflake_time(&post.id))
                .unwrap_or(req.now);
            let position = Position {
                time,
                id: Some(post.id.clone()),
            };
            if page
                .newest
                .as_ref()
                .is_none_or(|n| super::id_cmp(n.id.as_deref().unwrap_or(""), &post.id).is_lt())
            {
                page.newest = Some(position);
            }
            match post.into_mention(time, &users) {
                Ok(m) => page.items.push(Item::new(m)),
                Err(reason) => page.skipped.push(reason),
            }
        }
        if let Some(next) = body.meta.and_then(|m| m.next_token) {
            page.next = Some(Resume {
                token: Some(next),
                before: None,
            });
        }
        Ok(page)
    }
}

/// X ids are snowflakes: the time is in the high bits (milliseconds since 2010-11-04).
fn snowflake_time(id: &str) -> Option<DateTime<Utc>> {
    let n: u64 = id.parse().ok()?;
    let ms = (n >> 22) as i64 + 1_288_834_974_657;
    DateTime::from_timestamp_millis(ms)
}

/// The first instant of the next month (UTC): when the budget resets.
fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

impl Source for X {
    fn id(&self) -> &str {
        "x"
    }

    fn platform(&self) -> &'static str {
        "x"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn queries(&self) -> Vec<String> {
        self.queries.clone()
    }

    fn budget<'a>(
        &'a self,
        store: &'a Store,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            let remaining = self.remaining(store, now).await?;
            self.remaining.store(remaining, Ordering::Relaxed);
            if remaining < MIN_RESULTS {
                return Err(SourceError::Budget {
                    resets_at: next_month(now),
                });
            }
            Ok(())
        })
    }

    fn fetch<'a>(&'a self, req: PageRequest<'a>) -> BoxFuture<'a, Result<Page, SourceError>> {
        Box::pin(async move {
            // The runner checked the budget just before this request.
            self.search(req, self.remaining.load(Ordering::Relaxed))
                .await
        })
    }
}

#[derive(Deserialize)]
struct SearchResponse {
    #[serde(default)]
    data: Vec<serde_json::Value>,
    #[serde(default)]
    includes: Option<Includes>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Includes {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    public_metrics: Option<UserMetrics>,
}

#[derive(Deserialize)]
struct UserMetrics {
    #[serde(default)]
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize, Default)]
struct PostMetrics {
    #[serde(default, alias = "repost_count")]
    retweet_count: Option<u64>,
    #[serde(default)]
    reply_count: Option<u64>,
    #[serde(default)]
    like_count: Option<u64>,
    #[serde(default)]
    quote_count: Option<u64>,
    #[serde(default)]
    impression_count: Option<u64>,
}

#[derive(Deserialize)]
struct Post {
    id: String,
    text: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    author_id: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    public_metrics: Option<PostMetrics>,
    #[serde(default, alias = "referenced_posts")]
    referenced_tweets: Option<Vec<Reference>>,
}

impl Post {
    fn into_mention(
        self,
        created_at: DateTime<Utc>,
        users: &HashMap<String, User>,
    ) -> Result<Mention, String> {
        let user = self.author_id.as_ref().and_then(|a| users.get(a));
        let username = user.and_then(|u| u.username.clone());
        let m = self.public_metrics.unwrap_or_default();
        let mut engagement = std::collections::BTreeMap::new();
        for (k, v) in [
            ("likes", m.like_count),
            ("reposts", m.retweet_count),
            ("replies", m.reply_count),
            ("quotes", m.quote_count),
            ("impressions", m.impression_count),
        ] {
            if let Some(v) = v {
                engagement.insert(k.to_string(), v);
            }
        }
        Mention {
            source: "x".into(),
            url: Some(match &username {
                Some(u) => format!("https://x.com/{u}/status/{}", self.id),
                None => format!("https://x.com/i/web/status/{}", self.id),
            }),
            external_id: self.id.clone(),
            text: self.text,
            created_at,
            author: username,
            author_followers: user.and_then(|u| u.public_metrics.as_ref()?.followers_count),
            // "und", "qme" (media only), "zxx" (no text) are not languages.
            lang: self
                .lang
                .as_deref()
                .filter(|l| l.len() == 2)
                .and_then(normalise_lang_tag),
            reply_to: self
                .referenced_tweets
                .unwrap_or_default()
                .into_iter()
                .find(|r| r.kind == "replied_to")
                .map(|r| r.id),
            engagement,
        }
        .validated()
        .map_err(|e| format!("post {}: {e}", self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brand_queries_combine_terms_and_exclusions() {
        let b = BrandConfig {
            name: "Acme".into(),
            keywords: vec!["acme".into(), "acme coffee".into()],
            hashtags: vec!["acme".into()],
            handles: vec![
                "AcmeSupport".into(),
                "acme@mastodon.social".into(),
                "acme.bsky.social".into(),
            ],
            exclude: vec!["acme anvil".into(), "#looneytunes".into()],
            languages: None,
        };
        assert_eq!(
            brand_query(&b),
            "(acme OR \"acme coffee\" OR #acme OR @AcmeSupport) -\"acme anvil\" -#looneytunes -is:retweet"
        );
    }

    #[test]
    fn snowflake_ids_carry_their_time() {
        assert_eq!(
            snowflake_time("1578516068309794817").unwrap().to_rfc3339(),
            "2022-10-07T22:42:12.752+00:00"
        );
    }

    #[test]
    fn budget_resets_on_the_first_of_next_month() {
        assert_eq!(
            next_month("2026-12-15T10:00:00Z".parse().unwrap()),
            "2027-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
