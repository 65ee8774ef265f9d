//! A small simulated social network on 127.0.0.1 that speaks the Mastodon, Bluesky, Reddit,
//! Hacker News (Algolia), RSS and X APIs that mentiond polls, with the same response shapes as
//! the real platforms (see `../shared/fixtures/apis/`). It serves a list of posts, each visible
//! once its time has come on the simulator's clock, with real paging semantics (ids, cursors,
//! time filters), and can inject faults (status codes, delays) to exercise the daemon.
//!
//! `mentiond demo` runs the daemon against it; the integration tests use it for end-to-end
//! runs (restart, shutdown, alerts, digests) instead of duplicating fixtures.

mod render;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::text::fold;

/// The platforms the simulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Mastodon,
    Bluesky,
    Reddit,
    Hackernews,
    Rss,
    X,
}

/// One post of the simulated world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimPost {
    pub platform: Platform,
    pub created_at: DateTime<Utc>,
    pub author: String,
    #[serde(default)]
    pub followers: u64,
    pub text: String,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub likes: u64,
    #[serde(default)]
    pub reposts: u64,
    #[serde(default)]
    pub replies: u64,
    /// RSS only: the feed (`/feeds/<name>`) the entry belongs to.
    #[serde(default)]
    pub feed: Option<String>,
    /// Assigned by the world: increasing with time, the basis of every platform id.
    #[serde(skip)]
    pub seq: u64,
}

/// A fault to inject into the next matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Applies to requests whose path starts with this.
    pub path_prefix: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How many requests it affects.
    pub times: u32,
}

/// A request the simulator received.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub path: String,
    pub query: String,
    pub at: DateTime<Utc>,
}

/// The state behind the server.
pub struct World {
    posts: Mutex<Vec<SimPost>>,
    clock: Arc<dyn Clock>,
    faults: Mutex<VecDeque<Fault>>,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<Request>>,
    next_seq: Mutex<u64>,
    host: Mutex<String>,
}

impl World {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<World> {
        Arc::new(World {
            posts: Mutex::new(Vec::new()),
            clock,
            faults: Mutex::new(VecDeque::new()),
            delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            // Snowflake-sized ids, like Mastodon's and X's.
            next_seq: Mutex::new(110_000_000_000_000_000),
            host: Mutex::new("127.0.0.1".into()),
        })
    }

    /// Adds posts; they become visible when the clock reaches their time.
    pub fn add_posts(&self, new: impl IntoIterator<Item = SimPost>) {
        let mut posts = self.posts.lock().expect("posts");
        let mut seq = self.next_seq.lock().expect("seq");
        let mut new: Vec<SimPost> = new.into_iter().collect();
        new.sort_by_key(|p| p.created_at);
        for mut p in new {
            // Snowflake-like, as Mastodon and X assign them: the published time in
            // milliseconds, shifted, plus a little noise.
            let ms = p.created_at.timestamp_millis().max(0) as u64;
            *seq = (*seq + 1).max((ms << 16) + fastrand::u64(0..1000));
            p.seq = *seq;
            posts.push(p);
        }
        // Ids served before never change; a post added later with an old time gets an id
        // below newer ones, as a post that federates late does.
        posts.sort_by_key(|p| (p.created_at, p.seq));
    }

    /// Posts visible now, oldest first.
    pub fn visible(&self, platform: Platform) -> Vec<SimPost> {
        let now = self.clock.now();
        self.posts
            .lock()
            .expect("posts")
            .iter()
            .filter(|p| p.platform == platform && p.created_at <= now)
            .cloned()
            .collect()
    }

    pub fn inject(&self, fault: Fault) {
        self.faults.lock().expect("faults").push_back(fault);
    }

    /// Every response is delayed by this much (to make paging slow enough to interrupt).
    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().expect("delay") = d;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests").clone()
    }

    pub fn requests_to(&self, prefix: &str) -> usize {
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    }

    fn base(&self) -> String {
        format!("http://{}", self.host.lock().expect("host"))
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().expect("faults");
        let i = faults
            .iter()
            .position(|f| path.starts_with(&f.path_prefix))?;
        let f = &mut faults[i];
        f.times = f.times.saturating_sub(1);
        let out = f.clone();
        if f.times == 0 {
            faults.remove(i);
        }
        Some(out)
    }
}

