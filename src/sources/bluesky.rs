//! Bluesky: `app.bsky.feed.searchPosts` through the account's PDS. Since 2025 search needs a
//! login, so the source opens a session with an app password (`createSession`, which Bluesky
//! limits to 30 per 5 minutes: the session is cached and renewed with `refreshSession`), then
//! searches each brand term with `sort=latest` and `since`. Post views carry no follower
//! counts: they are fetched with `app.bsky.actor.getProfiles` in batches of 25 and cached.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::http::{Http, RateHeaders};
use super::{Item, Page, PageRequest, Position, Resume, Source, SourceError};
use crate::config::{BlueskyConfig, BrandConfig};
use crate::mention::{Mention, normalise_lang_tag};

const PAGE: usize = 100;
/// Posts dated further in the future than this are stored with the time they were indexed.
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// Bluesky allows 30 createSession calls per 5 minutes per account; stay well below.
const SESSIONS_PER_WINDOW: usize = 10;
const SESSION_WINDOW: chrono::Duration = chrono::Duration::minutes(5);
/// Follower counts change slowly; a day-old count is good enough to rank reach.
const PROFILE_TTL: chrono::Duration = chrono::Duration::hours(24);
/// `since` reaches this far below the floor: the search filters on its own sort time, which
/// may differ slightly from the post's creation time. Re-fetched posts are not stored twice.
const SINCE_SLACK: chrono::Duration = chrono::Duration::minutes(10);

struct Session {
    access: SecretString,
    refresh: SecretString,
    /// The PDS that serves this account (from the DID document), else the configured service.
    pds: Url,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    created: VecDeque<DateTime<Utc>>,
    /// DID -> follower count (None: the profile was not returned) and when it was fetched.
    followers: HashMap<String, (Option<u64>, DateTime<Utc>)>,
}

pub struct Bluesky {
    id: String,
    http: Http,
    service: Url,
    identifier: String,
    password: SecretString,
    interval: Duration,
    queries: Vec<String>,
    state: Mutex<State>,
}

impl Bluesky {
    pub fn new(http: Http, config: &BlueskyConfig, brands: &[BrandConfig]) -> Bluesky {
        let mut queries: Vec<String> = Vec::new();
        let mut add = |q: String| {
            if !queries.iter().any(|x| x.eq_ignore_ascii_case(&q)) {
                queries.push(q);
            }
        };
        for b in brands {
            for k in &b.keywords {
                // A phrase is searched as a phrase.
                add(if k.contains(char::is_whitespace) {
                    format!("search:\"{k}\"")
                } else {
                    format!("search:{k}")
                });
            }
            for h in &b.hashtags {
                add(format!("search:#{h}"));
            }
            for h in &b.handles {
                // Bluesky handles are domain names; fediverse and X handles are left to others.
                if h.contains('.') && !h.contains('@') {
                    add(format!("mentions:{h}"));
                    // The brand's own posts, replies included: what response figures count.
                    add(format!("author:{h}"));
                }
            }
        }
        Bluesky {
            id: format!("bluesky:{}", config.identifier),
            http,
            service: config.service.clone(),
            identifier: config.identifier.clone(),
            password: config.app_password.clone(),
            interval: config.interval,
            queries,
            state: Mutex::new(State::default()),
        }
    }

    fn xrpc(base: &Url, method: &str) -> Result<Url, SourceError> {
        base.join(&format!("/xrpc/{method}"))
            .map_err(|e| SourceError::Permanent(format!("bad URL for {method}: {e}")))
    }

