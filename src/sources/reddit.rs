//! Reddit: with a script app's credentials, the OAuth API's site-wide search (`/search`,
//! `sort=new`, paging with `after`); without them, the public search RSS feed, polled slowly
//! (Reddit throttles anonymous clients hard).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::http::{Http, RateHeaders};
use super::{Item, Page, PageRequest, Position, Resume, Source, SourceError, brand_keywords};
use crate::config::{BrandConfig, RedditConfig, RedditCredentials};
use crate::mention::Mention;

const PAGE: usize = 100;
/// How far below the floor each round looks again, for posts indexed late.
const INDEX_SLACK: chrono::Duration = chrono::Duration::minutes(30);

struct Token {
    value: SecretString,
    expires_at: DateTime<Utc>,
}

pub struct Reddit {
    id: String,
    http: Http,
    api: Url,
    www: Url,
    credentials: Option<RedditCredentials>,
    user_agent: Option<String>,
    interval: Duration,
    queries: Vec<String>,
    token: Mutex<Option<Token>>,
}

impl Reddit {
    pub fn new(http: Http, config: &RedditConfig, brands: &[BrandConfig]) -> Reddit {
        let mut terms = brand_keywords(brands);
        // A brand known only by hashtags is searched by the hashtag's word.
        for b in brands.iter().filter(|b| b.keywords.is_empty()) {
            for h in &b.hashtags {
                if !terms.iter().any(|t| t.eq_ignore_ascii_case(h)) {
                    terms.push(h.clone());
                }
            }
        }
        let public = config.credentials.is_none();
        Reddit {
            id: if public {
                "reddit:public".into()
            } else {
                "reddit".into()
            },
            http,
            api: config.api_url.clone(),
            www: config.www_url.clone(),
            credentials: config.credentials.clone(),
            user_agent: config.user_agent.clone(),
            interval: if public {
                config.public_interval
            } else {
                config.interval
            },
            queries: terms.into_iter().map(|t| format!("search:{t}")).collect(),
            token: Mutex::new(None),
        }
    }

    fn with_agent(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.user_agent {
            Some(ua) => req.header(reqwest::header::USER_AGENT, ua),
            None => req,
        }
    }

    async fn access_token(
        &self,
        creds: &RedditCredentials,
        now: DateTime<Utc>,
    ) -> Result<SecretString, SourceError> {
        let mut token = self.token.lock().await;
        if let Some(t) = token.as_ref().filter(|t| t.expires_at > now) {
            return Ok(t.value.clone());
        }
        let url = self
            .www
            .join("/api/v1/access_token")
            .map_err(|e| SourceError::Permanent(e.to_string()))?;
        let req = self
            .with_agent(self.http.client().post(url))
            .basic_auth(&creds.client_id, Some(creds.client_secret.expose_secret()))
            .form(&[("grant_type", "client_credentials")]);
        let resp = self.http.send(req, RateHeaders::Reddit, now).await?;
        let t: TokenResponse = resp.json()?;
        if let Some(err) = t.error {
            return Err(SourceError::Auth(format!("token request refused: {err}")));
        }
        let value = SecretString::from(t.access_token.ok_or_else(|| {
            SourceError::Malformed("no access_token in the token response".into())
        })?);
        // Renew a minute early so a request never carries a token that expires in flight.
        let expires_at = now
            + chrono::Duration::seconds(
                t.expires_in.unwrap_or(3600).saturating_sub(60).max(60) as i64
            );
        *token = Some(Token {
            value: value.clone(),
            expires_at,
        });
        Ok(value)
    }

    async fn search_api(
        &self,
        req: PageRequest<'_>,
        creds: &RedditCredentials,
        terms: &str,
    ) -> Result<Page, SourceError> {
        match self.search_api_once(req, creds, terms).await {
            // A token revoked or expired early: one fresh token before calling it a failure.
            Err(SourceError::Auth(_)) => self.search_api_once(req, creds, terms).await,
            other => other,
        }
    }