/// A running simulator.
pub struct Simulator {
    pub world: Arc<World>,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Starts the server on 127.0.0.1 (port 0: any free port).
    pub async fn start(world: Arc<World>) -> std::io::Result<Simulator> {
        Self::start_on(world, "127.0.0.1:0").await
    }

    pub async fn start_on(world: Arc<World>, addr: &str) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        *world.host.lock().expect("host") = addr.to_string();
        let app = router(world.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Simulator { world, addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

type Params = Vec<(String, String)>;

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/api/v1/timelines/tag/{tag}", get(mastodon_tag))
        .route("/api/v2/search", get(mastodon_search))
        .route("/xrpc/com.atproto.server.createSession", post(bsky_session))
        .route(
            "/xrpc/com.atproto.server.refreshSession",
            post(bsky_session),
        )
        .route("/xrpc/app.bsky.feed.searchPosts", get(bsky_search))
        .route("/xrpc/app.bsky.actor.getProfiles", get(bsky_profiles))
        .route("/api/v1/access_token", post(reddit_token))
        .route("/search", get(reddit_search))
        .route("/search.rss", get(reddit_rss))
        .route("/api/v1/search_by_date", get(hn_search))
        .route("/feeds/{name}", get(rss_feed))
        .route("/2/tweets/search/recent", get(x_search))
        .with_state(world)
}

/// Records the request, applies the delay and any injected fault.
async fn intercept(world: &World, path: &str, params: &Params) -> Option<Response> {
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    world.requests.lock().expect("requests").push(Request {
        path: path.to_string(),
        query,
        at: world.clock.now(),
    });
    let delay = *world.delay.lock().expect("delay");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = world.take_fault(path)?;
    let mut headers = HeaderMap::new();
    for (k, v) in &fault.headers {
        if let (Ok(k), Ok(v)) = (k.parse::<axum::http::HeaderName>(), v.parse()) {
            headers.insert(k, v);
        }
    }
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some((status, headers, fault.body).into_response())
}

fn json(body: serde_json::Value, extra: &[(&str, String)]) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        "application/json; charset=utf-8".parse().expect("header"),
    );
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (k.parse::<axum::http::HeaderName>(), v.parse()) {
            headers.insert(k, v);
        }
    }
    (StatusCode::OK, headers, body.to_string()).into_response()
}

/// Whether a post matches a search: every quoted phrase or word, accent- and case-insensitive.
fn matches_terms(text: &str, query: &str) -> bool {
    let hay = fold(text);
    let terms = parse_terms(query);
    !terms.is_empty() && terms.iter().all(|t| hay.contains(&fold(t)))
}

