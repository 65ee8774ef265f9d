//! Mastodon (and compatible servers): public hashtag timelines on every configured instance;
//! with an access token on the first instance, the account's mentions (notifications) and
//! full-text status search.
//!
//! A post is identified by its ActivityPub `uri`, which is the same on every instance, so the
//! same post seen through two instances is stored once. Boosts are unwrapped to the boosted
//! post. Timelines page newest first with `max_id`/`since_id`; search is ordered by relevance
//! and has no paging, so it keeps a set of recently seen posts instead.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::http::{Http, RateHeaders};
use super::{Item, Page, PageRequest, Position, Resume, Source, SourceError, brand_keywords};
use crate::config::{BrandConfig, MastodonConfig};
use crate::mention::{Mention, normalise_lang_tag};

/// Statuses per page (Mastodon's maximum for timelines is 40).
const PAGE: usize = 40;
/// How many search results are remembered as seen.
const SEEN_CAP: usize = 2000;

pub struct Mastodon {
    id: String,
    http: Http,
    base: Url,
    host: String,
    interval: Duration,
    token: Option<SecretString>,
    queries: Vec<String>,
    /// The brands' accounts as this instance names authors (`user@host`, lowercase): their
    /// replies get the URI of the post they answer (see [`Mastodon::resolve_reply_targets`]).
    accounts: Vec<String>,
}

impl Mastodon {
    /// `primary` is the `base_url` instance: the token, notifications and search belong to it.
    pub fn new(
        http: Http,
        config: &MastodonConfig,
        base: Url,
        primary: bool,
        brands: &[BrandConfig],
    ) -> Mastodon {
        let host = base.host_str().unwrap_or_default().to_string();
        // Two instances on one host (a test, a proxy) differ by port.
        let instance = match base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let token = if primary { config.token.clone() } else { None };
        let mut tags: Vec<String> = Vec::new();
        let mut add_tag = |t: &str| {
            let t = t.trim_start_matches('#').to_lowercase();
            if !t.is_empty() && !tags.contains(&t) {
                tags.push(t);
            }
        };
        for b in brands {
            b.hashtags.iter().for_each(|h| add_tag(h));
            if config.keywords_as_hashtags {
                b.keywords
                    .iter()
                    .filter(|k| k.chars().all(|c| c.is_alphanumeric() || c == '_'))
                    .for_each(|k| add_tag(k));
            }
        }
        let mut queries: Vec<String> = tags.into_iter().map(|t| format!("tag:{t}")).collect();
        if token.is_some() {
            if config.notifications {
                queries.push("notifications".into());
            }
            if config.search {
                queries.extend(
                    brand_keywords(brands)
                        .into_iter()
                        .map(|k| format!("search:{k}")),
                );
            }
        }
        let accounts: Vec<String> = brands
            .iter()
            .flat_map(|b| b.handles.iter())
            .map(|h| {
                let h = h.trim_start_matches('@').to_lowercase();
                if h.contains('@') {
                    h
                } else {
                    format!("{h}@{host}")
                }
            })
            .collect();
        // The brands' own Mastodon accounts (handles written `user@host`) are polled on the
        // main instance: their posts are the replies that response figures count.
        if primary {
            for b in brands {
                for h in &b.handles {
                    let h = h.trim_start_matches('@');
                    if h.contains('@') {
                        let q = format!("account:{}", h.to_lowercase());
                        if !queries.contains(&q) {
                            queries.push(q);
                        }
                    }
                }
            }
        }
        Mastodon {
            id: format!("mastodon:{instance}"),
            http,
            base,
            host,
            interval: config.interval,
            token,
            queries,
            accounts,
        }
    }