    async fn search_api_once(
        &self,
        req: PageRequest<'_>,
        creds: &RedditCredentials,
        terms: &str,
    ) -> Result<Page, SourceError> {
        let token = self.access_token(creds, req.now).await?;
        let mut url = self
            .api
            .join("/search")
            .map_err(|e| SourceError::Permanent(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("q", terms)
                .append_pair("sort", "new")
                .append_pair("limit", &PAGE.to_string())
                .append_pair("raw_json", "1")
                .append_pair("type", "link");
            if let Some(after) = req.resume.and_then(|r| r.token.as_ref()) {
                q.append_pair("after", after);
            }
        }
        let http_req = self
            .with_agent(self.http.client().get(url))
            .bearer_auth(token.expose_secret());
        let resp = match self.http.send(http_req, RateHeaders::Reddit, req.now).await {
            Err(SourceError::Auth(m)) => {
                // An expired or revoked token: get a new one next time.
                *self.token.lock().await = None;
                return Err(SourceError::Auth(m));
            }
            other => other?,
        };
        let listing: Listing = resp.json()?;
        let mut page = Page {
            rate: resp.rate,
            ..Default::default()
        };
        let n = listing.data.children.len();
        // Search indexes posts with a delay (and moderators approve some late): look a little
        // below the floor; posts already stored are not stored again.
        let floor = req.floor.time - INDEX_SLACK;
        let mut oldest: Option<Position> = None;
        for child in listing.data.children {
            let thing: Thing = match serde_json::from_value(child) {
                Ok(t) => t,
                Err(e) => {
                    page.skipped.push(format!("unreadable listing item: {e}"));
                    continue;
                }
            };
            let Some(time) = DateTime::from_timestamp(thing.data.created_utc as i64, 0) else {
                page.skipped
                    .push(format!("{}: bad created_utc", thing.data.name));
                continue;
            };
            let position = Position {
                time,
                id: Some(thing.data.name.clone()),
            };
            if page.newest.as_ref().is_none_or(|n| n.time < time) {
                page.newest = Some(position.clone());
            }
            if oldest.as_ref().is_none_or(|o| o.time > time) {
                oldest = Some(position);
            }
            if time < floor {
                continue;
            }
            match thing.into_mention(&self.www) {
                Ok(m) => page.items.push(Item::new(m)),
                Err(reason) => page.skipped.push(reason),
            }
        }
        // Listings may be shorter than asked and still go on: `after` says whether they do.
        let reached_floor = oldest.as_ref().is_some_and(|o| o.time < floor);
        if n > 0 && !reached_floor {
            if let Some(after) = listing.data.after {
                page.next = Some(Resume {
                    token: Some(after),
                    before: oldest,
                });
            }
        }
        Ok(page)
    }

    /// The anonymous fallback: Reddit's search as an Atom feed (newest 100 posts, no paging).
    async fn search_rss(&self, req: PageRequest<'_>, terms: &str) -> Result<Page, SourceError> {
        let mut url = self
            .www
            .join("/search.rss")
            .map_err(|e| SourceError::Permanent(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("q", terms)
            .append_pair("sort", "new")
            .append_pair("limit", &PAGE.to_string());
        let resp = self
            .http
            .send(
                self.with_agent(self.http.client().get(url)),
                RateHeaders::Reddit,
                req.now,
            )
            .await?;
        let mut page =
            super::rss::parse_entries(&resp.body, "reddit", "", req.floor.time, req.now)?;
        page.rate = resp.rate;
        for item in &mut page.items {
            // Atom ids are the fullnames (t3_...); authors are written /u/name.
            item.mention.author = item
                .mention
                .author
                .take()
                .map(|a| a.trim_start_matches("/u/").to_string());
        }
        Ok(page)
    }
}

impl Source for Reddit {
    fn id(&self) -> &str {
        &self.id
    }

    fn platform(&self) -> &'static str {
        "reddit"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn queries(&self) -> Vec<String> {
        self.queries.clone()
    }

    fn fetch<'a>(&'a self, req: PageRequest<'a>) -> BoxFuture<'a, Result<Page, SourceError>> {
        Box::pin(async move {
            let Some(terms) = req.query.strip_prefix("search:") else {
                return Err(SourceError::Permanent(format!(
                    "unknown query {:?}",
                    req.query
                )));
            };
            match &self.credentials {
                Some(creds) => self.search_api(req, creds, terms).await,
                None => self.search_rss(req, terms).await,
            }
        })
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Deserialize)]
struct ListingData {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    children: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Thing {
    kind: String,
    data: ThingData,
}

#[derive(Deserialize)]
struct ThingData {
    name: String,
    created_utc: f64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    selftext: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
    #[serde(default)]
    score: Option<i64>,
    #[serde(default)]
    num_comments: Option<u64>,
    #[serde(default)]
    parent_id: Option<String>,
}

impl Thing {
    fn into_mention(self, www: &Url) -> Result<Mention, String> {
        let d = self.data;
        let text = match self.kind.as_str() {
            "t3" => {
                let mut t = d.title.clone().unwrap_or_default();
                if let Some(body) = d.selftext.as_deref().filter(|s| !s.trim().is_empty()) {
                    t.push('\n');
                    t.push_str(body);
                }
                t
            }
            "t1" => d.body.clone().unwrap_or_default(),
            other => return Err(format!("{}: unexpected kind {other}", d.name)),
        };
        let mut engagement = std::collections::BTreeMap::new();
        if let Some(score) = d.score {
            engagement.insert("score".to_string(), score.max(0) as u64);
        }
        if let Some(n) = d.num_comments {
            engagement.insert("comments".to_string(), n);
        }
        Mention {
            source: "reddit".into(),
            external_id: d.name.clone(),
            text,
            created_at: DateTime::from_timestamp(d.created_utc as i64, 0).ok_or("bad time")?,
            url: d
                .permalink
                .as_deref()
                .and_then(|p| www.join(p).ok())
                .map(|u| {
                    let mut u = u;
                    // Search results carry a tracking parameter (?ref=search_posts).
                    u.set_query(None);
                    u.to_string()
                }),
            author: d.author.filter(|a| a != "[deleted]"),
            author_followers: None,
            lang: None,
            reply_to: if self.kind == "t1" { d.parent_id } else { None },
            engagement,
        }
        .validated()
        .map_err(|e| format!("{}: {e}", d.name))
    }
}
