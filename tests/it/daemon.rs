//! `mentiond run` as a real process against the simulator: killed in the middle of paging and
//! restarted, stopped with SIGTERM, failing sources reported by `status`, secrets kept out of
//! the logs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mentiond::clock::{Clock, ManualClock, SystemClock};
use mentiond::config::Config;
use mentiond::daemon::{Daemon, DaemonHandle};
use mentiond::simulator::{Fault, Platform, SimPost, Simulator, World};
use mentiond::store::{MentionQuery, Store};

use crate::helpers::*;

/// A post of the simulated world `minutes_ago` minutes ago.
pub fn post(platform: Platform, minutes_ago: i64, author: &str, text: &str) -> SimPost {
    SimPost {
        platform,
        created_at: Utc::now() - chrono::Duration::minutes(minutes_ago),
        author: author.into(),
        followers: 10,
        text: text.into(),
        lang: Some("en".into()),
        likes: 0,
        reposts: 0,
        replies: 0,
        feed: None,
        seq: 0,
    }
}

pub async fn simulator() -> Simulator {
    Simulator::start(World::new(Arc::new(SystemClock)))
        .await
        .expect("simulator")
}

/// A running `mentiond run`, its stderr captured in a file.
pub struct Running {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

impl Running {
    pub fn start(config: &Path, envs: &[(&str, &str)]) -> Running {
        let log = config.with_file_name(format!("daemon-{}.log", fastrand::u32(..)));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("--config").arg(config).arg("run");
        cmd.env("RUST_LOG", "info");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        cmd.kill_on_drop(true);
        Running {
            child: cmd.spawn().expect("spawn mentiond run"),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("running").to_string();
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(&pid)
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {pid}");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self, within: Duration) -> (Option<i32>, String) {
        self.signal("TERM");
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no exit within {within:?} after SIGTERM; log:\n{}",
                    self.log()
                )
            })
            .unwrap();
        (status.code(), self.log())
    }
}

/// Polls `check` until it returns true or `timeout` passes (then panics with `what`).
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn stored_ids(db: &Path) -> BTreeSet<String> {
    if !db.exists() {
        return BTreeSet::new();
    }
    let Ok(store) = Store::open_sqlite(db).await else {
        return BTreeSet::new();
    };
    let ids = store
        .query(&MentionQuery::default())
        .await
        .map(|rows| rows.into_iter().map(|r| r.external_id).collect())
        .unwrap_or_default();
    store.close().await;
    ids
}