    /// The id on this instance of the account `acct` (`user@host`).
    async fn account_id(
        &self,
        acct: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, SourceError> {
        let mut url = self.endpoint("/api/v1/accounts/lookup")?;
        url.query_pairs_mut().append_pair("acct", acct);
        let resp = self
            .http
            .send(self.get(url), RateHeaders::Mastodon, now)
            .await?;
        let v: serde_json::Value = resp.json()?;
        match v.get("id").and_then(|i| i.as_str()) {
            Some(id) if !id.is_empty() => Ok(id.to_string()),
            _ => Err(SourceError::Malformed(format!(
                "the lookup of account {acct} gave no id"
            ))),
        }
    }

    /// Mastodon gives the answered post as its id on this instance (`in_reply_to_id`), while
    /// posts are stored by URI: for a reply by a brand's account (rare: only those measure
    /// responses) the answered post is looked up and its URI kept. A lookup that fails leaves
    /// the reply unmatched, never the page unstored.
    async fn resolve_reply_targets(&self, items: &mut [Item], now: chrono::DateTime<chrono::Utc>) {
        for item in items.iter_mut() {
            let m = &mut item.mention;
            let ours = m
                .author
                .as_deref()
                .is_some_and(|a| self.accounts.iter().any(|x| x.eq_ignore_ascii_case(a)));
            let Some(local) = m.reply_to.clone().filter(|r| ours && !r.contains("://")) else {
                continue;
            };
            let Ok(url) = self.endpoint(&format!(
                "/api/v1/statuses/{}",
                url::form_urlencoded::byte_serialize(local.as_bytes()).collect::<String>()
            )) else {
                continue;
            };
            match self
                .http
                .send(self.get(url), RateHeaders::Mastodon, now)
                .await
            {
                Ok(resp) => match resp.json::<serde_json::Value>() {
                    Ok(v) => {
                        if let Some(uri) = v.get("uri").and_then(|u| u.as_str()) {
                            m.reply_to = Some(uri.to_string());
                        }
                    }
                    Err(e) => {
                        tracing::debug!(status = %local, error = %e, "cannot read the answered post")
                    }
                },
                Err(e) => {
                    tracing::debug!(status = %local, error = %e, "cannot look up the answered post")
                }
            }
        }
    }

    fn endpoint(&self, path: &str) -> Result<Url, SourceError> {
        self.base
            .join(path)
            .map_err(|e| SourceError::Permanent(format!("bad URL {path}: {e}")))
    }

    fn get(&self, url: Url) -> reqwest::RequestBuilder {
        let req = self
            .http
            .client()
            .get(url)
            .header("accept", "application/json");
        match &self.token {
            Some(t) => req.bearer_auth(t.expose_secret()),
            None => req,
        }
    }

    async fn timeline(
        &self,
        req: PageRequest<'_>,
        path: &str,
        notifications: bool,
    ) -> Result<Page, SourceError> {
        let mut url = self.endpoint(path)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &PAGE.to_string());
            if notifications {
                q.append_pair("types[]", "mention");
            }
            if let Some(id) = &req.floor.id {
                q.append_pair("since_id", &since_id(id, req.floor.time, notifications));
            }
            if let Some(before) = req
                .resume
                .and_then(|r| r.before.as_ref())
                .and_then(|p| p.id.as_ref())
            {
                q.append_pair("max_id", before);
            }
        }
        let resp = match self
            .http
            .send(self.get(url), RateHeaders::Mastodon, req.now)
            .await
        {
            Err(SourceError::Auth(msg)) if self.token.is_none() => {
                return Err(SourceError::Auth(format!(
                    "{msg}: {} restricts this timeline to logged-in users; set token_file or token_env",
                    self.host
                )));
            }
            other => other?,
        };
        let raw: Vec<serde_json::Value> = resp.json()?;
        // Mastodon ends a timeline with a short page; compatible servers may filter a page
        // short and still give a `next` link.
        let more_pages = raw.len() >= PAGE
            || resp
                .header("link")
                .is_some_and(|l| l.contains("rel=\"next\""));
        let mut page = Page {
            rate: resp.rate,
            ..Default::default()
        };
        let mut oldest: Option<Position> = None;
        let raw_empty = raw.is_empty();
        for value in raw {
            let parsed = if notifications {
                serde_json::from_value::<Notification>(value)
                    .map(|n| (n.id, n.created_at, n.status))
            } else {
                serde_json::from_value::<Status>(value)
                    .map(|s| (s.id.clone(), s.created_at, Some(s)))
            };
            let (id, time, status) = match parsed {
                Ok(x) => x,
                Err(e) => {
                    page.skipped.push(format!(
                        "unreadable {}: {e}",
                        if notifications {
                            "notification"
                        } else {
                            "status"
                        }
                    ));
                    continue;
                }
            };
            let position = Position { time, id: Some(id) };
            if page.newest.is_none() {
                page.newest = Some(position.clone());
            }
            // Without an id floor (first poll), the backfill window is a time.
            let below_floor = req.floor.id.is_none() && time < req.floor.time;
            oldest = Some(position);
            if below_floor {
                continue;
            }
            if let Some(status) = status {
                match self.item(status) {
                    Ok(item) => page.items.push(item),
                    Err(reason) => page.skipped.push(reason),
                }
            }
        }
        let reached_floor = oldest
            .as_ref()
            .is_some_and(|o| req.floor.id.is_none() && o.time < req.floor.time);
        // A server that ignores `max_id` would hand out the same page for ever.
        let progressed = match (
            req.resume
                .and_then(|r| r.before.as_ref())
                .and_then(|p| p.id.as_deref()),
            oldest.as_ref().and_then(|o| o.id.as_deref()),
        ) {
            (Some(before), Some(oldest)) => super::id_cmp(oldest, before).is_lt(),
            _ => true,
        };
        if more_pages && !raw_empty && !reached_floor && progressed {
            page.next = oldest.map(|o| Resume {
                token: None,
                before: Some(o),
            });
        }
        self.resolve_reply_targets(&mut page.items, req.now).await;
        if page.newest.is_none()
            && req.resume.is_none()
            && req.floor.id.is_none()
            && path.contains("/timelines/tag/")
        {
            page.note = Some(format!(
                "nothing in this timeline on {} within the backfill window: nobody used the tag, or the instance \
                 disables public hashtag timelines (a token may be needed)",
                self.host
            ));
        }
        Ok(page)
    }

    async fn search(&self, req: PageRequest<'_>, terms: &str) -> Result<Page, SourceError> {
        let mut url = self.endpoint("/api/v2/search")?;
        url.query_pairs_mut()
            .append_pair("q", terms)
            .append_pair("type", "statuses")
            .append_pair("limit", &PAGE.to_string())
            .append_pair("resolve", "false");
        let resp = self
            .http
            .send(self.get(url), RateHeaders::Mastodon, req.now)
            .await?;
        let raw: SearchResults = resp.json()?;
        let mut seen: VecDeque<String> =
            serde_json::from_value(req.state.get("seen").cloned().unwrap_or_default())
                .unwrap_or_default();
        let mut page = Page {
            rate: resp.rate,
            ..Default::default()
        };
        for value in raw.statuses {
            let status: Status = match serde_json::from_value(value) {
                Ok(s) => s,
                Err(e) => {
                    page.skipped.push(format!("unreadable status: {e}"));
                    continue;
                }
            };
            let status = status.unwrap_boost();
            if seen.contains(&status.uri) || status.created_at < req.floor.time {
                continue;
            }
            seen.push_back(status.uri.clone());
            match self.item(status) {
                Ok(item) => page.items.push(item),
                Err(reason) => page.skipped.push(reason),
            }
        }
        while seen.len() > SEEN_CAP {
            seen.pop_front();
        }
        self.resolve_reply_targets(&mut page.items, req.now).await;
        page.state = Some(serde_json::json!({ "seen": seen }));
        Ok(page)
    }

    fn item(&self, status: Status) -> Result<Item, String> {
        let s = status.unwrap_boost();
        // Direct and followers-only posts (which reach an account's notifications and its
        // search) are private: they are not analysts' data.
        if !matches!(
            s.visibility.as_deref(),
            None | Some("public") | Some("unlisted")
        ) {
            return Err(format!("status {} is not public", s.id));
        }
        if s.uri.trim().is_empty() {
            return Err(format!("status {} has no uri", s.id));
        }
        let mut text = String::new();
        if !s.spoiler_text.trim().is_empty() {
            text.push_str(&s.spoiler_text);
            text.push('\n');
        }
        text.push_str(&s.content);
        let author = s.account.as_ref().map(|a| {
            if a.acct.contains('@') {
                a.acct.clone()
            } else {
                format!("{}@{}", a.acct, self.host)
            }
        });
        let mut engagement = std::collections::BTreeMap::new();
        for (k, v) in [
            ("favourites", s.favourites_count),
            ("reblogs", s.reblogs_count),
            ("replies", s.replies_count),
        ] {
            if let Some(v) = v {
                engagement.insert(k.to_string(), v);
            }
        }
        let mention = Mention {
            source: "mastodon".into(),
            external_id: s.uri.clone(),
            text,
            created_at: s.created_at,
            url: s.url.clone().or(Some(s.uri.clone())),
            author,
            author_followers: s.account.as_ref().and_then(|a| a.followers_count),
            lang: s.language.as_deref().and_then(normalise_lang_tag),
            reply_to: s.in_reply_to_id.clone(),
            engagement,
        };
        mention
            .validated()
            .map(Item::new)
            .map_err(|e| format!("status {}: {e}", s.id))
    }
}

