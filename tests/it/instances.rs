//! Several daemons on one PostgreSQL database: three `mentiond run` with the same config poll
//! a simulated Mastodon through leases; the one holding most of the work is SIGKILLed; the two
//! others take its queries and the alert evaluation over. Every post is stored once, the
//! complaint wave after the kill makes one alert, and no e-mail reaches the server twice.
//! Runs when `MENTIOND_TEST_POSTGRES_URL` names a server (`.ci/run` sets it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use mentiond::simulator::Platform;
use mentiond::store::{MentionQuery, Store};

use crate::alerts::{Stream, varied};
use crate::daemon::{Running, post, simulator};
use crate::helpers::*;
use crate::smtp::{Mode, SmtpServer};
use crate::storage::PgTestDb;

const TAGS: [&str; 3] = ["acme", "acmecoffee", "acmehelp"];

/// The pid in a lease holder (`host:pid:random`).
fn pid_of(holder: &str) -> Option<u32> {
    holder.rsplit(':').nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_database_and_survive_a_sigkill() {
    let Some(db) = PgTestDb::create().await else {
        eprintln!("MENTIOND_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let server = SmtpServer::start(Mode::Plain).await;
    let sim = simulator().await;
    let world = sim.world.clone();
    let ws = Workspace::new("");
    ws.write(
        "config.toml",
        &format!(
            r##"
[storage]
url = "{}"
lease = "3s"

[[brands]]
name = "Acme"
keywords = ["acme"]
hashtags = ["#acme", "#acmecoffee", "#acmehelp"]

[alerts]
min_negative = 5
cooldown = "2h"

[sources]
backfill = "24h"
timeout = "3s"

[sources.mastodon]
base_url = "{}"
interval = "1s"
keywords_as_hashtags = false

[[digests]]
name = "often"
schedule = "*/3 * * * * *"

{}"##,
            db.url,
            sim.url(),
            server.email_config(ws.dir.path())
        ),
    );
    // Ten days of ordinary history, so that a complaint wave stands out.
    let mut history = Stream::new(7);
    history.chatter(Utc::now() - chrono::Duration::days(10), 10, 24.0);
    let file = ws.write("history.jsonl", &history.lines.join("\n"));
    let out = ws.run(&["ingest", "--input", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = Store::open(&db.location()).await.unwrap();

    let mut n = 0u64;
    let mut add = |count: u64, complaint: bool| {
        world.add_posts((0..count).map(|_| {
            n += 1;
            let tag = TAGS[(n % 3) as usize];
            let text = if complaint {
                format!(
                    "#acme {}",
                    varied("Acme charged me twice, awful and rude support", n)
                )
            } else {
                format!("#{tag} ordinary post number {n}")
            };
            post(Platform::Mastodon, 0, &format!("user{}", n % 97), &text)
        }));
    };

    let mut runs: Vec<Running> = (0..3)
        .map(|_| Running::start(&ws.config(), &[("RUST_LOG", "info")]))
        .collect();
    add(30, false);
    let logs = |runs: &[Running]| {
        runs.iter()
            .map(|r| r.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    // Every query and the alert evaluation get a holder.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let leases = loop {
        let leases = store.leases().await.unwrap();
        if leases.len() == TAGS.len() + 1 {
            break leases;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "leases never taken: {leases:?}\n{}",
            logs(&runs)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pids: Vec<u32> = runs.iter().map(|r| r.child.id().unwrap()).collect();
    let mut held: BTreeMap<u32, usize> = BTreeMap::new();
    for l in &leases {
        let pid = pid_of(&l.holder).expect("holder names its pid");
        assert!(pids.contains(&pid), "{l:?} held by an unknown process");
        *held.entry(pid).or_default() += 1;
    }
    // The instance doing most of the work dies without a word.
    let (&victim, _) = held.iter().max_by_key(|(_, n)| **n).unwrap();
    let index = pids.iter().position(|p| *p == victim).unwrap();
    let mut dead = runs.remove(index);
    dead.child.start_kill().unwrap();
    dead.child.wait().await.unwrap();
    let killed_at = Utc::now();

    // New posts on every query, and a complaint wave.
    add(30, false);
    add(40, true);
    let expected: BTreeSet<String> = world
        .visible(Platform::Mastodon)
        .iter()
        .map(|p| format!("{}/users/{}/statuses/{}", sim.url(), p.author, p.seq))
        .collect();
    assert_eq!(expected.len(), 100);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let rows = store.query(&MentionQuery::default()).await.unwrap();
        let stored: BTreeSet<String> = rows
            .iter()
            .map(|r| r.external_id.clone())
            .filter(|id| id.starts_with(&sim.url()))
            .collect();
        let leases = store.leases().await.unwrap();
        let taken_over = leases.len() == TAGS.len() + 1
            && leases
                .iter()
                .all(|l| pid_of(&l.holder).is_some_and(|p| p != victim));
        let messages = store.messages(None).await.unwrap();
        let alert_sent = messages
            .iter()
            .any(|m| m.kind == "alert" && m.state == "sent");
        let digest_after_kill = messages.iter().any(|m| {
            m.kind == "digest"
                && m.state == "sent"
                && chrono::DateTime::parse_from_rfc3339(&m.created_at).unwrap() > killed_at
        });
        if stored == expected && taken_over && alert_sent && digest_after_kill {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 90 s: {} of {} posts stored, leases {leases:?}, alert sent {alert_sent}, digest after the kill {digest_after_kill}\n{}",
            stored.intersection(&expected).count(),
            expected.len(),
            logs(&runs)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // `status` shows who holds what.
    let status = ws.run(&["status", "--format", "json"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let shown = doc["leases"].as_array().expect("leases in status");
    assert_eq!(shown.len(), TAGS.len() + 1, "{doc}");
    assert!(shown.iter().all(|l| {
        l["holder"]
            .as_str()
            .and_then(pid_of)
            .is_some_and(|p| p != victim)
    }));
    for run in runs {
        let (code, log) = run.terminate(Duration::from_secs(20)).await;
        assert_eq!(code, Some(0), "{log}");
    }
    // Stopped instances gave their leases back.
    assert!(store.leases().await.unwrap().is_empty());

    // Every post once.
    let rows = store.query(&MentionQuery::default()).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
    let distinct: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "a post stored twice");
    assert_eq!(ids.len(), expected.len() + history.lines.len());
    // One wave, one alert, decided once across the instances.
    let alerts = store
        .alerts_between(
            Utc::now() - chrono::Duration::days(30),
            Utc::now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    // No e-mail twice. (A message the killed instance was delivering stays claimed for the
    // claim's lease, ten minutes, and is not in this count.)
    let mut at_server: BTreeMap<String, usize> = BTreeMap::new();
    for m in server.messages() {
        *at_server
            .entry(m.header("Message-ID").unwrap())
            .or_default() += 1;
    }
    let twice: Vec<_> = at_server.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    // The server got what was sent, and perhaps the one message the killed instance had handed
    // over when it died (still claimed by it, so not yet marked sent).
    let sent = store.messages(Some("sent")).await.unwrap();
    assert!(
        (sent.len()..=sent.len() + 1).contains(&at_server.len()),
        "{} sent, {} at the server",
        sent.len(),
        at_server.len()
    );
    store.close().await;
    db.drop_db().await;
}