fn mastodon_config(sim: &Simulator, extra_sources: &str) -> String {
    format!(
        r##"
[storage]
url = "sqlite://data/mentiond.db"

[[brands]]
name = "Acme"
keywords = ["acme"]
hashtags = ["#acme"]

[sources]
backfill = "24h"
timeout = "5s"
max_pages_per_poll = 50

[sources.mastodon]
base_url = "{}"
interval = "2m"
keywords_as_hashtags = false
{extra_sources}
"##,
        sim.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_paging_and_restarted_stores_exactly_the_servers_posts() {
    let sim = simulator().await;
    let world = sim.world.clone();
    world.add_posts((0..300).map(|i| {
        post(
            Platform::Mastodon,
            600 - i * 2,
            &format!("user{}", i % 17),
            &format!("#acme post number {i}"),
        )
    }));
    // Slow pages, so the kill lands in the middle of paging (8 pages of 40).
    world.set_delay(Duration::from_millis(200));
    let ws = Workspace::new(&mastodon_config(&sim, ""));
    let db = ws.path("data/mentiond.db");

    let mut first = Running::start(&ws.config(), &[]);
    wait_for(
        Duration::from_secs(30),
        "the first page to be stored",
        || async { !stored_ids(&db).await.is_empty() },
    )
    .await;
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let before = stored_ids(&db).await;
    assert!(
        !before.is_empty() && before.len() < 300,
        "killed in the middle: {} stored",
        before.len()
    );
    let requests_before = world.requests_to("/api/v1/timelines/tag/acme");

    world.set_delay(Duration::from_millis(20));
    let second = Running::start(&ws.config(), &[]);
    wait_for(
        Duration::from_secs(30),
        "every post to be stored",
        || async { stored_ids(&db).await.len() >= 300 },
    )
    .await;
    let (code, log) = second.terminate(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "{log}");

    let expected: BTreeSet<String> = world
        .visible(Platform::Mastodon)
        .iter()
        .map(|p| format!("{}/users/{}/statuses/{}", sim.url(), p.author, p.seq))
        .collect();
    assert_eq!(
        stored_ids(&db).await,
        expected,
        "stored set equals the server's set"
    );
    // The restart resumed where the first run stopped instead of paging from the top again:
    // 8 pages in all, plus at most the page in flight at the kill and the final empty check.
    let total = world.requests_to("/api/v1/timelines/tag/acme");
    assert!(
        total <= 8 + 2,
        "{requests_before} requests before the kill, {total} in all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_within_seconds_and_keeps_the_last_batch_whole() {
    let sim = simulator().await;
    let world = sim.world.clone();
    world.add_posts((0..400).map(|i| {
        post(
            Platform::Mastodon,
            700 - i,
            "anna",
            &format!("#acme number {i}"),
        )
    }));
    world.set_delay(Duration::from_millis(300));
    let ws = Workspace::new(&mastodon_config(&sim, ""));
    let db = ws.path("data/mentiond.db");
    let run = Running::start(&ws.config(), &[]);
    wait_for(Duration::from_secs(30), "a page to be stored", || async {
        !stored_ids(&db).await.is_empty()
    })
    .await;
    let started = std::time::Instant::now();
    let (code, log) = run.terminate(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        started.elapsed()
    );
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );

    // Whole pages only, and the cursor points just below the oldest stored post.
    let ids = stored_ids(&db).await;
    assert_eq!(
        ids.len() % 40,
        0,
        "{} stored: a partial page was committed",
        ids.len()
    );
    let store = Store::open_sqlite(&db).await.unwrap();
    let cursor = store
        .load_cursor(&format!("mastodon:{}", sim.addr), "tag:acme")
        .await
        .unwrap()
        .unwrap();
    let resume = cursor
        .round
        .expect("interrupted mid-round")
        .resume
        .before
        .unwrap()
        .id
        .unwrap();
    let oldest_stored = ids
        .iter()
        .map(|u| u.rsplit('/').next().unwrap().parse::<u64>().unwrap())
        .min()
        .unwrap();
    assert_eq!(resume, oldest_stored.to_string());
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(store.reader())
        .await
        .unwrap();
    assert_eq!(check, "ok");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_platform_is_reported_and_does_not_stall_the_others() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let sim = Simulator::start(World::new(clock.clone()))
        .await
        .expect("simulator");
    let world = sim.world.clone();
    world.add_posts([
        post(Platform::Mastodon, 30, "anna", "#acme is down again"),
        post(Platform::Hackernews, 20, "pg", "Acme raises prices"),
        post(Platform::Hackernews, 10, "dang", "Why Acme matters"),
    ]);
    world.inject(Fault {
        path_prefix: "/api/v1/timelines/tag/".into(),
        status: 401,
        headers: vec![("content-type".into(), "application/json".into())],
        body: r#"{"error":"This method requires an authenticated user"}"#.into(),
        times: 1000,
    });
    let hn = format!(
        "[sources.hackernews]\nbase_url = \"{}\"\ninterval = \"1m\"",
        sim.url()
    );
    let ws = Workspace::new(
        &mastodon_config(&sim, "")
            .replace("[sources.mastodon]", &format!("{hn}\n\n[sources.mastodon]")),
    );
    let db = ws.path("data/mentiond.db");
    let daemon = spawn_daemon(&ws.config(), clock.clone()).await;
    let status_out = || async {
        let out = ws.run(&["status"]);
        stdout(&out)
    };
    let limit = clock.now() + chrono::Duration::minutes(10);
    let second = chrono::Duration::seconds(1);
    drive_until(
        &clock,
        &daemon,
        second,
        limit,
        "Hacker News posts",
        || async { stored_ids(&db).await.len() == 2 },
    )
    .await;
    drive_until(
        &clock,
        &daemon,
        second,
        limit,
        "the failure in status",
        || async { status_out().await.contains("auth_failed") },
    )
    .await;
    daemon.shutdown();
    daemon.join().await.expect("a clean stop");

    let table = status_out().await;
    let line = table
        .lines()
        .find(|l| l.starts_with("mastodon:"))
        .expect(&table);
    assert!(
        line.contains("auth_failed") && line.contains("requires an authenticated user"),
        "{table}"
    );
    assert!(
        line.contains("token_file"),
        "the reason says what to do: {table}"
    );
    let hn_line = table
        .lines()
        .find(|l| l.starts_with("hackernews"))
        .expect(&table);
    assert!(hn_line.contains(" ok "), "{table}");

    let json = ws.run(&["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let sources = v["sources"].as_array().unwrap();
    let m = sources
        .iter()
        .find(|s| s["source_id"].as_str().unwrap().starts_with("mastodon:"))
        .unwrap();
    assert_eq!(m["state"], "auth_failed");
    assert!(m["consecutive_failures"].as_i64().unwrap() >= 1);
    let h = sources
        .iter()
        .find(|s| s["source_id"] == "hackernews")
        .unwrap();
    assert_eq!(h["stored_last_hour"], 2);
    assert_eq!(h["stale"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let sim = simulator().await;
    sim.world.inject(Fault {
        path_prefix: "/".into(),
        status: 401,
        headers: vec![],
        body: r#"{"error":"The access token is invalid"}"#.into(),
        times: 1000,
    });
    let secret_dir = tempfile::tempdir().unwrap();
    std::fs::write(secret_dir.path().join("mastodon"), "tok-SECRET-4f9a2c").unwrap();
    std::fs::write(secret_dir.path().join("bsky"), "pw-SECRET-77e1d0").unwrap();
    let extra = format!(
        "token_file = \"{}\"\n\n[sources.bluesky]\nservice = \"{}\"\nidentifier = \"acme.example\"\napp_password_env = \"MENTIOND_TEST_BSKY_PW\"",
        secret_dir.path().join("mastodon").display(),
        sim.url()
    );
    let ws = Workspace::new(&mastodon_config(&sim, &extra));
    let run = Running::start(
        &ws.config(),
        &[
            ("RUST_LOG", "trace"),
            ("MENTIOND_TEST_BSKY_PW", "pw-SECRET-77e1d0"),
        ],
    );
    wait_for(Duration::from_secs(20), "both sources to fail", || async {
        sim.world.requests_to("/xrpc/") > 0 && sim.world.requests_to("/api/v1/timelines/") > 0
    })
    .await;
    let (_, log) = run.terminate(Duration::from_secs(10)).await;
    assert!(
        log.contains("The access token is invalid"),
        "the failure is logged: {log}"
    );
    assert!(!log.contains("SECRET"), "a secret reached the log:\n{log}");
    let check = std::process::Command::new(BIN)
        .arg("--config")
        .arg(ws.config())
        .arg("check-config")
        .env("MENTIOND_TEST_BSKY_PW", "pw-SECRET-77e1d0")
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(!stdout(&check).contains("SECRET") && !stderr(&check).contains("SECRET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_ca_certificates_runs_on_the_bundled_roots() {
    let sim = simulator().await;
    sim.world
        .add_posts([post(Platform::Mastodon, 5, "anna", "#acme is down again")]);
    let ws = Workspace::new(&mastodon_config(&sim, ""));
    // An empty bundle where the system's should be: what a host without ca-certificates
    // looks like to mentiond (SSL_CERT_FILE replaces the system's locations).
    let empty = ws.write("empty-bundle.pem", "");
    let db = ws.path("data/mentiond.db");
    let run = Running::start(
        &ws.config(),
        &[
            ("SSL_CERT_FILE", empty.to_str().unwrap()),
            ("SSL_CERT_DIR", ""),
        ],
    );
    wait_for(Duration::from_secs(30), "the post stored", || async {
        stored_ids(&db).await.len() == 1
    })
    .await;
    let (code, log) = run.terminate(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("no CA certificates found") && log.contains("ca-certificates"),
        "the operator is told what is missing: {log}"
    );
    assert!(!log.contains("cannot build the HTTP client"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "a log file gets no colour codes (defect 11): {log:?}"
    );
}

/// `mentiond run` in this process, on `clock`, once its tasks run.
pub async fn spawn_daemon(config: &Path, clock: Arc<ManualClock>) -> DaemonHandle {
    let loaded = Config::load(config).unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::builder(loaded, config.to_path_buf())
        .clock(clock)
        .spawn()
        .await
        .expect("daemon starts");
    assert!(
        daemon.ready().await,
        "the daemon stopped before it was ready"
    );
    daemon
}

/// Moves `clock` on by `step` each time every loop of `daemon` (and its status reporter) is
/// asleep on it, until `done` holds; fails if the daemon's time passes `limit` first. The
/// daemon's time thus only moves while it is idle, as fast as it gets through its work.
pub async fn drive_until<F, Fut>(
    clock: &ManualClock,
    daemon: &DaemonHandle,
    step: chrono::Duration,
    limit: chrono::DateTime<Utc>,
    what: &str,
    mut done: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // A guard against a hung daemon only (no test waits anywhere near this long).
    let hang_guard = tokio::time::Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(
            clock.now() <= limit,
            "{what}: not by {limit} on the daemon's clock"
        );
        assert!(
            tokio::time::Instant::now() < hang_guard,
            "{what}: the daemon hung"
        );
        if clock.sleepers() > daemon.progress().active() {
            clock.advance(step);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