    async fn create_session(
        &self,
        state: &mut State,
        now: DateTime<Utc>,
    ) -> Result<(), SourceError> {
        while state
            .created
            .front()
            .is_some_and(|t| *t < now - SESSION_WINDOW)
        {
            state.created.pop_front();
        }
        if state.created.len() >= SESSIONS_PER_WINDOW {
            let retry_at = state.created.front().map(|t| *t + SESSION_WINDOW);
            return Err(SourceError::RateLimited {
                retry_at,
                message: "too many logins in 5 minutes (Bluesky allows 30)".into(),
            });
        }
        state.created.push_back(now);
        let url = Self::xrpc(&self.service, "com.atproto.server.createSession")?;
        let body = serde_json::json!({ "identifier": self.identifier, "password": self.password.expose_secret() });
        let resp = match self
            .http
            .send(
                self.http.client().post(url).json(&body),
                RateHeaders::Draft,
                now,
            )
            .await
        {
            // A wrong identifier or password is answered with 401 (or 400 AuthenticationRequired).
            Err(SourceError::Permanent(m))
                if m.contains("AuthenticationRequired") || m.contains("AuthFactor") =>
            {
                return Err(SourceError::Auth(m));
            }
            other => other?,
        };
        let s: SessionResponse = resp.json()?;
        state.session = Some(Session {
            access: SecretString::from(s.access_jwt),
            refresh: SecretString::from(s.refresh_jwt),
            pds: s
                .did_doc
                .as_ref()
                .and_then(pds_endpoint)
                .unwrap_or_else(|| self.service.clone()),
        });
        tracing::info!(source = %self.id, "logged in to Bluesky");
        Ok(())
    }

    /// Renews the session with its refresh token; falls back to a new login.
    async fn refresh_session(
        &self,
        state: &mut State,
        now: DateTime<Utc>,
    ) -> Result<(), SourceError> {
        let Some(session) = state.session.take() else {
            return self.create_session(state, now).await;
        };
        let url = Self::xrpc(&session.pds, "com.atproto.server.refreshSession")?;
        let req = self
            .http
            .client()
            .post(url)
            .bearer_auth(session.refresh.expose_secret());
        match self.http.send(req, RateHeaders::Draft, now).await {
            Ok(resp) => {
                let s: SessionResponse = resp.json()?;
                state.session = Some(Session {
                    access: SecretString::from(s.access_jwt),
                    refresh: SecretString::from(s.refresh_jwt),
                    pds: s
                        .did_doc
                        .as_ref()
                        .and_then(pds_endpoint)
                        .unwrap_or(session.pds),
                });
                Ok(())
            }
            Err(SourceError::RateLimited { retry_at, message }) => {
                Err(SourceError::RateLimited { retry_at, message })
            }
            Err(_) => self.create_session(state, now).await,
        }
    }

    /// Runs an authenticated GET, logging in or refreshing the session as needed.
    async fn get(
        &self,
        method: &str,
        params: &[(&str, String)],
        now: DateTime<Utc>,
    ) -> Result<super::http::Response, SourceError> {
        let mut state = self.state.lock().await;
        if state.session.is_none() {
            self.create_session(&mut state, now).await?;
        }
        for attempt in 0..2 {
            let session = state.session.as_ref().expect("session set above");
            let url = Self::xrpc(&session.pds, method)?;
            let req = self
                .http
                .client()
                .get(url)
                .query(params)
                .bearer_auth(session.access.expose_secret());
            match self.http.send(req, RateHeaders::Draft, now).await {
                Err(e) if attempt == 0 && is_expired(&e) => {
                    self.refresh_session(&mut state, now).await?
                }
                other => return other,
            }
        }
        Err(SourceError::Auth(
            "the session expired again right after renewing it".into(),
        ))
    }