/// `"acme coffee" late` -> [`acme coffee`, `late`].
fn parse_terms(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = query.trim();
    while !rest.is_empty() {
        let (negated, body) = match rest.strip_prefix("-\"") {
            Some(after) => (true, Some(after)),
            None => (false, rest.strip_prefix('"')),
        };
        if let Some(after) = body {
            let end = after.find('"').unwrap_or(after.len());
            out.push(format!(
                "{}{}",
                if negated { "-" } else { "" },
                &after[..end]
            ));
            rest = after.get(end + 1..).unwrap_or("").trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    out.retain(|t| !t.is_empty());
    out
}

fn has_tag(text: &str, tag: &str) -> bool {
    let want = fold(tag.trim_start_matches('#'));
    fold(text)
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#'))
        .any(|w| w.strip_prefix('#') == Some(want.as_str()))
}

async fn mastodon_tag(
    State(world): State<Arc<World>>,
    Path(tag): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let path = format!("/api/v1/timelines/tag/{tag}");
    if let Some(r) = intercept(&world, &path, &params).await {
        return r;
    }
    let limit: usize = param(&params, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .min(40);
    let num = |name| param(&params, name).and_then(|v| v.parse::<u64>().ok());
    let (max_id, since_id, min_id) = (num("max_id"), num("since_id"), num("min_id"));
    let mut posts: Vec<SimPost> = world
        .visible(Platform::Mastodon)
        .into_iter()
        .filter(|p| has_tag(&p.text, &tag))
        .filter(|p| max_id.is_none_or(|m| p.seq < m))
        .filter(|p| since_id.is_none_or(|s| p.seq > s))
        .filter(|p| min_id.is_none_or(|s| p.seq > s))
        .collect();
    let page: Vec<SimPost> = if min_id.is_some() {
        // min_id: the posts immediately newer than it, returned newest first.
        posts.truncate(limit);
        posts.into_iter().rev().collect()
    } else {
        posts.into_iter().rev().take(limit).collect()
    };
    let base = world.base();
    let mut headers = vec![
        ("x-ratelimit-limit", "300".to_string()),
        ("x-ratelimit-remaining", "299".to_string()),
        (
            "x-ratelimit-reset",
            (world.clock.now() + chrono::Duration::minutes(5)).to_rfc3339(),
        ),
    ];
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        headers.push((
            "link",
            format!(
                "<{base}{path}?max_id={}>; rel=\"next\", <{base}{path}?min_id={}>; rel=\"prev\"",
                last.seq, first.seq
            ),
        ));
    }
    let body: Vec<serde_json::Value> = page
        .iter()
        .map(|p| render::mastodon_status(&base, p))
        .collect();
    json(serde_json::Value::Array(body), &headers)
}

async fn mastodon_search(
    State(world): State<Arc<World>>,
    Query(params): Query<Params>,
) -> Response {
    if let Some(r) = intercept(&world, "/api/v2/search", &params).await {
        return r;
    }
    let q = param(&params, "q").unwrap_or_default().to_string();
    let limit: usize = param(&params, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .min(40);
    let base = world.base();
    let statuses: Vec<serde_json::Value> = world
        .visible(Platform::Mastodon)
        .iter()
        .rev()
        .filter(|p| matches_terms(&p.text, &q))
        .take(limit)
        .map(|p| render::mastodon_status(&base, p))
        .collect();
    json(
        serde_json::json!({"accounts": [], "statuses": statuses, "hashtags": []}),
        &[],
    )
}

const BSKY_ACCESS: &str = "sim-access-token";

async fn bsky_session(State(world): State<Arc<World>>, Query(params): Query<Params>) -> Response {
    if let Some(r) = intercept(&world, "/xrpc/com.atproto.server.createSession", &params).await {
        return r;
    }
    json(
        serde_json::json!({
            "did": "did:plc:simulatedaccount0001", "handle": "listener.sim", "accessJwt": BSKY_ACCESS,
            "refreshJwt": "sim-refresh-token", "active": true
        }),
        &[],
    )
}

fn bsky_authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {BSKY_ACCESS}"))
}

async fn bsky_search(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    if let Some(r) = intercept(&world, "/xrpc/app.bsky.feed.searchPosts", &params).await {
        return r;
    }
    if !bsky_authorised(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "AuthMissing", "message": "Authentication Required"})
                .to_string(),
        )
            .into_response();
    }
    let q = param(&params, "q").unwrap_or_default().to_string();
    let mentions = param(&params, "mentions").map(str::to_string);
    let since = param(&params, "since")
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let limit: usize = param(&params, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(25)
        .min(100);
    let offset: usize = param(&params, "cursor")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let hits: Vec<SimPost> = world
        .visible(Platform::Bluesky)
        .into_iter()
        .rev()
        .filter(|p| match &mentions {
            Some(h) => fold(&p.text).contains(&format!("@{}", fold(h))),
            None => matches_terms(&p.text, &q),
        })
        .filter(|p| since.is_none_or(|s| p.created_at >= s))
        .collect();
    let page: Vec<serde_json::Value> = hits
        .iter()
        .skip(offset)
        .take(limit)
        .map(render::bsky_post)
        .collect();
    let mut body = serde_json::json!({"hitsTotal": hits.len(), "posts": page});
    if offset + limit < hits.len() {
        body["cursor"] = serde_json::Value::String((offset + limit).to_string());
    }
    json(
        body,
        &[
            ("ratelimit-limit", "3000".into()),
            ("ratelimit-remaining", "2999".into()),
        ],
    )
}

async fn bsky_profiles(State(world): State<Arc<World>>, Query(params): Query<Params>) -> Response {
    if let Some(r) = intercept(&world, "/xrpc/app.bsky.actor.getProfiles", &params).await {
        return r;
    }
    let posts = world.visible(Platform::Bluesky);
    let profiles: Vec<serde_json::Value> = params
        .iter()
        .filter(|(k, _)| k == "actors")
        .filter_map(|(_, did)| posts.iter().find(|p| render::bsky_did(&p.author) == *did))
        .map(|p| serde_json::json!({"did": render::bsky_did(&p.author), "handle": render::bsky_handle(&p.author), "followersCount": p.followers}))
        .collect();
    json(serde_json::json!({ "profiles": profiles }), &[])
}