impl Source for Mastodon {
    fn id(&self) -> &str {
        &self.id
    }

    fn platform(&self) -> &'static str {
        "mastodon"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn queries(&self) -> Vec<String> {
        self.queries.clone()
    }

    fn fetch<'a>(&'a self, req: PageRequest<'a>) -> BoxFuture<'a, Result<Page, SourceError>> {
        Box::pin(async move {
            if let Some(tag) = req.query.strip_prefix("tag:") {
                let path = format!("/api/v1/timelines/tag/{}", urlencode_segment(tag));
                self.timeline(req, &path, false).await
            } else if req.query == "notifications" {
                self.timeline(req, "/api/v1/notifications", true).await
            } else if let Some(terms) = req.query.strip_prefix("search:") {
                self.search(req, terms).await
            } else if let Some(acct) = req.query.strip_prefix("account:") {
                let id = self.account_id(acct, req.now).await?;
                let path = format!("/api/v1/accounts/{}/statuses", urlencode_segment(&id));
                self.timeline(req, &path, false).await
            } else {
                Err(SourceError::Permanent(format!(
                    "unknown query {:?}",
                    req.query
                )))
            }
        })
    }
}

fn urlencode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[derive(Debug, Deserialize)]
struct SearchResults {
    #[serde(default)]
    statuses: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Notification {
    id: String,
    created_at: DateTime<Utc>,
    status: Option<Status>,
}

#[derive(Debug, Clone, Deserialize)]
struct Account {
    acct: String,
    /// Servers send -1 when the user hides it.
    #[serde(default, deserialize_with = "lenient_count")]
    followers_count: Option<u64>,
}

/// A count that may be missing, null, negative (hidden) or not a number: only a usable one
/// is kept, and a broken one never rejects the post.
fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_i64().and_then(|n| u64::try_from(n).ok()))
}

