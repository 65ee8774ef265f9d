//! Running under systemd: the notify protocol on a socket the test owns (READY only once the
//! database is migrated, periodic WATCHDOG, STATUS, RELOADING, STOPPING), SIGHUP reloads (a valid
//! config takes effect, a broken one is rejected and the old one keeps running), journald log
//! lines, backups, an integrity check that refuses a corrupt database, retention, and the unit
//! file checked by `systemd-analyze`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use mentiond::simulator::Platform;
use mentiond::store::Store;
use tokio::net::UnixDatagram;

use crate::daemon::{Running, post, simulator, wait_for};
use crate::helpers::*;

/// A `NOTIFY_SOCKET` for a daemon: every datagram received, in order.
struct NotifySocket {
    path: std::path::PathBuf,
    received: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf).await {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string());
            }
        });
        NotifySocket {
            path,
            received,
            _dir: dir,
        }
    }

    fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    fn count(&self, line: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }
}

fn migration_files() -> usize {
    std::fs::read_dir(repo().join("migrations/sqlite"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count()
}

async fn applied_migrations(db: &Path) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

const ACME: &str = "[storage]\nurl = \"sqlite://data/mentiond.db\"\n\n[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_protocol_ready_after_migrations_watchdog_status_stopping() {
    let socket = NotifySocket::bind();
    let ws = Workspace::new(ACME);
    let db = ws.path("data/mentiond.db");
    let sock = socket.path.to_str().unwrap().to_string();
    // stderr goes to a file that plays the journal's stream: JOURNAL_STREAM names its device
    // and inode, as systemd does.
    let log = ws.path("journal.log");
    let file = std::fs::File::create(&log).unwrap();
    let stream = {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().unwrap();
        format!("{}:{}", m.dev(), m.ino())
    };
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--config").arg(ws.config()).arg("run");
    cmd.env("RUST_LOG", "info")
        .env("NOTIFY_SOCKET", &sock)
        .env("WATCHDOG_USEC", "400000")
        .env("JOURNAL_STREAM", &stream)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .kill_on_drop(true);
    let run = Running {
        child: cmd.spawn().unwrap(),
        log,
    };
    wait_for(Duration::from_secs(20), "READY=1", || async {
        socket.count("READY=1") > 0
    })
    .await;
    // At READY the database exists with every migration applied.
    assert_eq!(applied_migrations(&db).await, migration_files() as i64);
    wait_for(Duration::from_secs(10), "periodic WATCHDOG=1", || async {
        socket.count("WATCHDOG=1") >= 4
    })
    .await;
    wait_for(Duration::from_secs(10), "a STATUS line", || async {
        socket
            .messages()
            .iter()
            .any(|m| m.starts_with("STATUS=") && m.contains("mentions stored in the last hour"))
    })
    .await;
    assert_eq!(socket.count("STOPPING=1"), 0);
    let started = std::time::Instant::now();
    let (code, log) = run.terminate(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    wait_for(Duration::from_secs(5), "STOPPING=1", || async {
        socket.count("STOPPING=1") == 1
    })
    .await;
    let messages = socket.messages();
    let ready = messages.iter().position(|m| m == "READY=1").unwrap();
    let stopping = messages.iter().position(|m| m == "STOPPING=1").unwrap();
    assert!(ready < stopping, "{messages:?}");
    assert_eq!(socket.count("READY=1"), 1, "{messages:?}");
    // Under journald: a priority prefix, no timestamp of our own, no colours.
    let first = log.lines().next().unwrap_or_default();
    assert!(first.starts_with("<6>"), "{log}");
    for l in log.lines().filter(|l| !l.is_empty()) {
        let rest = l.strip_prefix('<').and_then(|r| r.split_once('>'));
        let Some((priority, text)) = rest else {
            panic!("no priority prefix: {l:?}\n{log}");
        };
        assert!(matches!(priority, "3" | "4" | "6" | "7"), "{l:?}");
        assert!(
            !text.trim_start().starts_with(|c: char| c.is_ascii_digit()),
            "a timestamp of our own: {l:?}"
        );
        assert!(!text.contains('\u{1b}'), "colours: {l:?}");
    }
}

#[test]
fn fatal_errors_carry_the_err_priority_only_on_the_journal_stream() {
    use std::os::unix::fs::MetadataExt;
    let ws = Workspace::new("[[brands]]\nname = \"\"\n");
    let log = ws.path("stderr.log");
    let run = |stream: Option<String>| {
        let file = std::fs::File::create(&log).unwrap();
        let m = file.metadata().unwrap();
        let stream = stream.unwrap_or_else(|| format!("{}:{}", m.dev(), m.ino()));
        let status = std::process::Command::new(BIN)
            .arg("--config")
            .arg(ws.config())
            .arg("check-config")
            .env("JOURNAL_STREAM", stream)
            .stderr(file)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2));
        std::fs::read_to_string(&log).unwrap()
    };
    let journal = run(None);
    assert!(
        journal.starts_with("<3>error: invalid configuration"),
        "{journal}"
    );
    // A shell that merely inherited the variable writes plain lines.
    let inherited = run(Some("8:12345".into()));
    assert!(
        inherited.starts_with("error: invalid configuration"),
        "{inherited}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ready_when_the_database_cannot_be_opened() {
    let socket = NotifySocket::bind();
    let ws = Workspace::new(ACME);
    // The database's folder is a file: nothing can be created there.
    std::fs::write(ws.path("data"), "not a folder").unwrap();
    let sock = socket.path.to_str().unwrap().to_string();
    let mut run = Running::start(&ws.config(), &[("NOTIFY_SOCKET", sock.as_str())]);
    let status = tokio::time::timeout(Duration::from_secs(20), run.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert_eq!(status.code(), Some(1), "{}", run.log());
    assert!(run.log().contains("opening storage"), "{}", run.log());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(socket.count("READY=1"), 0, "{:?}", socket.messages());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_database_is_refused_at_start() {
    let ws = Workspace::new(ACME);
    let input = ws.write(
        "many.jsonl",
        &(0..3000)
            .map(|i| {
                line(
                    "rss",
                    &format!("id-{i}"),
                    &format!(
                        "Acme post number {i} with some padding text to fill the pages of the table"
                    ),
                    "2026-03-01T10:00:00Z",
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let o = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Scribble over pages in the middle of the file (a bad disk, a botched copy).
    let db = ws.path("data/mentiond.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096;
    let pages = bytes.len() / page;
    assert!(pages > 20, "{pages} pages");
    for p in [pages / 3, pages / 2] {
        for b in &mut bytes[p * page + 8..(p + 1) * page] {
            *b = 0x5a;
        }
    }
    std::fs::write(&db, bytes).unwrap();
    let mut run = Running::start(&ws.config(), &[]);
    let status = tokio::time::timeout(Duration::from_secs(30), run.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert_eq!(status.code(), Some(1), "{}", run.log());
    let log = run.log();
    assert!(
        log.contains("integrity check") || log.contains("malformed"),
        "{log}"
    );
}

fn reload_config(sim_url: &str, brands: &str) -> String {
    format!(
        "[storage]\nurl = \"sqlite://data/mentiond.db\"\n\n{brands}\n[sources]\nbackfill = \"24h\"\n\n[sources.mastodon]\nbase_url = \"{sim_url}\"\ninterval = \"2s\"\nkeywords_as_hashtags = false\n"
    )
}

const BRAND_ACME: &str = "[[brands]]\nname = \"Acme\"\nhashtags = [\"acme\"]\n";
const BRAND_GLOBEX: &str = "[[brands]]\nname = \"Globex\"\nhashtags = [\"globex\"]\n";

/// Mentions of `brand` in the store (read directly: the config file may be broken on purpose).
async fn brand_count(ws: &Workspace, brand: &str) -> usize {
    let db = ws.path("data/mentiond.db");
    if !db.exists() {
        return 0;
    }
    let Ok(store) = Store::open_sqlite(&db).await else {
        return 0;
    };
    let n = store
        .query(&mentiond::store::MentionQuery {
            brand: Some(brand.into()),
            ..Default::default()
        })
        .await
        .map(|rows| rows.len())
        .unwrap_or(0);
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_valid_config_and_keeps_the_old_one_on_errors() {
    let sim = simulator().await;
    let world = sim.world.clone();
    world.add_posts([
        post(Platform::Mastodon, 30, "anna", "#acme coffee is great"),
        post(Platform::Mastodon, 20, "bob", "#globex rocket launch today"),
    ]);
    let ws = Workspace::new(&reload_config(&sim.url(), BRAND_ACME));
    let socket = NotifySocket::bind();
    let sock = socket.path.to_str().unwrap().to_string();
    let run = Running::start(&ws.config(), &[("NOTIFY_SOCKET", sock.as_str())]);
    wait_for(Duration::from_secs(30), "Acme's post", || async {
        brand_count(&ws, "Acme").await == 1
    })
    .await;
    assert_eq!(world.requests_to("/api/v1/timelines/tag/globex"), 0);

    // A valid new config: Globex appears, in status and in the store.
    ws.write(
        "config.toml",
        &reload_config(&sim.url(), &format!("{BRAND_ACME}\n{BRAND_GLOBEX}")),
    );
    run.signal("HUP");
    wait_for(Duration::from_secs(30), "Globex's post", || async {
        brand_count(&ws, "Globex").await == 1
    })
    .await;
    let status = stdout(&ws.run(&["status"]));
    assert!(status.contains("tag:globex"), "{status}");
    assert!(
        run.log().contains("configuration reloaded"),
        "{}",
        run.log()
    );
    let reloaded = || {
        let m = socket.messages();
        let reloading = m.iter().position(|x| x.starts_with("RELOADING=1"));
        reloading.is_some_and(|r| m[r..].iter().any(|x| x == "READY=1"))
    };
    for _ in 0..100 {
        if reloaded() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded(), "{:?}", socket.messages());
    assert!(
        socket
            .messages()
            .iter()
            .any(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC=")),
        "{:?}",
        socket.messages()
    );

    // A broken config: rejected with its line and key; the running one carries on.
    let broken = reload_config(&sim.url(), &format!("{BRAND_ACME}\n{BRAND_GLOBEX}")).replace(
        "hashtags = [\"globex\"]",
        "hashtags = [\"globex\"]\nkewords = [\"x\"]",
    );
    ws.write("config.toml", &broken);
    let line = broken
        .lines()
        .position(|l| l.starts_with("kewords"))
        .unwrap()
        + 1;
    run.signal("HUP");
    wait_for(
        Duration::from_secs(10),
        "the rejection in the log",
        || async { run.log().contains("configuration rejected") },
    )
    .await;
    let log = run.log();
    assert!(
        log.contains(&format!(
            "config.toml:{line}:1: brands[1].kewords: unknown field"
        )),
        "{log}"
    );
    // systemd heard RELOADING=1 when the signal came, then READY=1 with a STATUS= saying the
    // reload was rejected (so `systemctl reload` does not wait for ever, and the operator sees
    // why in `systemctl status`).
    let rejected_ready = || {
        let m = socket.messages();
        let Some(r) = m.iter().rposition(|x| x.starts_with("RELOADING=1")) else {
            return false;
        };
        m[r..].iter().any(|x| {
            x.lines().any(|l| l == "READY=1")
                && x.contains("STATUS=reload at")
                && x.contains("rejected")
                && x.contains("kewords")
        })
    };
    wait_for(
        Duration::from_secs(10),
        "READY=1 with the rejection",
        || async { rejected_ready() },
    )
    .await;
    // A config that parses but cannot be set up (a CA file that is not a certificate): also
    // rejected, the running tasks untouched.
    ws.write(
        "bad-ca.pem",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    ws.write(
        "config.toml",
        &format!(
            "{}\n[email]\ntransport = \"smtp\"\n\n[email.smtp]\nhost = \"127.0.0.1\"\ntls = \"starttls\"\nca_file = \"bad-ca.pem\"\n",
            reload_config(&sim.url(), &format!("{BRAND_ACME}\n{BRAND_GLOBEX}"))
        ),
    );
    run.signal("HUP");
    wait_for(Duration::from_secs(10), "the second rejection", || async {
        run.log().matches("configuration rejected").count() == 2
    })
    .await;
    assert!(
        run.log().contains("setting up e-mail delivery"),
        "{}",
        run.log()
    );
    world.add_posts([post(Platform::Mastodon, 1, "carla", "#globex second post")]);

    wait_for(Duration::from_secs(30), "polling went on", || async {
        brand_count(&ws, "Globex").await == 2
    })
    .await;

    // Globex removed: its timeline is no longer polled.
    ws.write("config.toml", &reload_config(&sim.url(), BRAND_ACME));
    run.signal("HUP");
    wait_for(Duration::from_secs(10), "the second reload", || async {
        run.log().matches("configuration reloaded").count() == 2
    })
    .await;
    let after = world.requests_to("/api/v1/timelines/tag/globex");
    let acme_before = world.requests_to("/api/v1/timelines/tag/acme");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(world.requests_to("/api/v1/timelines/tag/globex"), after);
    assert!(world.requests_to("/api/v1/timelines/tag/acme") > acme_before);

    let (code, log) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_a_consistent_copy_and_never_overwrites_by_accident() {
    let ws = Workspace::example();
    let o = ws.run(&[
        "ingest",
        "--input",
        repo().join("examples/mentions.jsonl").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let copy = ws.path("backups/copy.db");
    std::fs::create_dir_all(ws.path("backups")).unwrap();
    let o = ws.run(&["backup", "--to", copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("backup of sqlite://"), "{}", stderr(&o));
    let original = ws.store().await;
    let n = original.count_mentions().await.unwrap();
    original.close().await;
    let backup = Store::open_sqlite(&copy).await.unwrap();
    assert_eq!(backup.count_mentions().await.unwrap(), n);
    assert!(n > 0);
    assert!(backup.quick_check().await.unwrap().is_empty());
    backup.close().await;
    // No leftovers next to it.
    let names: Vec<String> = std::fs::read_dir(ws.path("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("copy.db"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    let o = ws.run(&["backup", "--to", copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = ws.run(&["backup", "--to", copy.to_str().unwrap(), "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Never over the live database, and no partial copy left behind by a killed backup.
    let live = ws.path("mentiond.db");
    let o = ws.run(&["backup", "--to", live.to_str().unwrap(), "--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the database being copied"),
        "{}",
        stderr(&o)
    );
    std::fs::write(ws.path("backups/.copy.db.partial-99999"), "half a copy").unwrap();
    let o = ws.run(&["backup", "--to", copy.to_str().unwrap(), "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!ws.path("backups/.copy.db.partial-99999").exists());
    // The snapshot job's form: no config read at all.
    let o = run_with_stdin(
        &ws.path("no-such-config.toml"),
        &[
            "backup",
            "--from",
            copy.to_str().unwrap(),
            "--to",
            ws.path("backups/second.db").to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let second = Store::open_sqlite(&ws.path("backups/second.db"))
        .await
        .unwrap();
    assert_eq!(second.count_mentions().await.unwrap(), n);
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_old_rows_in_batches_and_keeps_the_rest() {
    let ws = Workspace::new(ACME);
    let old = "2025-01-10T10:00:00Z";
    let recent = Utc::now().to_rfc3339();
    let mut lines = Vec::new();
    for i in 0..1200 {
        lines.push(line(
            "rss",
            &format!("old-{i}"),
            &format!("Acme refund story {i}"),
            old,
        ));
    }
    for i in 0..30 {
        lines.push(line(
            "rss",
            &format!("new-{i}"),
            &format!("Acme refund news {i}"),
            &recent,
        ));
    }
    let input = ws.write("m.jsonl", &lines.join("\n"));
    let o = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let store = ws.store().await;
    store
        .log_poll_error(
            "rss:x",
            "feed",
            "2025-01-10T10:00:00Z".parse().unwrap(),
            "old",
        )
        .await
        .unwrap();
    store
        .log_poll_error("rss:x", "feed", Utc::now(), "new")
        .await
        .unwrap();
    let cutoff = Utc::now() - chrono::Duration::days(400);
    let mut batches = 0;
    loop {
        let p = store.prune_before(cutoff, 500).await.unwrap();
        if p.total() == 0 {
            break;
        }
        assert!(p.mentions <= 500);
        batches += 1;
    }
    assert_eq!(batches, 3, "1200 old mentions in batches of 500");
    assert_eq!(store.count_mentions().await.unwrap(), 30);
    store.close().await;
    // Links and search index follow.
    let o = ws.run(&[
        "query", "--search", "refund", "--limit", "0", "--format", "ndjson",
    ]);
    assert_eq!(stdout(&o).lines().count(), 30, "{}", stderr(&o));
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        ws.path("data/mentiond.db").display()
    ))
    .await
    .unwrap();
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM mention_brands")
        .fetch_one(&pool)
        .await
        .unwrap();
    let fts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'story'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let polls: i64 = sqlx::query_scalar("SELECT count(*) FROM source_polls")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!((links, fts, polls), (30, 0, 1));
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    std::process::Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze is needed for this test (Debian: apt-get install systemd; .ci/run installs it)")
}

#[test]
fn the_unit_passes_systemd_analyze_security_and_verify() {
    let unit = repo().join("systemd/mentiond.service");
    let o = systemd_analyze(&[
        "security",
        "--offline=true",
        "--threshold=15",
        unit.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let exposure: f64 = out
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for mentiond.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{out}"));
    assert!(exposure <= 1.5, "exposure {exposure}:\n{out}");

    // `verify` checks that ExecStart= exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let mut copies = Vec::new();
    for name in [
        "mentiond.service",
        "mentiond-snapshot.service",
        "mentiond-snapshot.timer",
    ] {
        let text = std::fs::read_to_string(repo().join("systemd").join(name)).unwrap();
        let copy = dir.path().join(name);
        std::fs::write(&copy, text.replace("/usr/local/bin/mentiond", BIN)).unwrap();
        copies.push(copy.to_string_lossy().into_owned());
    }
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/mentiond "));
    let mut args = vec!["verify", "--recursive-errors=yes", "--man=no"];
    args.extend(copies.iter().map(String::as_str));
    let o = systemd_analyze(&args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success() && err.trim().is_empty(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_read_without_writing() {
    let ws = Workspace::new(ACME);
    let input = ws.write(
        "m.jsonl",
        &line("rss", "a1", "Acme is great", "2026-03-01T10:00:00Z"),
    );
    assert!(
        ws.run(&["ingest", "--input", input.to_str().unwrap()])
            .status
            .success()
    );
    let db = ws.path("data/mentiond.db");
    // The read-only store reads, and cannot write.
    let store = Store::open_read_only(&db).await.unwrap();
    assert_eq!(store.count_mentions().await.unwrap(), 1);
    let write = sqlx::query("DELETE FROM mentions")
        .execute(store.writer())
        .await;
    assert!(write.is_err(), "a read-only store wrote");
    store.close().await;
    // `query` and `status` go through it.
    let o = ws.run(&["query", "--format", "ndjson"]);
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(ws.run(&["status"]).status.success());
    // A database from another version is refused with a way out, not half-read.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let err = Store::open_read_only(&db).await.err().expect("refused");
    assert!(
        err.to_string().contains("open it once with write access"),
        "{err}"
    );
}