    async fn followers(&self, dids: &[String], now: DateTime<Utc>) -> HashMap<String, u64> {
        let mut known = HashMap::new();
        let mut missing = Vec::new();
        {
            let state = self.state.lock().await;
            for did in dids {
                match state.followers.get(did) {
                    Some((Some(n), at)) if *at > now - PROFILE_TTL => {
                        known.insert(did.clone(), *n);
                    }
                    Some((None, at)) if *at > now - PROFILE_TTL => {}
                    _ if !missing.contains(did) => missing.push(did.clone()),
                    _ => {}
                }
            }
        }
        for batch in missing.chunks(25) {
            let params: Vec<(&str, String)> = batch.iter().map(|d| ("actors", d.clone())).collect();
            let profiles = match self
                .get("app.bsky.actor.getProfiles", &params, now)
                .await
                .and_then(|r| r.json::<Profiles>())
            {
                Ok(p) => p.profiles,
                Err(e) => {
                    // Reach is a nice-to-have: the posts are stored without it.
                    tracing::warn!(source = %self.id, error = %e, "cannot fetch follower counts");
                    break;
                }
            };
            let mut state = self.state.lock().await;
            // Asked-for profiles that did not come back are remembered as unknown, so they are
            // not asked for again on every page.
            for did in batch {
                state.followers.insert(did.clone(), (None, now));
            }
            for p in profiles {
                state
                    .followers
                    .insert(p.did.clone(), (p.followers_count, now));
                if let Some(n) = p.followers_count {
                    known.insert(p.did, n);
                }
            }
        }
        known
    }

    async fn search(&self, req: PageRequest<'_>) -> Result<Page, SourceError> {
        let (param, value) = match req.query.split_once(':') {
            Some(("search", q)) => ("q", q.to_string()),
            Some(("mentions", handle)) => ("mentions", handle.to_string()),
            Some(("author", handle)) => ("actor", handle.to_string()),
            _ => {
                return Err(SourceError::Permanent(format!(
                    "unknown query {:?}",
                    req.query
                )));
            }
        };
        let author_feed = param == "actor";
        let mut params = if author_feed {
            // An account's own posts, newest first; the floor below ends the round.
            vec![
                ("filter", "posts_with_replies".to_string()),
                ("limit", PAGE.to_string()),
            ]
        } else {
            vec![
                ("sort", "latest".to_string()),
                ("limit", PAGE.to_string()),
                (
                    "since",
                    (req.floor.time - SINCE_SLACK)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ),
            ]
        };
        if param == "mentions" {
            // `q` is required; the handle itself is what posts mentioning it contain.
            params.push(("q", value.clone()));
        }
        params.push((param, value));
        if let Some(token) = req.resume.and_then(|r| r.token.clone()) {
            params.push(("cursor", token));
        }
        let method = if author_feed {
            "app.bsky.feed.getAuthorFeed"
        } else {
            "app.bsky.feed.searchPosts"
        };
        let resp = self.get(method, &params, req.now).await?;
        let raw: SearchPosts = if author_feed {
            let feed: AuthorFeed = resp.json()?;
            SearchPosts {
                cursor: feed.cursor,
                // A repost (with a `reason`) is someone else's post.
                posts: feed
                    .feed
                    .into_iter()
                    .filter(|e| e.get("reason").is_none())
                    .filter_map(|e| e.get("post").cloned())
                    .collect(),
            }
        } else {
            resp.json()?
        };
        let mut page = Page {
            rate: resp.rate,
            ..Default::default()
        };
        let mut posts = Vec::new();
        let n = raw.posts.len();
        for value in raw.posts {
            match serde_json::from_value::<PostView>(value) {
                Ok(p) => posts.push(p),
                Err(e) => page.skipped.push(format!("unreadable post: {e}")),
            }
        }
        let dids: Vec<String> = posts.iter().map(|p| p.author.did.clone()).collect();
        let followers = if dids.is_empty() {
            HashMap::new()
        } else {
            self.followers(&dids, req.now).await
        };
        let mut oldest: Option<DateTime<Utc>> = None;
        for p in posts {
            let sort_at = p.sort_at();
            page.newest = Some(match page.newest.take() {
                Some(n) if n.time >= sort_at => n,
                _ => Position::at(sort_at),
            });
            oldest = Some(oldest.map_or(sort_at, |o| o.min(sort_at)));
            if sort_at < req.floor.time - SINCE_SLACK {
                continue;
            }
            let did = p.author.did.clone();
            match p.into_mention(followers.get(&did).copied()) {
                Ok(m) => page.items.push(Item::new(m)),
                Err(reason) => page.skipped.push(reason),
            }
        }
        // The AppView filters results after the search, so a short page is not the end: go on
        // while it hands out a cursor and posts (the `since` bound ends the round with an empty
        // page).
        let reached_floor = oldest.is_some_and(|o| o < req.floor.time - SINCE_SLACK);
        if n > 0 && !reached_floor {
            if let Some(cursor) = raw.cursor {
                page.next = Some(Resume {
                    token: Some(cursor),
                    before: oldest.map(Position::at),
                });
            }
        }
        Ok(page)
    }
}