/// Mastodon ids are snowflakes (milliseconds << 16) assigned from the published time, so a
/// remote post that federates late gets an id below newer local ones. Asking from a little
/// before the newest post seen keeps those; posts already stored are not stored again.
/// Notification ids are assigned on arrival, and non-numeric ids (other servers) are used as
/// they are.
fn since_id(id: &str, time: DateTime<Utc>, notifications: bool) -> String {
    if notifications || !id.bytes().all(|b| b.is_ascii_digit()) || id.len() < 15 {
        return id.to_string();
    }
    let ms = (time - FEDERATION_SLACK).timestamp_millis().max(0) as u64;
    (ms << 16).to_string()
}

/// How far back each poll of a timeline looks again for posts that federated late.
const FEDERATION_SLACK: chrono::Duration = chrono::Duration::minutes(15);

#[derive(Debug, Clone, Deserialize)]
struct Status {
    id: String,
    created_at: DateTime<Utc>,
    uri: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    content: String,
    #[serde(default)]
    spoiler_text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    in_reply_to_id: Option<String>,
    #[serde(default)]
    account: Option<Account>,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default, deserialize_with = "lenient_count")]
    replies_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    reblogs_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    favourites_count: Option<u64>,
    #[serde(default)]
    reblog: Option<Box<Status>>,
}

impl Status {
    /// A boost carries the boosted post in `reblog`: that post is the mention.
    fn unwrap_boost(self) -> Status {
        match self.reblog {
            Some(inner) => inner.unwrap_boost(),
            None => self,
        }
    }
}
