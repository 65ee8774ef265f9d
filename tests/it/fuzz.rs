//! Bounded fuzzing of every parser of untrusted input, with no panic allowed: each platform's
//! pages (served over HTTP on 127.0.0.1 to the real connectors and runner), JSONL mention lines
//! and the config file. Inputs are the recorded fixtures mutated two ways: JSON values replaced
//! by hostile ones of any type (structure-aware), and bytes flipped, cut, repeated or inserted.
//!
//! Deterministic per seed: the seed is printed, `MENTIOND_FUZZ_SEED` repeats a run and
//! `MENTIOND_FUZZ_ITERS` (default 60 per target) runs longer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures;
use crate::helpers::*;
use crate::sources::{
    Harness, bluesky_config, hn_config, mastodon_config, reddit_config, rss_config, secret_file,
    x_config,
};

fn seed_and_iters(target: &str) -> (fastrand::Rng, usize) {
    let seed = std::env::var("MENTIOND_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let iters = std::env::var("MENTIOND_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    eprintln!("fuzz {target}: seed {seed} (MENTIOND_FUZZ_SEED={seed} repeats it), {iters} inputs");
    (fastrand::Rng::with_seed(seed), iters)
}

/// A value a careless parser would choke on.
fn hostile_value(rng: &mut fastrand::Rng) -> Value {
    match rng.u8(..20) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(i64::MAX),
        5 => json!(u64::MAX),
        6 => json!(-1e308),
        7 => json!(1.5e300),
        8 => json!(""),
        9 => json!("x".repeat(rng.usize(1..200_000))),
        10 => json!("\u{202E}evil\u{0}\u{1b}]0;t\u{7}"),
        11 => json!("9999-12-31T23:59:59Z"),
        12 => json!("0000-01-01T00:00:00Z"),
        13 => json!("2016-12-31T23:59:60Z"),
        14 => json!("not a date"),
        15 => json!([]),
        16 => json!({}),
        17 => {
            // Nested deeper than any page is.
            let mut v = json!(1);
            for _ in 0..rng.usize(10..300) {
                v = json!([v]);
            }
            v
        }
        18 => json!("12345678901234567890123"),
        _ => json!("https://evil.example/<script>alert(1)</script>"),
    }
}

