//! Every connector against a local HTTP server replaying the recorded responses in
//! `../shared/fixtures/apis/`: normal pages, paging to the end, empty pages, rate limits,
//! server errors, bad credentials, malformed and truncated bodies, timeouts, oversized bodies.
//! The runner is driven one step at a time with a manual clock, so "no request before
//! Retry-After has passed" is asserted exactly.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mentiond::clock::{Clock, ManualClock};
use mentiond::config::Config;
use mentiond::pipeline::Pipeline;
use mentiond::sentiment::Scorer;
use mentiond::sources::runner::RunnerSettings;
use mentiond::sources::{self, RetryPolicy, SourceRunner};
use mentiond::store::{MentionQuery, MentionRow, SourceStatus, Store};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::{self, json_response, response};

pub struct Harness {
    /// Holds the database; removed when the harness is dropped.
    _dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub store: Arc<Store>,
    /// One runner per configured source, sharing the store.
    pub runners: Vec<SourceRunner>,
    shutdown: CancellationToken,
}

impl Harness {
    /// Runners for the sources of `config` (which may use `{dir}` for the temp folder), with
    /// the clock at `now`.
    pub async fn new(config: &str, now: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let text = config.replace("{dir}", &dir.path().display().to_string());
        let file = dir.path().join("config.toml");
        std::fs::write(&file, &text).unwrap();
        let config = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(now.parse().unwrap()));
        let store = Arc::new(Store::open(&config.storage.database).await.unwrap());
        let pipeline = Arc::new(Pipeline::new(&config.brands, Arc::new(Scorer::new())));
        let settings = RunnerSettings {
            backfill: config.sources.backfill,
            max_pages_per_poll: config.sources.max_pages_per_poll,
            policy: RetryPolicy::default(),
        };
        let mut runners = Vec::new();
        for source in sources::build(&config.sources, &config.brands).unwrap() {
            let runner = SourceRunner::new(
                source,
                pipeline.clone(),
                store.clone(),
                clock.clone() as Arc<dyn Clock>,
                settings,
            )
            .await
            .unwrap();
            runners.push(runner);
        }
        Harness {
            _dir: dir,
            clock,
            store,
            runners,
            shutdown: CancellationToken::new(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// One step of every runner; returns the earliest next due time.
    pub async fn poll(&mut self) -> DateTime<Utc> {
        let mut next: Option<DateTime<Utc>> = None;
        for r in &mut self.runners {
            let n = r.poll_once(&self.shutdown).await;
            next = Some(next.map_or(n, |x| x.min(n)));
        }
        next.expect("at least one source")
    }

    pub async fn mentions(&self) -> Vec<MentionRow> {
        self.store.query(&MentionQuery::default()).await.unwrap()
    }

    pub async fn status(&self) -> Vec<SourceStatus> {
        self.store.source_statuses(self.now()).await.unwrap()
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn query_of(r: &wiremock::Request, key: &str) -> Option<String> {
    r.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

// ---------------------------------------------------------------- Mastodon

pub(crate) fn mastodon_config(base: &str, extra: &str) -> String {
    format!(
        r##"
[storage]
url = "sqlite://{{dir}}/m.db"

[[brands]]
name = "Hoot"
keywords = ["hoot"]
hashtags = ["#hoot"]

[sources]
backfill = "24h"
timeout = "2s"

[sources.mastodon]
base_url = "{base}"
interval = "2m"
{extra}
"##
    )
}

/// The recorded status, copied `n` times with decreasing ids from `top`.
fn statuses(n: usize, top: u64) -> serde_json::Value {
    let template = fixtures::json("mastodon/timeline_tag.json")[0].clone();
    let items: Vec<serde_json::Value> = (0..n as u64)
        .map(|i| {
            let mut s = template.clone();
            let id = (top - i).to_string();
            s["id"] = id.clone().into();
            s["uri"] =
                format!("http://localhost:3000/ap/users/117020566092212359/statuses/{id}").into();
            s
        })
        .collect();
    serde_json::Value::Array(items)
}

const MASTODON_NOW: &str = "2026-08-01T14:30:00Z";

/// The recorded `#hoot` timeline; asked for older posts (`max_id`), the end of the timeline:
/// an empty list, as Mastodon answers.
async fn mount_hoot(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param_is_missing("max_id"))
        .respond_with(response(
            "mastodon/timeline_tag.headers.txt",
            Some(fixtures::bytes("mastodon/timeline_tag.json")),
        ))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(wiremock::matchers::query_param_contains("max_id", ""))
        .respond_with(json_response(&serde_json::json!([])))
        .mount(server)
        .await;
}

fn timeline_requests(reqs: &[wiremock::Request]) -> usize {
    reqs.iter()
        .filter(|r| r.url.path().starts_with("/api/v1/timelines/"))
        .count()
}

#[tokio::test]
async fn mastodon_tag_timeline_is_stored_as_text_with_its_uri() {
    let server = MockServer::start().await;
    mount_hoot(&server).await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    h.poll().await;
    // The recorded page has a `next` link: one more request finds the end of the timeline.
    let reqs = requests(&server).await;
    assert_eq!(timeline_requests(&reqs), 2);
    assert_eq!(
        query_of(&reqs[1], "max_id").as_deref(),
        Some("117020593741189701")
    );
    let rows = h.mentions().await;
    assert_eq!(rows.len(), 1);
    let m = &rows[0];
    assert_eq!(m.source, "mastodon");
    assert_eq!(
        m.external_id,
        "http://localhost:3000/ap/users/117020566092212359/statuses/117020593741189701"
    );
    assert_eq!(m.text, "#hoot (hashtag toot)");
    assert_eq!(
        m.author.as_deref(),
        Some(&*format!("mastodonpy_test_2@{}", server.address().ip()))
    );
    assert_eq!(m.lang.as_deref(), Some("ja"));
    assert_eq!(m.created_at, "2026-08-01T13:55:55.867Z");
    let status = h.status().await;
    assert_eq!(status[0].state, "ok");
    assert_eq!(
        status[0].rate_remaining,
        Some(299.0),
        "X-RateLimit-Remaining is recorded"
    );
    assert_eq!(
        status[0].newest_post_at.as_deref(),
        Some("2026-08-01T13:55:55.867Z")
    );
}

/// A reply by a brand's account gives the id of the answered post on this instance: it is
/// looked up, and the reply stored as the brand's own post answering that post's URI.
#[tokio::test]
async fn mastodon_brand_replies_point_at_the_uri_of_the_post_they_answer() {
    let server = MockServer::start().await;
    let mut page = statuses(2, 900);
    page[1]["account"]["acct"] = "hoothelp".into();
    page[1]["in_reply_to_id"] = "900".into();
    page[1]["created_at"] = "2026-08-01T14:05:55.867Z".into();
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param_is_missing("max_id"))
        .respond_with(json_response(&page))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(json_response(&serde_json::json!([])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/statuses/900"))
        .respond_with(json_response(&page[0]))
        .mount(&server)
        .await;
    let host = server.address().ip().to_string();
    let config = mastodon_config(&server.uri(), "").replace(
        "hashtags = [\"#hoot\"]",
        &format!("hashtags = [\"#hoot\"]\nhandles = [\"hoothelp@{host}\"]"),
    );
    let mut h = Harness::new(&config, MASTODON_NOW).await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(
        rows.len(),
        1,
        "the brand's reply is not a mention: {rows:?}"
    );
    let answered = h
        .store
        .response_rows(
            "Hoot",
            "2026-08-01T00:00:00Z".parse().unwrap(),
            "2026-08-02T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answered.len(), 1);
    assert_eq!(
        answered[0]
            .first_reply_at
            .map(|t| (t - answered[0].created_at).num_seconds()),
        Some(600),
        "answered ten minutes later"
    );
}

/// The brand's own account is polled (handles written `user@host`): its replies are stored as
/// its own posts, answering the posts they reply to, even without the brand's hashtag.
#[tokio::test]
async fn mastodon_polls_the_brand_accounts_own_posts() {
    let server = MockServer::start().await;
    let page = statuses(1, 900);
    let mut reply = statuses(1, 950)[0].clone();
    reply["account"]["acct"] = "hoothelp".into();
    reply["in_reply_to_id"] = "900".into();
    reply["content"] = "<p>Sorry to hear that, we are on it</p>".into();
    reply["created_at"] = "2026-08-01T14:25:55.867Z".into();
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param_is_missing("max_id"))
        .respond_with(json_response(&page))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/lookup"))
        .respond_with(json_response(
            &serde_json::json!({"id": "42", "acct": "hoothelp"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/42/statuses"))
        .and(query_param_is_missing("max_id"))
        .respond_with(json_response(&serde_json::json!([reply])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/statuses/900"))
        .respond_with(json_response(&page[0]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(json_response(&serde_json::json!([])))
        .with_priority(10)
        .mount(&server)
        .await;
    let host = server.address().ip().to_string();
    let config = mastodon_config(&server.uri(), "").replace(
        "hashtags = [\"#hoot\"]",
        &format!("hashtags = [\"#hoot\"]\nhandles = [\"hoothelp@{host}\"]"),
    );
    let mut h = Harness::new(&config, MASTODON_NOW).await;
    h.poll().await;
    let reqs = requests(&server).await;
    let lookup = reqs
        .iter()
        .find(|r| r.url.path() == "/api/v1/accounts/lookup")
        .expect("the account is looked up");
    assert_eq!(
        query_of(lookup, "acct").as_deref(),
        Some(&*format!("hoothelp@{host}"))
    );
    assert_eq!(
        h.mentions().await.len(),
        1,
        "the reply is the brand's, not a mention"
    );
    let answered = h
        .store
        .response_rows(
            "Hoot",
            "2026-08-01T00:00:00Z".parse().unwrap(),
            "2026-08-02T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        answered[0]
            .first_reply_at
            .map(|t| (t - answered[0].created_at).num_seconds()),
        Some(1800)
    );
    assert!(
        h.status().await.iter().all(|s| s.state == "ok"),
        "{:?}",
        h.status().await
    );
}

#[tokio::test]
async fn impossible_post_dates_are_skipped_or_mended_and_the_page_kept() {
    let server = MockServer::start().await;
    let mut page = statuses(4, 900);
    page[0]["created_at"] = "1970-01-01T00:00:00.000Z".into();
    page[1]["created_at"] = "2026-08-01T13:59:60.000Z".into();
    page[2]["created_at"] = "9999-12-31T23:59:59.000Z".into();
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param_is_missing("max_id"))
        .respond_with(json_response(&page))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(json_response(&serde_json::json!([])))
        .mount(&server)
        .await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    h.poll().await;
    let rows = h.mentions().await;
    let dated: std::collections::BTreeMap<String, String> = rows
        .iter()
        .map(|r| {
            (
                r.external_id.rsplit('/').next().unwrap().to_string(),
                r.created_at.clone(),
            )
        })
        .collect();
    assert!(!dated.contains_key("900"), "1970 is skipped: {dated:?}");
    assert_eq!(
        dated["899"], "2026-08-01T13:59:59.999Z",
        "the leap second mended"
    );
    assert_eq!(
        dated["898"], "2026-08-01T14:30:00.000Z",
        "the future is now"
    );
    assert!(dated.contains_key("897"), "{dated:?}");
    assert_eq!(h.status().await[0].state, "ok");
}

#[tokio::test]
async fn mastodon_pages_to_the_end_then_only_asks_for_newer_posts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param_is_missing("max_id"))
        .and(query_param_is_missing("since_id"))
        .respond_with(json_response(&statuses(40, 117020593741189701)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param(
            "max_id",
            (117020593741189701u64 - 39).to_string(),
        ))
        .respond_with(json_response(&statuses(5, 117020593741189701 - 40)))
        .expect(1)
        .mount(&server)
        .await;
    // The next poll asks from a quarter of an hour before the newest post (a snowflake id of
    // that time), so posts that federate late are not missed.
    let quarter_before: DateTime<Utc> = "2026-08-01T13:40:55.867Z".parse().unwrap();
    let since = ((quarter_before.timestamp_millis() as u64) << 16).to_string();
    assert!(since.as_str() < "117020593741189701");
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param("since_id", since.as_str()))
        .respond_with(json_response(&serde_json::json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    h.poll().await;
    assert_eq!(h.mentions().await.len(), 45, "both pages stored");
    assert_eq!(requests(&server).await.len(), 2);
    // The next poll, an interval later, asks only for posts above the newest one.
    h.advance(150);
    h.poll().await;
    assert_eq!(requests(&server).await.len(), 3);
    assert_eq!(h.mentions().await.len(), 45);
}

#[tokio::test]
async fn mastodon_empty_timeline_is_reported_not_silent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(json_response(&serde_json::json!([])))
        .mount(&server)
        .await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    h.poll().await;
    let status = h.status().await;
    assert_eq!(status[0].state, "ok");
    let note = status[0].note.clone().unwrap_or_default();
    assert!(note.contains("disables public hashtag timelines"), "{note}");
}

#[tokio::test]
async fn mastodon_401_marks_the_source_failing_and_retries_slowly() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            fixtures::bytes("mastodon/error_401.json"),
            "application/json",
        ))
        .mount(&server)
        .await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    let next = h.poll().await;
    assert!(
        next - h.now() >= chrono::Duration::minutes(50),
        "slow retry, got {next}"
    );
    let s = &h.status().await[0];
    assert_eq!(s.state, "auth_failed");
    let err = s.last_error.clone().unwrap();
    assert!(
        err.contains("The access token is invalid") && err.contains("token_file"),
        "{err}"
    );
    // Polling again before the retry time sends nothing.
    h.advance(60);
    h.poll().await;
    assert_eq!(requests(&server).await.len(), 1);
    // And an hour later it tries again.
    h.advance(70 * 60);
    h.poll().await;
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn mastodon_429_waits_for_the_reset_time_exactly() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(response(
            "mastodon/headers_rate_limited.txt",
            Some(fixtures::bytes("mastodon/error_429.json")),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_hoot(&server).await;
    // The recorded reset is 2026-08-01T14:00:00Z; the clock is 10 minutes before it.
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), "2026-08-01T13:50:00Z").await;
    let next = h.poll().await;
    assert_eq!(
        next,
        "2026-08-01T14:00:01Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(h.status().await[0].state, "rate_limited");
    h.clock.set("2026-08-01T14:00:00Z".parse().unwrap());
    h.poll().await;
    assert_eq!(
        requests(&server).await.len(),
        1,
        "no request before the reset has passed"
    );
    h.clock.set("2026-08-01T14:00:02Z".parse().unwrap());
    h.poll().await;
    assert_eq!(
        requests(&server).await.len(),
        3,
        "the retry, then the end of the timeline"
    );
    assert_eq!(h.mentions().await.len(), 1);
    assert_eq!(h.status().await[0].state, "ok");
}

#[tokio::test]
async fn server_errors_back_off_then_recover() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    mount_hoot(&server).await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    let first = h.poll().await - h.now();
    assert!(
        (7..=15).contains(&first.num_seconds()),
        "first back-off {first}"
    );
    assert_eq!(h.status().await[0].consecutive_failures, 1);
    h.advance(16);
    let second = h.poll().await - h.now();
    assert!(
        (15..=30).contains(&second.num_seconds()),
        "second back-off doubles: {second}"
    );
    assert_eq!(h.status().await[0].state, "failing");
    h.advance(31);
    h.poll().await;
    assert_eq!(
        requests(&server).await.len(),
        4,
        "two failures, a page, the end"
    );
    assert_eq!(h.mentions().await.len(), 1);
    let s = &h.status().await[0];
    assert_eq!((s.state.as_str(), s.consecutive_failures), ("ok", 0));
}

#[tokio::test]
async fn malformed_json_page_is_an_error_and_moves_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(b"{\"statuses\": oops".to_vec(), "application/json"),
        )
        .mount(&server)
        .await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    h.poll().await;
    let s = &h.status().await[0];
    assert_eq!(s.state, "failing");
    assert!(
        s.last_error.as_deref().unwrap().contains("malformed"),
        "{:?}",
        s.last_error
    );
    assert!(
        h.store
            .load_cursor(
                &format!("mastodon:127.0.0.1:{}", server.address().port()),
                "tag:hoot"
            )
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_broken_item_is_skipped_and_the_rest_of_the_page_kept() {
    let server = MockServer::start().await;
    let mut page = statuses(3, 117020593741189701);
    page[1] = serde_json::json!({"id": "117020593741189700", "content": "no uri, no time"});
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(json_response(&page))
        .mount(&server)
        .await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(h.status().await[0].state, "ok");
}

#[tokio::test]
async fn slow_responses_time_out_and_count_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(json_response(&statuses(1, 5)).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut h = Harness::new(&mastodon_config(&server.uri(), ""), MASTODON_NOW).await;
    // The 2 s timeout applies: the answer, 5 s away, never arrives (the error says so).
    h.poll().await;
    let s = &h.status().await[0];
    assert_eq!(s.state, "failing");
    assert!(
        s.last_error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        s.last_error
    );
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(json_response(&statuses(40, 1_000_000)))
        .mount(&server)
        .await;
    let config = mastodon_config(&server.uri(), "").replace(
        "timeout = \"2s\"",
        "timeout = \"2s\"\nmax_response_bytes = 8192",
    );
    let mut h = Harness::new(&config, MASTODON_NOW).await;
    h.poll().await;
    let s = &h.status().await[0];
    assert_eq!(s.state, "failing");
    assert!(
        s.last_error.as_deref().unwrap().contains("8192-byte cap"),
        "{:?}",
        s.last_error
    );
    assert!(h.mentions().await.is_empty());
}

/// A server that announces a body longer than it sends, then hangs up.
async fn truncating_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let body = statuses(3, 99).to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body.as_bytes()[..body.len() / 2]).await;
            let _ = sock.shutdown().await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn truncated_bodies_are_transient_errors() {
    let base = truncating_server().await;
    let mut h = Harness::new(&mastodon_config(&base, ""), MASTODON_NOW).await;
    let next = h.poll().await;
    let s = &h.status().await[0];
    assert_eq!(s.state, "failing");
    assert!(
        next - h.now() <= chrono::Duration::seconds(15),
        "transient: quick retry"
    );
    assert!(h.mentions().await.is_empty());
}

#[tokio::test]
async fn mastodon_with_a_token_polls_mentions_and_search_and_dedupes_across_instances() {
    let primary = MockServer::start().await;
    let other = MockServer::start().await;
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("mastodon-token");
    std::fs::write(&token_file, "s3cr3t-mastodon-token\n").unwrap();
    for server in [&primary, &other] {
        mount_hoot(server).await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v1/notifications"))
        .and(query_param("types[]", "mention"))
        .and(header("authorization", "Bearer s3cr3t-mastodon-token"))
        .respond_with(response(
            "mastodon/notifications_mentions.headers.txt",
            Some(fixtures::bytes("mastodon/notifications_mentions.json")),
        ))
        .expect(1..)
        .mount(&primary)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/search"))
        .and(query_param("type", "statuses"))
        .and(header("authorization", "Bearer s3cr3t-mastodon-token"))
        .respond_with(response(
            "mastodon/search_statuses.headers.txt",
            Some(fixtures::bytes("mastodon/search_statuses.json")),
        ))
        .mount(&primary)
        .await;
    // The brand's own account is polled on the main instance.
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/lookup"))
        .and(query_param("acct", "mastodonpy_test@localhost"))
        .respond_with(json_response(&serde_json::json!({"id": "7"})))
        .expect(1..)
        .mount(&primary)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/7/statuses"))
        .respond_with(json_response(&serde_json::json!([])))
        .mount(&primary)
        .await;
    let config = format!(
        r##"
[storage]
url = "sqlite://{{dir}}/m.db"

[[brands]]
name = "Hoot"
hashtags = ["#hoot"]
handles = ["@mastodonpy_test@localhost"]

[[brands]]
name = "Halcy"
keywords = ["halcy"]

[sources]
backfill = "200d"

[sources.mastodon]
base_url = "{}"
instances = ["{}"]
token_file = "{}"
keywords_as_hashtags = false
"##,
        primary.uri(),
        other.uri().replace("127.0.0.1", "localhost"),
        token_file.display()
    );
    let mut h = Harness::new(&config, "2026-08-01T14:30:00Z").await;
    h.poll().await;
    let primary_id = format!("mastodon:127.0.0.1:{}", primary.address().port());
    let other_id = format!("mastodon:localhost:{}", other.address().port());
    let statuses = h.status().await;
    let queries: Vec<(&str, &str)> = statuses
        .iter()
        .map(|s| (s.source_id.as_str(), s.query.as_str()))
        .collect();
    assert_eq!(
        queries,
        [
            (primary_id.as_str(), "account:mastodonpy_test@localhost"),
            (primary_id.as_str(), "notifications"),
            (primary_id.as_str(), "search:halcy"),
            (primary_id.as_str(), "tag:hoot"),
            (other_id.as_str(), "tag:hoot"),
        ]
    );
    assert!(statuses.iter().all(|s| s.state == "ok"), "{statuses:?}");
    let rows = h.mentions().await;
    let hoot: Vec<&MentionRow> = rows.iter().filter(|m| m.brand == "Hoot").collect();
    assert_eq!(
        hoot.len(),
        2,
        "the tag post (once, though two instances serve it) and the mention: {hoot:?}"
    );
    assert!(
        hoot.iter()
            .any(|m| m.text == "@mastodonpy_test@localhost hello!")
    );
    let halcy: Vec<&MentionRow> = rows.iter().filter(|m| m.brand == "Halcy").collect();
    assert_eq!(halcy.len(), 2, "both search results");
    assert!(
        halcy.iter().any(|m| m.external_id
            == "https://social.sublingual.xyz/users/Jo/statuses/116388107097123650")
    );
    // Search has no paging: the posts seen are remembered in the cursor.
    let cursor = h
        .store
        .load_cursor(&primary_id, "search:halcy")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.state["seen"].as_array().map(Vec::len), Some(2));
    h.advance(3 * 60);
    h.poll().await;
    assert_eq!(h.mentions().await.len(), rows.len());
    // The token goes to its own instance only.
    assert!(!requests(&other).await.is_empty());
    for r in requests(&other).await {
        assert!(
            !r.headers.contains_key("authorization"),
            "token sent to another instance"
        );
    }
}

// ---------------------------------------------------------------- Bluesky

pub(crate) fn bluesky_config(base: &str, password_file: &std::path::Path) -> String {
    format!(
        r##"
[storage]
url = "sqlite://{{dir}}/m.db"

[[brands]]
name = "Acme"
keywords = ["acme"]
hashtags = ["#acme"]

[sources.bluesky]
service = "{base}"
identifier = "acme.example"
app_password_file = "{}"
"##,
        password_file.display()
    )
}

pub(crate) fn secret_file(value: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("secret");
    std::fs::write(&p, value).unwrap();
    (d, p)
}

#[tokio::test]
async fn bluesky_logs_in_searches_and_fetches_follower_counts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(json_response(&fixtures::json(
            "bluesky/create_session.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .and(header("authorization", "Bearer <ACCESS_JWT>"))
        .and(query_param("sort", "latest"))
        .respond_with(json_response(&fixtures::json("bluesky/search_posts.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(json_response(&fixtures::json("bluesky/get_profiles.json")))
        .mount(&server)
        .await;
    let (_d, pw) = secret_file("app-pass-1234");
    let mut h = Harness::new(&bluesky_config(&server.uri(), &pw), "2026-03-02T15:00:00Z").await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(
        rows.len(),
        2,
        "two posts, each found by both queries, stored once"
    );
    let jane = rows
        .iter()
        .find(|r| r.author.as_deref() == Some("jane.example.com"))
        .unwrap();
    assert_eq!(
        jane.external_id,
        "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lbzk2ex7bc2a"
    );
    assert_eq!(
        jane.url.as_deref(),
        Some("https://bsky.app/profile/jane.example.com/post/3lbzk2ex7bc2a")
    );
    assert_eq!(jane.author_followers, Some(1843));
    assert_eq!(jane.engagement.as_ref().unwrap()["likes"], 12);
    let reqs = requests(&server).await;
    let search = reqs
        .iter()
        .find(|r| r.url.path().ends_with("searchPosts"))
        .unwrap();
    assert_eq!(
        query_of(search, "since").as_deref(),
        Some("2026-03-01T14:50:00.000Z"),
        "backfill window minus slack"
    );
    // getProfiles is called once per page batch, then cached.
    let profiles_calls = reqs
        .iter()
        .filter(|r| r.url.path().ends_with("getProfiles"))
        .count();
    assert_eq!(profiles_calls, 1);
}

/// The brand's Bluesky account is polled through its author feed: its replies are stored as
/// its own posts answering the posts they reply to (reposts are not its posts).
#[tokio::test]
async fn bluesky_polls_the_brand_accounts_own_posts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(json_response(&fixtures::json(
            "bluesky/create_session.json",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(json_response(&fixtures::json("bluesky/search_posts.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(json_response(&fixtures::json("bluesky/get_profiles.json")))
        .mount(&server)
        .await;
    let search = fixtures::json("bluesky/search_posts.json");
    let jane = search["posts"][0].clone();
    let mut reply = jane.clone();
    reply["uri"] = "at://did:plc:acmehelp/app.bsky.feed.post/3reply".into();
    reply["author"]["did"] = "did:plc:acmehelp".into();
    reply["author"]["handle"] = "acmehelp.example".into();
    reply["record"]["text"] = "Thanks Jane, glad it went well!".into();
    reply["record"]["createdAt"] = "2026-03-02T14:35:11.123Z".into();
    reply["indexedAt"] = "2026-03-02T14:35:12.000Z".into();
    reply["record"]["reply"] = serde_json::json!({
        "root": {"uri": jane["uri"], "cid": jane["cid"]},
        "parent": {"uri": jane["uri"], "cid": jane["cid"]},
    });
    let repost = search["posts"][1].clone();
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.getAuthorFeed"))
        .and(query_param("actor", "acmehelp.example"))
        .and(query_param("filter", "posts_with_replies"))
        .respond_with(json_response(&serde_json::json!({
            "feed": [
                {"post": reply},
                {"post": repost, "reason": {"$type": "app.bsky.feed.defs#reasonRepost"}},
            ]
        })))
        .expect(1..)
        .mount(&server)
        .await;
    let (_d, pw) = secret_file("app-pass-1234");
    let config = bluesky_config(&server.uri(), &pw).replace(
        "hashtags = [\"#acme\"]",
        "hashtags = [\"#acme\"]\nhandles = [\"acmehelp.example\"]",
    );
    let mut h = Harness::new(&config, "2026-03-02T15:00:00Z").await;
    h.poll().await;
    assert_eq!(h.mentions().await.len(), 2, "the reply is not a mention");
    let rows = h
        .store
        .response_rows(
            "Acme",
            "2026-03-02T00:00:00Z".parse().unwrap(),
            "2026-03-03T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    let answered: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.external_id.as_str(),
                r.first_reply_at.map(|t| (t - r.created_at).num_seconds()),
            )
        })
        .collect();
    assert!(
        answered.contains(&(jane["uri"].as_str().unwrap(), Some(1800))),
        "{answered:?}"
    );
    assert!(
        answered.iter().filter(|(_, a)| a.is_some()).count() == 1,
        "the repost is nobody's reply: {answered:?}"
    );
}

#[tokio::test]
async fn bluesky_refreshes_an_expired_session() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(json_response(&fixtures::json(
            "bluesky/create_session.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .and(header("authorization", "Bearer <ACCESS_JWT>"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            fixtures::bytes("bluesky/error_expired_token.json"),
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.refreshSession"))
        .and(header("authorization", "Bearer <REFRESH_JWT>"))
        .respond_with(json_response(&serde_json::json!({"accessJwt": "fresh-access", "refreshJwt": "fresh-refresh", "did": "did:plc:x", "handle": "acme.example"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .and(header("authorization", "Bearer fresh-access"))
        .respond_with(json_response(&fixtures::json("bluesky/search_posts.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(json_response(&fixtures::json("bluesky/get_profiles.json")))
        .mount(&server)
        .await;
    let (_d, pw) = secret_file("app-pass-1234");
    let mut h = Harness::new(&bluesky_config(&server.uri(), &pw), "2026-03-02T15:00:00Z").await;
    h.poll().await;
    assert_eq!(h.mentions().await.len(), 2);
    assert!(h.status().await.iter().all(|s| s.state == "ok"));
}

#[tokio::test]
async fn bluesky_forbidden_search_is_reported_as_an_auth_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(json_response(&fixtures::json(
            "bluesky/create_session.json",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(response("bluesky/forbidden_public_search.txt", None))
        .mount(&server)
        .await;
    let (_d, pw) = secret_file("app-pass-1234");
    let mut h = Harness::new(&bluesky_config(&server.uri(), &pw), "2026-03-02T15:00:00Z").await;
    h.poll().await;
    let s = &h.status().await[0];
    assert_eq!(s.state, "auth_failed");
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("Request forbidden by administrative rules"),
        "{:?}",
        s.last_error
    );
    // One failure pauses the whole account: the other queries wait too.
    let searches = requests(&server)
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("searchPosts"))
        .count();
    assert_eq!(searches, 1);
}

#[tokio::test]
async fn bluesky_rate_limit_headers_are_epoch_seconds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(json_response(&fixtures::json(
            "bluesky/create_session.json",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(response(
            "bluesky/headers_rate_limited.txt",
            Some(fixtures::bytes("bluesky/error_rate_limited.json")),
        ))
        .mount(&server)
        .await;
    let (_d, pw) = secret_file("app-pass-1234");
    let mut h = Harness::new(&bluesky_config(&server.uri(), &pw), "2026-03-02T14:00:00Z").await;
    let next = h.poll().await;
    // ratelimit-reset: 1772460600 = 2026-03-02T14:10:00Z
    assert_eq!(
        next,
        "2026-03-02T14:10:01Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(h.status().await[0].state, "rate_limited");
}

// ---------------------------------------------------------------- Reddit

pub(crate) fn reddit_config(base: &str, credentials: Option<&std::path::Path>) -> String {
    let creds = credentials
        .map(|p| format!("client_id = \"abc123\"\nclient_secret_file = \"{}\"\nuser_agent = \"test:mentiond:0.1 (by /u/tester)\"", p.display()))
        .unwrap_or_default();
    format!(
        r##"
[storage]
url = "sqlite://{{dir}}/m.db"

[[brands]]
name = "Reddit"
keywords = ["hoodie", "reddit", "praw"]

[sources]
backfill = "30d"

[sources.reddit]
api_url = "{base}"
www_url = "{base}"
{creds}
"##
    )
}

#[tokio::test]
async fn reddit_oauth_search_pages_with_after_and_honours_an_exhausted_window() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(header("authorization", "Basic YWJjMTIzOnNoaGgtc2VjcmV0"))
        .respond_with(json_response(&fixtures::json("reddit/token_response.json")))
        .expect(1)
        .mount(&server)
        .await;
    // The modern listing (a t1 comment and a t3 submission), with x-ratelimit-* headers.
    let mut listing = fixtures::json("reddit/user_overview_new.json");
    listing["data"]["after"] = serde_json::Value::Null;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("q", "hoodie"))
        .and(query_param("sort", "new"))
        .and(header("authorization", "Bearer <ACCESS_TOKEN>"))
        .respond_with(response(
            "reddit/user_overview_new.headers.txt",
            Some(listing.to_string().into_bytes()),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(
            // The last request of a window: 200, with the recorded exhausted-window headers.
            crate::fixtures::response_as(
                "reddit/headers_rate_limited.txt",
                Some(200),
                Some(br#"{"kind":"Listing","data":{"after":null,"children":[]}}"#.to_vec()),
            ),
        )
        .mount(&server)
        .await;
    let (_d, secret) = secret_file("shhh-secret");
    let mut h = Harness::new(
        &reddit_config(&server.uri(), Some(&secret)),
        "2026-06-09T00:00:00Z",
    )
    .await;
    let next = h.poll().await;
    let rows = h.mentions().await;
    let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
    assert!(
        ids.contains(&"t1_optfyql"),
        "the comment mentioning the hoodie: {ids:?}"
    );
    let c = rows.iter().find(|r| r.external_id == "t1_optfyql").unwrap();
    assert_eq!(c.author.as_deref(), Some("spez"));
    assert_eq!(c.reply_to.as_deref(), Some("t1_optcg0g"));
    assert!(
        c.url
            .as_deref()
            .unwrap()
            .ends_with("/r/RDDT/comments/1tvs5jj/steve_jen_and_drew_here_ask_us_anything/optfyql/")
    );
    // x-ratelimit-remaining 0.0 with reset 247 s: the source pauses until then.
    assert_eq!(next, h.now() + chrono::Duration::seconds(248));
    let calls = requests(&server)
        .await
        .iter()
        .filter(|r| r.url.path() == "/search")
        .count();
    assert!(calls >= 1);
    h.advance(100);
    h.poll().await;
    assert_eq!(
        requests(&server)
            .await
            .iter()
            .filter(|r| r.url.path() == "/search")
            .count(),
        calls,
        "paused"
    );
    let ua = requests(&server).await[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(ua, "test:mentiond:0.1 (by /u/tester)");
}

#[tokio::test]
async fn reddit_without_credentials_falls_back_to_the_public_feed() {
    let server = MockServer::start().await;
    let atom = r#"<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>/search.rss?q=praw</id><title>search results - praw</title><updated>2026-06-08T22:15:53+00:00</updated><entry><author><name>/u/dClauzel</name></author><content type="html">&lt;p&gt;Problem using praw with OAuth&lt;/p&gt;</content><id>t3_3gpbiu</id><link href="https://www.reddit.com/r/redditdev/comments/3gpbiu/x/"/><updated>2026-06-08T20:00:00+00:00</updated><published>2026-06-08T20:00:00+00:00</published><title>[PRAW][OAuth2Util] Problem using get_banned()</title></entry></feed>"#;
    Mock::given(method("GET"))
        .and(path("/search.rss"))
        .and(query_param("sort", "new"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(atom.as_bytes().to_vec(), "application/atom+xml"),
        )
        .mount(&server)
        .await;
    let mut h = Harness::new(&reddit_config(&server.uri(), None), "2026-06-09T00:00:00Z").await;
    let next = h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].external_id, "t3_3gpbiu");
    assert_eq!(rows[0].author.as_deref(), Some("dClauzel"));
    assert!(
        next - h.now() >= chrono::Duration::minutes(27),
        "slow public interval"
    );
    assert_eq!(h.status().await[0].source_id, "reddit:public");
}

// ---------------------------------------------------------------- Hacker News

pub(crate) fn hn_config(base: &str) -> String {
    format!(
        r##"
[storage]
url = "sqlite://{{dir}}/m.db"

[[brands]]
name = "Acme"
keywords = ["acme"]

[sources.hackernews]
base_url = "{base}"
"##
    )
}

#[tokio::test]
async fn hacker_news_stories_and_comments_then_only_newer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/search_by_date"))
        .and(query_param("numericFilters", "created_at_i>=1772373000"))
        .and(query_param("tags", "(story,comment)"))
        .respond_with(json_response(&fixtures::json(
            "hackernews/search_by_date.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/search_by_date"))
        .and(query_param("numericFilters", "created_at_i>=1772459711"))
        .respond_with(json_response(&fixtures::json(
            "hackernews/search_by_date_empty.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let mut h = Harness::new(&hn_config(&server.uri()), "2026-03-02T14:00:00Z").await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(rows.len(), 2);
    let comment = rows.iter().find(|r| r.external_id == "43209123").unwrap();
    assert_eq!(
        comment.text,
        "We moved off Acme last year because their API kept timing out. Support was friendly though."
    );
    assert_eq!(comment.reply_to.as_deref(), Some("43209000"));
    assert_eq!(
        comment.url.as_deref(),
        Some("https://news.ycombinator.com/item?id=43209123")
    );
    let story = rows.iter().find(|r| r.external_id == "43210001").unwrap();
    assert_eq!(story.engagement.as_ref().unwrap()["points"], 17);
    h.advance(400);
    h.poll().await;
    assert_eq!(h.mentions().await.len(), 2);
}

// ---------------------------------------------------------------- RSS / Atom

pub(crate) fn rss_config(url: &str, brands: &str) -> String {
    format!(
        r##"
[storage]
url = "sqlite://{{dir}}/m.db"

[[brands]]
name = "Acme"
keywords = ["acme widgets", "acme"]

[sources]
backfill = "7d"

[[sources.rss]]
url = "{url}"
name = "feed"
{brands}
"##
    )
}

#[tokio::test]
async fn google_alerts_links_are_unwrapped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/alerts/feeds/1/2"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixtures::bytes("rss/google_alerts.atom.xml"),
            "application/atom+xml",
        ))
        .mount(&server)
        .await;
    let mut h = Harness::new(
        &rss_config(&format!("{}/alerts/feeds/1/2", server.uri()), ""),
        "2026-03-02T15:00:00Z",
    )
    .await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(rows.len(), 2);
    let recall = rows
        .iter()
        .find(|r| r.external_id == "tag:google.com,2013:googlealerts/feed:12501224780620368192")
        .unwrap();
    assert_eq!(
        recall.url.as_deref(),
        Some("https://news.example.com/2026/03/02/acme-widgets-recall/")
    );
    assert!(
        recall
            .text
            .starts_with("Acme Widgets recalls batch of smart hubs"),
        "{}",
        recall.text
    );
    assert_eq!(recall.author, None, "Google Alerts have an empty author");
}

#[tokio::test]
async fn feeds_use_conditional_get_and_brand_feeds_attribute_every_entry() {
    let server = MockServer::start().await;
    let first = crate::fixtures::recorded("rss/conditional_get_200.headers.txt");
    let etag = first
        .headers
        .iter()
        .find(|(k, _)| k == "etag")
        .unwrap()
        .1
        .clone();
    let modified = first
        .headers
        .iter()
        .find(|(k, _)| k == "last-modified")
        .unwrap()
        .1
        .clone();
    // wiremock's `header` matcher splits values on commas, which HTTP dates contain.
    let validators = move |r: &wiremock::Request| {
        let get = |k: &str| {
            r.headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        get("if-none-match") == Some(etag.clone())
            && get("if-modified-since") == Some(modified.clone())
    };
    Mock::given(method("GET"))
        .and(path("/acme-widgets/feed.xml"))
        .and(validators)
        .respond_with(response("rss/conditional_get_304.headers.txt", None))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/acme-widgets/feed.xml"))
        .respond_with(response(
            "rss/conditional_get_200.headers.txt",
            Some(fixtures::bytes("rss/generic_rss2.xml")),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/acme-widgets/feed.xml", server.uri());
    let mut h = Harness::new(
        &rss_config(&url, "brands = [\"acme\"]"),
        "2026-03-02T15:00:00Z",
    )
    .await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(
        rows.len(),
        2,
        "the reviews do not name the brand but the feed is the brand's"
    );
    assert!(rows.iter().all(|r| r.brand == "Acme"));
    let review = rows
        .iter()
        .find(|r| r.external_id == "feed#review-88213")
        .unwrap();
    assert_eq!(review.author.as_deref(), Some("M. Rossi"));
    assert_eq!(review.lang.as_deref(), Some("en"), "the channel's language");
    assert_eq!(
        review.text,
        "2/5 - Stopped syncing after the update Worked fine for months, then the 3.2 firmware broke sync. Support replied in 2 days."
    );
    h.advance(17 * 60);
    h.poll().await;
    assert_eq!(h.mentions().await.len(), 2);
    assert_eq!(h.status().await[0].state, "ok");
}

#[tokio::test]
async fn feed_429_honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(response(
            "rss/rate_limited_429.headers.txt",
            Some(b"slow down".to_vec()),
        ))
        .mount(&server)
        .await;
    let mut h = Harness::new(
        &rss_config(&format!("{}/feed.xml", server.uri()), ""),
        "2026-03-02T15:00:00Z",
    )
    .await;
    let next = h.poll().await;
    assert_eq!(next, h.now() + chrono::Duration::seconds(3601));
    h.advance(3599);
    h.poll().await;
    assert_eq!(requests(&server).await.len(), 1);
}

// ---------------------------------------------------------------- X

pub(crate) fn x_config(base: &str, token: &std::path::Path, budget: u64) -> String {
    format!(
        r##"
[storage]
url = "sqlite://{{dir}}/m.db"

[[brands]]
name = "Acme"
keywords = ["acme", "tweepy"]
handles = ["@acmewidgets"]

[sources.x]
base_url = "{base}"
bearer_token_file = "{}"
monthly_budget = {budget}
"##,
        token.display()
    )
}

#[tokio::test]
async fn x_recent_search_with_expansions_and_both_field_spellings() {
    let server = MockServer::start().await;
    let mut expanded = fixtures::json("x/search_recent_expanded.json");
    expanded["meta"]["next_token"] = serde_json::Value::Null;
    // The newer OpenAPI spelling of the same fields.
    let post = expanded["data"][1].as_object_mut().unwrap();
    let refs = post.remove("referenced_tweets").unwrap();
    post.insert("referenced_posts".into(), refs);
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(header("authorization", "Bearer x-bearer-token"))
        .and(query_param("expansions", "author_id"))
        .respond_with(response(
            "x/search_recent.headers.txt",
            Some(expanded.to_string().into_bytes()),
        ))
        .mount(&server)
        .await;
    let (_d, token) = secret_file("x-bearer-token");
    let mut h = Harness::new(
        &x_config(&server.uri(), &token, 1000),
        "2026-03-02T15:00:00Z",
    )
    .await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(rows.len(), 2);
    let jane = rows
        .iter()
        .find(|r| r.external_id == "1861234000000000001")
        .unwrap();
    assert_eq!(jane.author.as_deref(), Some("janedoe_example"));
    assert_eq!(jane.author_followers, Some(312));
    assert_eq!(jane.reply_to.as_deref(), Some("1861230000000000000"));
    assert_eq!(
        jane.url.as_deref(),
        Some("https://x.com/janedoe_example/status/1861234000000000001")
    );
    let req = &requests(&server).await[0];
    let q = query_of(req, "query").unwrap();
    assert_eq!(q, "(acme OR tweepy OR @acmewidgets) -is:retweet");
    assert!(query_of(req, "start_time").is_some());
}

#[tokio::test]
async fn x_posts_without_created_at_get_their_time_from_the_id_and_the_budget_is_enforced() {
    let server = MockServer::start().await;
    let mut page = fixtures::json("x/search_recent.json");
    page["meta"]["next_token"] = serde_json::Value::Null;
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .respond_with(response(
            "x/search_recent.headers.txt",
            Some(page.to_string().into_bytes()),
        ))
        .mount(&server)
        .await;
    let (_d, token) = secret_file("x-bearer-token");
    let mut h = Harness::new(&x_config(&server.uri(), &token, 14), "2022-10-08T00:00:00Z").await;
    h.poll().await;
    let rows = h.mentions().await;
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .any(|r| r.created_at == "2022-10-07T22:42:12.752Z"),
        "snowflake time"
    );
    let first = &requests(&server).await[0];
    assert_eq!(
        query_of(first, "max_results").as_deref(),
        Some("14"),
        "never ask for more than the budget"
    );
    // 3 of 14 posts used: 11 left, one more request for at most 11.
    h.advance(20 * 60);
    h.poll().await;
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(query_of(&reqs[1], "max_results").as_deref(), Some("11"));
    assert_eq!(
        query_of(&reqs[1], "since_id").as_deref(),
        Some("1578516068309794817")
    );
    // 6 of 14 used, 8 left: below X's minimum page of 10, so polling stops until next month.
    h.advance(20 * 60);
    let next = h.poll().await;
    assert_eq!(requests(&server).await.len(), 2);
    assert_eq!(
        next,
        "2022-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let s = &h.status().await[0];
    assert_eq!(s.state, "budget");
    assert!(s.last_error.as_deref().unwrap().contains("2022-11-01"));
}

#[tokio::test]
async fn x_401_and_429_problems() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(response(
            "x/headers_rate_limited.txt",
            Some(fixtures::bytes("x/error_429.json")),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            fixtures::bytes("x/error_401.json"),
            "application/problem+json",
        ))
        .mount(&server)
        .await;
    let (_d, token) = secret_file("x-bearer-token");
    let mut h = Harness::new(
        &x_config(&server.uri(), &token, 1000),
        "2022-10-07T22:40:00Z",
    )
    .await;
    let next = h.poll().await;
    assert_eq!(
        next,
        DateTime::from_timestamp(1665183229 + 1, 0).unwrap(),
        "x-rate-limit-reset is epoch seconds"
    );
    h.clock.set(next);
    h.poll().await;
    let s = &h.status().await[0];
    assert_eq!(s.state, "auth_failed");
    assert!(s.last_error.as_deref().unwrap().contains("Unauthorized"));
}