fn is_expired(e: &SourceError) -> bool {
    match e {
        SourceError::Permanent(m) | SourceError::Auth(m) => {
            m.contains("ExpiredToken") || m.contains("InvalidToken")
        }
        _ => false,
    }
}

/// The `#atproto_pds` service endpoint of a DID document.
fn pds_endpoint(doc: &serde_json::Value) -> Option<Url> {
    doc.get("service")?
        .as_array()?
        .iter()
        .find(|s| {
            s.get("id")
                .and_then(|i| i.as_str())
                .is_some_and(|i| i.ends_with("#atproto_pds"))
        })
        .and_then(|s| s.get("serviceEndpoint")?.as_str())
        .and_then(|u| Url::parse(u).ok())
}

impl Source for Bluesky {
    fn id(&self) -> &str {
        &self.id
    }

    fn platform(&self) -> &'static str {
        "bluesky"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn queries(&self) -> Vec<String> {
        self.queries.clone()
    }

    fn fetch<'a>(&'a self, req: PageRequest<'a>) -> BoxFuture<'a, Result<Page, SourceError>> {
        Box::pin(self.search(req))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionResponse {
    access_jwt: String,
    refresh_jwt: String,
    #[serde(default)]
    did_doc: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct SearchPosts {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    posts: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct AuthorFeed {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    feed: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Profiles {
    #[serde(default)]
    profiles: Vec<Profile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    did: String,
    #[serde(default)]
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct Author {
    did: String,
    handle: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    text: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    langs: Vec<String>,
    #[serde(default)]
    reply: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostView {
    uri: String,
    author: Author,
    record: Record,
    indexed_at: DateTime<Utc>,
    #[serde(default)]
    like_count: Option<u64>,
    #[serde(default)]
    repost_count: Option<u64>,
    #[serde(default)]
    reply_count: Option<u64>,
    #[serde(default)]
    quote_count: Option<u64>,
}

impl PostView {
    /// The time search sorts and filters on: the earlier of creation and indexing (a post
    /// cannot claim to come from the future).
    fn sort_at(&self) -> DateTime<Utc> {
        self.record
            .created_at
            .map_or(self.indexed_at, |c| c.min(self.indexed_at))
    }

    fn into_mention(self, followers: Option<u64>) -> Result<Mention, String> {
        let rkey = self.uri.rsplit('/').next().unwrap_or_default().to_string();
        let mut engagement = std::collections::BTreeMap::new();
        for (k, v) in [
            ("likes", self.like_count),
            ("reposts", self.repost_count),
            ("replies", self.reply_count),
            ("quotes", self.quote_count),
        ] {
            if let Some(v) = v {
                engagement.insert(k.to_string(), v);
            }
        }
        let reply_to = self
            .record
            .reply
            .as_ref()
            .and_then(|r| r.get("parent")?.get("uri")?.as_str().map(str::to_string));
        Mention {
            source: "bluesky".into(),
            external_id: self.uri.clone(),
            text: self.record.text.clone(),
            // The creation time is the client's word; a post cannot come from the future.
            created_at: self
                .record
                .created_at
                .filter(|c| *c <= self.indexed_at + MAX_CLOCK_SKEW)
                .unwrap_or(self.indexed_at),
            url: Some(format!(
                "https://bsky.app/profile/{}/post/{rkey}",
                self.author.handle
            )),
            author: Some(self.author.handle.clone()),
            author_followers: followers,
            lang: self
                .record
                .langs
                .first()
                .and_then(|l| normalise_lang_tag(l)),
            reply_to,
            engagement,
        }
        .validated()
        .map_err(|e| format!("post {}: {e}", self.uri))
    }
}