/// Every node of `v`, as paths of object keys and array indexes.
fn paths(v: &Value, here: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(PathStep::Key(k.clone()));
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                here.push(PathStep::Index(i));
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn node_mut<'v>(v: &'v mut Value, path: &[PathStep]) -> Option<&'v mut Value> {
    let mut cur = v;
    for step in path {
        cur = match step {
            PathStep::Key(k) => cur.get_mut(k.as_str())?,
            PathStep::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// `input` with a few of its JSON values replaced, removed or duplicated.
fn mutate_json(rng: &mut fastrand::Rng, input: &Value) -> Value {
    let mut v = input.clone();
    for _ in 0..rng.usize(1..4) {
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let path = all[rng.usize(..all.len())].clone();
        match rng.u8(..4) {
            // Remove a key or an element.
            0 if !path.is_empty() => {
                let (last, parent) = path.split_last().unwrap();
                if let Some(p) = node_mut(&mut v, parent) {
                    match (p, last) {
                        (Value::Object(m), PathStep::Key(k)) => {
                            m.remove(k);
                        }
                        (Value::Array(a), PathStep::Index(i)) if *i < a.len() => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            // Repeat an array many times over (a page far longer than asked for).
            1 => {
                if let Some(Value::Array(a)) = node_mut(&mut v, &path) {
                    if let Some(first) = a.first().cloned() {
                        let n = rng.usize(1..500);
                        a.extend(std::iter::repeat_n(first, n));
                    }
                }
            }
            _ => {
                if let Some(node) = node_mut(&mut v, &path) {
                    *node = hostile_value(rng);
                }
            }
        }
    }
    v
}

/// `input` with bytes flipped, cut, repeated or inserted.
fn mutate_bytes(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..rng.usize(1..6) {
        if b.is_empty() {
            b.push(rng.u8(..));
            continue;
        }
        let at = rng.usize(..b.len());
        match rng.u8(..6) {
            0 => b[at] = rng.u8(..),
            1 => b.truncate(at),
            2 => {
                let end = (at + rng.usize(1..64)).min(b.len());
                let chunk = b[at..end].to_vec();
                for _ in 0..rng.usize(1..20) {
                    b.splice(at..at, chunk.iter().copied());
                }
            }
            3 => {
                let end = (at + rng.usize(1..64)).min(b.len());
                b.drain(at..end);
            }
            4 => {
                const TOKENS: &[&[u8]] = &[
                    b"\xff\xfe",
                    b"\0",
                    b"\\u0000",
                    b"\\ud800",
                    b"<![CDATA[",
                    b"&#0;",
                    b"&bogus;",
                    b"<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">]>",
                    b"\"",
                    b"{",
                    b"]",
                    b"1e99999",
                    b"-0",
                ];
                let t = TOKENS[rng.usize(..TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            _ => b.insert(at, rng.u8(..)),
        }
    }
    b
}

/// One mutated input from a fixture: structure-aware when it is JSON, else bytes.
fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(input) {
        Ok(v) if rng.bool() => serde_json::to_vec(&mutate_json(rng, &v)).unwrap(),
        _ => mutate_bytes(rng, input),
    }
}

/// A served body and its content type.
type Body = (String, Vec<u8>);

/// Serves fixed bodies by path prefix; the bodies can change between polls.
#[derive(Clone, Default)]
struct Served {
    routes: Arc<Mutex<HashMap<String, Body>>>,
}

impl Served {
    fn set(&self, path: &str, content_type: &str, body: Vec<u8>) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), (content_type.to_string(), body));
    }
}

impl wiremock::Respond for Served {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let routes = self.routes.lock().unwrap();
        let hit = routes
            .iter()
            .filter(|(p, _)| request.url.path().starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len());
        match hit {
            Some((_, (ct, body))) => ResponseTemplate::new(200)
                .insert_header("content-type", ct.as_str())
                .set_body_bytes(body.clone()),
            None => ResponseTemplate::new(404),
        }
    }
}

async fn serve(served: &Served) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(served.clone())
        .mount(&server)
        .await;
    server
}

/// A platform's pages: which paths get valid fixtures, and which are fuzzed.
struct Target {
    name: &'static str,
    content_type: &'static str,
    /// (path prefix, fixture) always served as recorded (logins, tokens).
    fixed: Vec<(&'static str, &'static str)>,
    /// (path prefix, fixture) served mutated, one at a time.
    fuzzed: Vec<(&'static str, &'static str)>,
}

async fn fuzz_platform(target: Target, config: impl FnOnce(&str) -> String) {
    let (mut rng, iters) = seed_and_iters(target.name);
    let served = Served::default();
    let server = serve(&served).await;
    for (path, fixture) in &target.fixed {
        served.set(path, "application/json", fixtures::bytes(fixture));
    }
    for (path, fixture) in &target.fuzzed {
        served.set(path, target.content_type, fixtures::bytes(fixture));
    }
    let mut h = Harness::new(&config(&server.uri()), "2026-03-02T15:00:00Z").await;
    for _ in 0..iters {
        let (path, fixture) = target.fuzzed[rng.usize(..target.fuzzed.len())];
        served.set(
            path,
            target.content_type,
            mutate(&mut rng, &fixtures::bytes(fixture)),
        );
        // A panic here fails the test; any outcome without one is fine.
        let next = h.poll().await;
        // Whatever back-off the failure asked for has passed before the next input.
        if next > h.now() {
            h.clock.set(next);
        }
        h.advance(1);
    }
    // The connector still works on a good page after all that.
    for (path, fixture) in &target.fuzzed {
        served.set(path, target.content_type, fixtures::bytes(fixture));
    }
    h.advance(3600);
    h.poll().await;
    let status = h.status().await;
    assert!(
        !status.is_empty(),
        "{}: no source status recorded",
        target.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_mastodon_pages_never_panic() {
    fuzz_platform(
        Target {
            name: "mastodon",
            content_type: "application/json",
            fixed: vec![],
            fuzzed: vec![("/api/v1/timelines/tag/", "mastodon/timeline_tag.json")],
        },
        |base| mastodon_config(base, ""),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_hacker_news_pages_never_panic() {
    fuzz_platform(
        Target {
            name: "hackernews",
            content_type: "application/json",
            fixed: vec![],
            fuzzed: vec![("/api/v1/search_by_date", "hackernews/search_by_date.json")],
        },
        hn_config,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_reddit_pages_never_panic() {
    let (_d, secret) = secret_file("shhh-secret");
    fuzz_platform(
        Target {
            name: "reddit",
            content_type: "application/json",
            fixed: vec![("/api/v1/access_token", "reddit/token_response.json")],
            fuzzed: vec![("/search", "reddit/search_submissions.json")],
        },
        |base| reddit_config(base, Some(&secret)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_bluesky_pages_never_panic() {
    let (_d, pw) = secret_file("app-pass-1234");
    fuzz_platform(
        Target {
            name: "bluesky",
            content_type: "application/json",
            fixed: vec![(
                "/xrpc/com.atproto.server.createSession",
                "bluesky/create_session.json",
            )],
            fuzzed: vec![
                (
                    "/xrpc/app.bsky.feed.searchPosts",
                    "bluesky/search_posts.json",
                ),
                (
                    "/xrpc/app.bsky.actor.getProfiles",
                    "bluesky/get_profiles.json",
                ),
            ],
        },
        |base| bluesky_config(base, &pw),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_x_pages_never_panic() {
    let (_d, token) = secret_file("bearer-token");
    fuzz_platform(
        Target {
            name: "x",
            content_type: "application/json",
            fixed: vec![],
            fuzzed: vec![("/2/tweets/search/recent", "x/search_recent_expanded.json")],
        },
        |base| x_config(base, &token, 1_000_000),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_feeds_never_panic() {
    for (name, fixture) in [
        ("rss", "rss/generic_rss2.xml"),
        ("atom", "rss/google_alerts.atom.xml"),
    ] {
        fuzz_platform(
            Target {
                name,
                content_type: "application/xml",
                fixed: vec![],
                fuzzed: vec![("/feed", fixture)],
            },
            |base| rss_config(&format!("{base}/feed"), ""),
        )
        .await;
    }
}

#[tokio::test]
async fn fuzzed_mention_lines_never_panic_and_each_is_stored_or_rejected() {
    let (mut rng, iters) = seed_and_iters("jsonl");
    let sample = std::fs::read(repo().join("examples/mentions.jsonl")).unwrap();
    let lines: Vec<&[u8]> = sample
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut input = Vec::new();
    for _ in 0..iters * 4 {
        let line = lines[rng.usize(..lines.len())];
        input.extend(mutate(&mut rng, line));
        input.push(b'\n');
    }
    let ws = Workspace::example();
    let out = ws.run_stdin_bytes(&["ingest", "--input", "-"], &input);
    let err = stderr(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "ingest exited {:?}: {err}",
        out.status.code()
    );
    assert!(!err.contains("panicked"), "{err}");
    // Every line is accounted for: read = stored + duplicates + unmatched + rejected.
    let summary = stdout(&out);
    let n: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(n.len(), 5, "{summary}");
    assert_eq!(n[0], n[1] + n[2] + n[3] + n[4], "{summary}");
}

#[test]
fn fuzzed_config_files_never_panic_and_errors_name_the_file() {
    let (mut rng, iters) = seed_and_iters("config");
    let example = std::fs::read(repo().join("config.example.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    for _ in 0..iters * 4 {
        std::fs::write(&file, mutate_bytes(&mut rng, &example)).unwrap();
        let loaded = std::panic::catch_unwind(|| mentiond::config::Config::load(&file).map(|_| ()));
        match loaded {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains("config.toml"), "error without the file: {msg}");
            }
            Err(_) => panic!(
                "Config::load panicked on:\n{}",
                String::from_utf8_lossy(&std::fs::read(&file).unwrap())
            ),
        }
    }
}