async fn reddit_token(State(world): State<Arc<World>>, Query(params): Query<Params>) -> Response {
    if let Some(r) = intercept(&world, "/api/v1/access_token", &params).await {
        return r;
    }
    json(
        serde_json::json!({"access_token": "sim-reddit-token", "token_type": "bearer", "expires_in": 86400, "scope": "*"}),
        &[],
    )
}

async fn reddit_search(State(world): State<Arc<World>>, Query(params): Query<Params>) -> Response {
    if let Some(r) = intercept(&world, "/search", &params).await {
        return r;
    }
    let q = param(&params, "q").unwrap_or_default().to_string();
    let limit: usize = param(&params, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(25)
        .min(100);
    let after = param(&params, "after").map(str::to_string);
    let hits: Vec<SimPost> = world
        .visible(Platform::Reddit)
        .into_iter()
        .rev()
        .filter(|p| matches_terms(&p.text, &q))
        .collect();
    let start = match &after {
        Some(a) => hits
            .iter()
            .position(|p| render::reddit_name(p) == *a)
            .map_or(hits.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&SimPost> = hits.iter().skip(start).take(limit).collect();
    let next = if start + limit < hits.len() {
        page.last().map(|p| render::reddit_name(p))
    } else {
        None
    };
    let children: Vec<serde_json::Value> = page.iter().map(|p| render::reddit_thing(p)).collect();
    json(
        serde_json::json!({"kind": "Listing", "data": {"after": next, "before": null, "dist": children.len(), "modhash": "", "children": children}}),
        &[
            ("x-ratelimit-remaining", "599.0".into()),
            ("x-ratelimit-reset", "300".into()),
            ("x-ratelimit-used", "1".into()),
        ],
    )
}

async fn reddit_rss(State(world): State<Arc<World>>, Query(params): Query<Params>) -> Response {
    if let Some(r) = intercept(&world, "/search.rss", &params).await {
        return r;
    }
    let q = param(&params, "q").unwrap_or_default().to_string();
    let base = world.base();
    let posts: Vec<SimPost> = world
        .visible(Platform::Reddit)
        .into_iter()
        .rev()
        .filter(|p| matches_terms(&p.text, &q))
        .take(100)
        .collect();
    let body = render::reddit_atom(&base, &q, &posts);
    (
        StatusCode::OK,
        [("content-type", "application/atom+xml; charset=UTF-8")],
        body,
    )
        .into_response()
}

async fn hn_search(State(world): State<Arc<World>>, Query(params): Query<Params>) -> Response {
    if let Some(r) = intercept(&world, "/api/v1/search_by_date", &params).await {
        return r;
    }
    let q = param(&params, "query").unwrap_or_default().to_string();
    let per_page: usize = param(&params, "hitsPerPage")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .min(1000);
    let page_no: usize = param(&params, "page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let filters = param(&params, "numericFilters")
        .unwrap_or_default()
        .to_string();
    let hits: Vec<SimPost> = world
        .visible(Platform::Hackernews)
        .into_iter()
        .rev()
        .filter(|p| matches_terms(&p.text, &q))
        .filter(|p| numeric_filters_accept(&filters, p.created_at.timestamp()))
        .collect();
    let pages = hits.len().div_ceil(per_page.max(1));
    let page: Vec<serde_json::Value> = hits
        .iter()
        .skip(page_no * per_page)
        .take(per_page)
        .map(render::hn_hit)
        .collect();
    json(
        serde_json::json!({"hits": page, "nbHits": hits.len(), "nbPages": pages, "page": page_no, "hitsPerPage": per_page,
            "exhaustiveNbHits": true, "query": q, "params": ""}),
        &[],
    )
}

/// Algolia's `created_at_i>N,created_at_i<=M` filters.
fn numeric_filters_accept(filters: &str, t: i64) -> bool {
    filters
        .split(',')
        .filter(|f| !f.trim().is_empty())
        .all(|f| {
            let f = f.trim().trim_start_matches("created_at_i");
            let (op, n) = if let Some(n) = f.strip_prefix(">=") {
                (">=", n)
            } else if let Some(n) = f.strip_prefix("<=") {
                ("<=", n)
            } else if let Some(n) = f.strip_prefix('>') {
                (">", n)
            } else if let Some(n) = f.strip_prefix('<') {
                ("<", n)
            } else {
                return true;
            };
            let Ok(n) = n.trim().parse::<i64>() else {
                return true;
            };
            match op {
                ">=" => t >= n,
                "<=" => t <= n,
                ">" => t > n,
                _ => t < n,
            }
        })
}

async fn rss_feed(
    State(world): State<Arc<World>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    let path = format!("/feeds/{name}");
    if let Some(r) = intercept(&world, &path, &params).await {
        return r;
    }
    let name = name.trim_end_matches(".xml").to_string();
    let entries: Vec<SimPost> = world
        .visible(Platform::Rss)
        .into_iter()
        .rev()
        .filter(|p| p.feed.as_deref() == Some(name.as_str()))
        .take(50)
        .collect();
    let etag = format!(
        "\"{}-{}\"",
        name,
        entries.first().map(|p| p.seq).unwrap_or(0)
    );
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    let body = render::rss_feed(&world.base(), &name, &entries);
    (
        StatusCode::OK,
        [
            (
                "content-type",
                "application/rss+xml; charset=utf-8".to_string(),
            ),
            ("etag", etag),
        ],
        body,
    )
        .into_response()
}

async fn x_search(State(world): State<Arc<World>>, Query(params): Query<Params>) -> Response {
    if let Some(r) = intercept(&world, "/2/tweets/search/recent", &params).await {
        return r;
    }
    let query = param(&params, "query").unwrap_or_default().to_string();
    let max: usize = param(&params, "max_results")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .clamp(10, 100);
    let since_id: Option<u64> = param(&params, "since_id").and_then(|v| v.parse().ok());
    let start = param(&params, "start_time")
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let offset: usize = param(&params, "next_token")
        .and_then(|v| v.strip_prefix("sim").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let any = x_query_terms(&query);
    let hits: Vec<SimPost> = world
        .visible(Platform::X)
        .into_iter()
        .rev()
        .filter(|p| any.iter().any(|t| fold(&p.text).contains(&fold(t))))
        .filter(|p| since_id.is_none_or(|s| p.seq > s))
        .filter(|p| start.is_none_or(|s| p.created_at >= s))
        .collect();
    let page: Vec<&SimPost> = hits.iter().skip(offset).take(max).collect();
    let data: Vec<serde_json::Value> = page.iter().map(|p| render::x_post(p)).collect();
    let users: Vec<serde_json::Value> = page.iter().map(|p| render::x_user(p)).collect();
    let mut meta = serde_json::json!({"result_count": data.len()});
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        meta["newest_id"] = first.seq.to_string().into();
        meta["oldest_id"] = last.seq.to_string().into();
    }
    if offset + max < hits.len() {
        meta["next_token"] = format!("sim{}", offset + max).into();
    }
    json(
        serde_json::json!({"data": data, "includes": {"users": users}, "meta": meta}),
        &[
            ("x-rate-limit-limit", "450".into()),
            ("x-rate-limit-remaining", "449".into()),
        ],
    )
}

/// The positive terms of an X query: `(a OR "b c" OR #d) -x -is:retweet` -> a, b c, #d.
fn x_query_terms(query: &str) -> Vec<String> {
    let cleaned = query.replace(['(', ')'], " ");
    parse_terms(&cleaned)
        .into_iter()
        .filter(|t| t != "OR" && !t.starts_with('-') && !t.contains(':'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_helpers() {
        assert_eq!(
            parse_terms("\"acme coffee\" late"),
            vec!["acme coffee", "late"]
        );
        assert_eq!(
            x_query_terms("(acme OR \"acme coffee\" OR #acme) -\"acme anvil\" -is:retweet"),
            vec!["acme", "acme coffee", "#acme"]
        );
        assert!(has_tag("love #Acme!", "acme"));
        assert!(!has_tag("love acme", "acme"));
        assert!(numeric_filters_accept(
            "created_at_i>=10,created_at_i<=20",
            15
        ));
        assert!(!numeric_filters_accept(
            "created_at_i>=10,created_at_i<=20",
            21
        ));
    }
}
