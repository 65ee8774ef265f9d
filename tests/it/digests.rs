//! Digests: the figures of known mentions in the HTML and the text part (English and Italian),
//! schedules that survive restarts (sent once, never twice, skipped when too late) with a clock
//! the test moves, and delivery to a real SMTP server, in process and from a running daemon.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mentiond::clock::{Clock, ManualClock};
use mentiond::config::Config;
use mentiond::digest::{DigestRunner, RunOutcome};
use mentiond::notify::{Mailer, Sender};
use mentiond::store::{NewAlert, Store};

use crate::helpers::*;
use crate::smtp::{Mode, Received, SmtpServer};

const BRANDS: &str = "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n\n[[brands]]\nname = \"Caffè Aurora\"\nkeywords = [\"caffè aurora\"]\n\n";

const POSITIVE: &str = "I love Acme coffee, it is wonderful and delicious!";
const POSITIVE_DELIVERY: &str = "Acme delivery was super fast, I love it!";
const NEUTRAL: &str = "Acme published its quarterly report today";
const NEGATIVE_DELIVERY: &str = "Acme delivery was late again, terrible and awful";
const NEGATIVE_BILLING: &str = "Acme charged me twice, this is horrible";
const BEFORE_NEGATIVE: &str = "Acme delivery was late, awful experience";
const BEFORE_POSITIVE: &str = "Love Acme!";

/// One mention line with engagement and a link.
fn mention(
    source: &str,
    id: &str,
    text: &str,
    at: DateTime<Utc>,
    lang: &str,
    likes: u64,
) -> String {
    serde_json::json!({
        "source": source, "external_id": id, "text": text,
        "created_at": at.to_rfc3339(), "lang": lang,
        "url": format!("https://social.example/{source}/{id}"),
        "author": format!("user-{id}"), "author_followers": 100,
        "engagement": {"likes": likes, "impressions": 100000},
    })
    .to_string()
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The digest period is 2026-03-02T07:00Z .. 2026-03-03T07:00Z (08:00 to 08:00 in Rome); the
/// day before is what changes compare with.
///
/// In the period, Acme has 23 mentions: 10 positive (one about delivery), 4 neutral, 8 negative
/// (6 about delivery, 2 about billing) and 1 in German (not scored): net (10 - 8) / 22 = +9.
/// The day before: 5 positive and 3 negative about delivery (net +25). Negative mentions about
/// delivery doubled, 3 -> 6.
fn dataset() -> String {
    let mut lines = Vec::new();
    let start = t("2026-03-02T07:00:00Z");
    let minutes = |m: i64| start + chrono::Duration::minutes(m);
    for i in 0..9 {
        lines.push(mention(
            "mastodon",
            &format!("p{i}"),
            POSITIVE,
            minutes(30 + 60 * i),
            "en",
            i as u64,
        ));
    }
    lines.push(mention(
        "mastodon",
        "pd",
        POSITIVE_DELIVERY,
        minutes(200),
        "en",
        77,
    ));
    for i in 0..4 {
        lines.push(mention(
            "reddit",
            &format!("n{i}"),
            NEUTRAL,
            minutes(400 + i),
            "en",
            0,
        ));
    }
    for i in 0..6 {
        lines.push(mention(
            "bluesky",
            &format!("d{i}"),
            NEGATIVE_DELIVERY,
            minutes(600 + 10 * i),
            "en",
            10 + i as u64,
        ));
    }
    // The most engaged negative post.
    lines.push(mention(
        "bluesky",
        "b0",
        NEGATIVE_BILLING,
        minutes(900),
        "en",
        500,
    ));
    lines.push(mention(
        "bluesky",
        "b1",
        NEGATIVE_BILLING,
        minutes(901),
        "en",
        1,
    ));
    lines.push(mention(
        "rss",
        "de1",
        "Acme Kaffee heute im Angebot",
        minutes(1000),
        "de",
        0,
    ));
    // The day before.
    for i in 0..5 {
        lines.push(mention(
            "mastodon",
            &format!("q{i}"),
            BEFORE_POSITIVE,
            minutes(-600 + i),
            "en",
            0,
        ));
    }
    for i in 0..3 {
        lines.push(mention(
            "bluesky",
            &format!("r{i}"),
            BEFORE_NEGATIVE,
            minutes(-300 + i),
            "en",
            0,
        ));
    }
    // Outside both periods, and another brand: in no figure.
    lines.push(mention(
        "mastodon",
        "old",
        NEGATIVE_DELIVERY,
        minutes(-3000),
        "en",
        0,
    ));
    lines.push(mention(
        "mastodon",
        "late",
        NEGATIVE_DELIVERY,
        minutes(24 * 60 + 5),
        "en",
        0,
    ));
    lines.push(mention(
        "mastodon",
        "au",
        "Caffè Aurora is great",
        minutes(100),
        "en",
        0,
    ));
    lines.join("\n") + "\n"
}

fn digest_config(extra: &str) -> String {
    format!(
        "{BRANDS}[email]\nto = [\"team@example.org\"]\n\n[sources.hackernews]\nbase_url = \"http://127.0.0.1:9\"\ninterval = \"5m\"\n\n\
         [[sources.rss]]\nname = \"reviews\"\nurl = \"http://127.0.0.1:9/feed\"\ninterval = \"15m\"\n\n\
         [[digests]]\nname = \"daily\"\nschedule = \"0 0 8 * * *\"\ntimezone = \"Europe/Rome\"\nbrands = [\"Acme\"]\n\n\
         [[digests]]\nname = \"giornaliero\"\nschedule = \"0 0 8 * * *\"\ntimezone = \"Europe/Rome\"\nlanguage = \"it\"\nbrands = [\"acme\"]\n{extra}"
    )
}

/// Records an alert in the period (silenced) and the sources' polls: the feed failed every
/// time, Hacker News was never polled.
async fn alert_and_polls(ws: &Workspace) {
    let store = ws.store().await;
    let fired = t("2026-03-02T17:10:00Z");
    let alert = NewAlert {
        brand: "Acme".into(),
        fired_at: fired,
        bucket_at: fired,
        window_start: t("2026-03-02T16:10:00Z"),
        window_end: fired,
        observed: 6.0,
        expected: 0.4,
        p_value: 1e-6,
        p_threshold: 1e-4,
        threshold_rule: "alpha".into(),
        window_total: Some(6.0),
        usual_share: Some(0.1),
        severe: false,
        worst: vec![],
        details: serde_json::json!({}),
    };
    let id = store.insert_alert(&alert, |_| Vec::new()).await.unwrap();
    sqlx::query("UPDATE alerts SET silenced = 'carrier strike, known' WHERE id = ?")
        .bind(id)
        .execute(store.writer())
        .await
        .unwrap();
    for h in 0..3 {
        store
            .log_poll_error(
                "rss:reviews",
                "feed",
                t("2026-03-02T09:00:00Z") + chrono::Duration::hours(h),
                "HTTP 503 Service Unavailable",
            )
            .await
            .unwrap();
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_shows_the_figures_of_known_mentions() {
    let ws = Workspace::new(&digest_config(""));
    let input = ws.write("mentions.jsonl", &dataset());
    let o = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    alert_and_polls(&ws).await;

    // English.
    let html_file = ws.path("daily.html");
    let o = ws.run(&[
        "digest",
        "--name",
        "daily",
        "--preview",
        html_file.to_str().unwrap(),
        "--at",
        "2026-03-03T08:00",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let html = std::fs::read_to_string(&html_file).unwrap();
    assert!(
        stderr(&o).contains("[mentiond] daily digest, 3 Mar: Acme: 23 mentions (net +9)"),
        "{}",
        stderr(&o)
    );
    for (what, needle) in [
        (
            "the period in Rome time",
            "Period: Mon 2 Mar 2026 08:00 → Tue 3 Mar 2026 08:00 (Europe/Rome)",
        ),
        ("the volume and its change", "Mentions: 23 (+188% vs 8)"),
        (
            "the net score and its change",
            "Net sentiment: +9 (previous +25, -16 points)",
        ),
        (
            "the split",
            "45% positive · 18% neutral · 36% negative (10 / 4 / 8); 1 not scored (language)",
        ),
        (
            "the highlight",
            "Negative mentions about delivery doubled: 3 → 6",
        ),
        ("the volume highlight", "Mentions rose 2.9-fold: 8 → 23"),
        (
            "the alert, silenced",
            "Mon 2 Mar 18:10 · Acme: 6 negative mentions in 60 min (expected about 0.4) · silenced: carrier strike, known · still open",
        ),
        (
            "the failing feed",
            "rss:reviews (feed): all 3 polls failed (last error: HTTP 503 Service Unavailable)",
        ),
        (
            "the source never polled",
            "hackernews (search:acme): not polled during this period (was mentiond running?)",
        ),
        ("the footer", "digest \"daily\" · next: Wed 4 Mar 08:00"),
    ] {
        assert!(
            text.contains(needle),
            "text part lacks {what}: {needle:?}\n{text}"
        );
        let escaped = html_escape::encode_quoted_attribute(needle).into_owned();
        assert!(
            html.contains(&escaped),
            "HTML lacks {what}: {escaped:?}\n{html}"
        );
    }
    // Per source and per touchpoint, as table rows.
    let row = |cells: &[&str]| -> String { cells.join("  ") };
    let rows_in_text: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join("  "))
        .collect();
    for expected in [
        row(&["mastodon", "10", "+100%", "0", "+100"]),
        row(&["bluesky", "8", "+167%", "8", "-100"]),
        row(&["reddit", "4", "new", "0", "0"]),
        row(&["rss", "1", "new", "0", "n/a"]),
        // touchpoint, mentions, negative, negative before, net: delivery (1 pos, 6 neg).
        row(&["delivery", "7", "6", "3", "-71"]),
        row(&["billing", "2", "2", "0", "-100"]),
    ] {
        assert!(
            rows_in_text.contains(&expected),
            "no row {expected:?} in\n{text}"
        );
    }
    assert!(html.contains("<td align=\"left\" style=\"border-bottom:1px solid #f0f0f0\">delivery</td><td align=\"right\" style=\"border-bottom:1px solid #f0f0f0\">7</td><td align=\"right\" style=\"border-bottom:1px solid #f0f0f0\">6</td><td align=\"right\" style=\"border-bottom:1px solid #f0f0f0\">3</td>"), "{html}");
    // The most engaged posts, with their links; impressions are not engagement.
    let negatives = text.split("Most engaged negative posts:").nth(1).unwrap();
    assert!(
        negatives
            .trim_start()
            .starts_with("1. [bluesky] user-b0 · 500 interactions · 100 followers"),
        "{negatives}"
    );
    assert!(negatives.contains("https://social.example/bluesky/b0"));
    let positives = text.split("Most engaged positive posts:").nth(1).unwrap();
    assert!(
        positives
            .trim_start()
            .starts_with("1. [mastodon] user-pd · 77 interactions"),
        "{positives}"
    );
    assert!(html.contains("href=\"https://social.example/bluesky/b0\""));
    // The trend chart is embedded; the other brand and the posts outside the period are not.
    assert!(
        html.contains("<img src=\"data:image/png;base64,iVBORw0KGgo"),
        "chart embedded"
    );
    // Nothing of the other brand: not its mentions, not its sources' queries.
    assert!(!html.to_lowercase().contains("aurora") && !text.to_lowercase().contains("aurora"));
    assert!(!text.contains("user-old") && !text.contains("user-late"));

    // Italian: same figures, Italian words and numbers.
    let o = ws.run(&[
        "digest",
        "--name",
        "giornaliero",
        "--preview",
        ws.path("it.html").to_str().unwrap(),
        "--at",
        "2026-03-03T07:00:00Z",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "Periodo: lun 2 mar 2026 08:00 → mar 3 mar 2026 08:00 (Europe/Rome)",
        "Menzioni: 23 (+188% rispetto a 8)",
        "Sentiment netto: +9 (prima +25, -16 punti)",
        "45% positive · 18% neutre · 36% negative (10 / 4 / 8)",
        "Le menzioni negative su consegna sono raddoppiate: 3 → 6",
        "silenziata: carrier strike, known",
        "rss:reviews (feed): tutte le 3 interrogazioni sono fallite",
    ] {
        assert!(text.contains(needle), "missing {needle:?}\n{text}");
    }
    let rows_in_text: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join("  "))
        .collect();
    assert!(
        rows_in_text.contains(&row(&["consegna", "7", "6", "3", "-71"])),
        "{text}"
    );
}

#[test]
fn preview_errors_are_clear() {
    let ws = Workspace::new(&digest_config(""));
    let o = ws.run(&["digest", "--name", "weekly", "--preview", "x.html"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no digest named \"weekly\"; configured: daily, giornaliero"),
        "{}",
        stderr(&o)
    );
    let o = ws.run(&[
        "digest",
        "--name",
        "daily",
        "--preview",
        "x.html",
        "--at",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("neither RFC 3339"), "{}", stderr(&o));
    let o = ws.run(&["digest", "--list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "daily: \"0 0 8 * * *\" in Europe/Rome (en), to team@example.org; brands Acme"
        ),
        "{}",
        stdout(&o)
    );
}

/// The part of a received message with this content type, decoded.
fn part(msg: &Received, content_type: &str) -> String {
    let raw = msg.text();
    let start = raw
        .find(&format!("Content-Type: {content_type}"))
        .unwrap_or_else(|| panic!("no {content_type} part"));
    let rest = &raw[start..];
    let (head, body) = rest.split_once("\r\n\r\n").unwrap();
    let body = body.split("\r\n--").next().unwrap();
    if head.contains("Content-Transfer-Encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8_lossy(&crate::smtp::base64_decode::decode(&joined)).into_owned()
    } else if head.contains("Content-Transfer-Encoding: quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let bytes = soft.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&soft[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        body.to_string()
    }
}

struct Harness {
    ws: Workspace,
    server: SmtpServer,
    clock: Arc<ManualClock>,
}

impl Harness {
    async fn new(schedule: &str, start: &str) -> Harness {
        let server = SmtpServer::start(Mode::StartTls).await;
        let ws = Workspace::new("");
        ws.write(
            "config.toml",
            &format!(
                "{BRANDS}{}\n[[digests]]\nname = \"weekday\"\nschedule = \"{schedule}\"\ntimezone = \"Europe/Rome\"\nlanguage = \"it\"\nto = [\"social@example.org\"]\n",
                server.email_config(ws.dir.path())
            ),
        );
        let input = ws.write("mentions.jsonl", &dataset());
        let o = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        Harness {
            ws,
            server,
            clock: Arc::new(ManualClock::new(t(start))),
        }
    }

    /// A fresh runner and sender on a freshly opened store: what a restart gives.
    async fn start(&self) -> (Arc<Store>, DigestRunner, Sender) {
        let config = Arc::new(Config::load(&self.ws.config()).unwrap());
        let store = Arc::new(Store::open(&config.storage.database).await.unwrap());
        store.release_claims("daemon").await.unwrap();
        let clock: Arc<dyn Clock> = self.clock.clone();
        let runner = DigestRunner::new(store.clone(), config.clone(), clock.clone());
        let sender = Sender::new(
            store.clone(),
            Mailer::from_config(&config.email).unwrap(),
            clock,
        );
        (store, runner, sender)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_are_sent_once_across_restarts_and_skipped_when_too_late() {
    // Weekdays at 08:00 in Rome. 2026-03-02 is a Monday.
    let h = Harness::new("0 0 8 * * Mon-Fri", "2026-03-02T06:00:00Z").await;

    // First start, 07:00 in Rome: the digest is armed; nothing is due yet.
    let (store, runner, sender) = h.start().await;
    assert_eq!(runner.run_due_once().await.unwrap(), vec![]);
    assert_eq!(
        runner.next_due(),
        Some(t("2026-03-02T07:00:00Z")),
        "08:00 CET"
    );

    // 08:00:05 in Rome: sent, to the SMTP server.
    h.clock.set(t("2026-03-02T07:00:05Z"));
    let out = runner.run_due_once().await.unwrap();
    assert!(
        matches!(out.as_slice(), [RunOutcome::Queued { .. }]),
        "{out:?}"
    );
    assert_eq!(sender.send_due_once().await.unwrap().sent, 1);
    let got = h.server.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.to, vec!["social@example.org".to_string()]);
    assert_eq!(m.header("Content-Language").as_deref(), Some("it"));
    let subject = m.header("Subject").unwrap();
    assert!(subject.contains("Riepilogo weekday, 2 mar"), "{subject}");
    let text = part(m, "text/plain");
    // Monday's digest covers Friday 08:00 to Monday 08:00, Rome time.
    assert!(
        text.contains("Periodo: ven 27 feb 2026 08:00 → lun 2 mar 2026 08:00 (Europe/Rome)"),
        "{text}"
    );
    assert!(
        m.text().contains("Content-Type: image/png"),
        "a trend chart for each brand with mentions"
    );
    let html = part(m, "text/html");
    assert!(
        html.contains("cid:trend-"),
        "the chart is referenced inline"
    );
    let runs = store.digest_runs(10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].scheduled_at, "2026-03-02T07:00:00.000Z");
    assert_eq!(runs[0].email_state.as_deref(), Some("sent"));

    // Restart right after sending: nothing is sent again.
    store.close().await;
    h.clock.set(t("2026-03-02T07:00:30Z"));
    let (store, runner, sender) = h.start().await;
    assert_eq!(runner.run_due_once().await.unwrap(), vec![]);
    assert_eq!(sender.send_due_once().await.unwrap().sent, 0);
    assert_eq!(h.server.messages().len(), 1);
    store.close().await;

    // Down over Tuesday's run, back at 10:30 in Rome: sent once, late, for the period that
    // ended at 08:00; a second pass sends nothing.
    h.clock.set(t("2026-03-03T09:30:00Z"));
    let (store, runner, sender) = h.start().await;
    let out = runner.run_due_once().await.unwrap();
    assert!(
        matches!(out.as_slice(), [RunOutcome::Queued { .. }]),
        "{out:?}"
    );
    assert_eq!(runner.run_due_once().await.unwrap(), vec![]);
    assert_eq!(sender.send_due_once().await.unwrap().sent, 1);
    let got = h.server.messages();
    assert_eq!(got.len(), 2);
    let text = part(&got[1], "text/plain");
    assert!(
        text.contains("Periodo: lun 2 mar 2026 08:00 → mar 3 mar 2026 08:00"),
        "{text}"
    );
    // The figures of the dataset's day are in it (23 for Acme, see `dataset`).
    assert!(text.contains("Menzioni: 23"), "{text}");
    assert_ne!(got[0].header("Message-ID"), got[1].header("Message-ID"));
    store.close().await;

    // Down from Wednesday morning until the next Monday, 06:30 in Rome: Friday's run is more
    // than a period late (Thursday 08:00 to Friday 08:00): skipped and recorded, not sent.
    h.clock.set(t("2026-03-09T05:30:00Z"));
    let (store, runner, sender) = h.start().await;
    let out = runner.run_due_once().await.unwrap();
    assert!(
        matches!(out.as_slice(), [RunOutcome::Skipped { .. }]),
        "{out:?}"
    );
    assert_eq!(sender.send_due_once().await.unwrap().sent, 0);
    let runs = store.digest_runs(10).await.unwrap();
    assert_eq!(runs[0].scheduled_at, "2026-03-06T07:00:00.000Z");
    assert_eq!(runs[0].state, "skipped");
    assert!(
        runs[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("more than one period late")
    );
    // Monday 08:00 comes: sent as usual.
    h.clock.set(t("2026-03-09T07:00:00Z"));
    let out = runner.run_due_once().await.unwrap();
    assert!(
        matches!(out.as_slice(), [RunOutcome::Queued { .. }]),
        "{out:?}"
    );
    assert_eq!(sender.send_due_once().await.unwrap().sent, 1);
    assert_eq!(h.server.messages().len(), 3);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_digest_does_not_fire_for_a_time_before_it_existed() {
    // Configured at 10:00 in Rome: the 08:00 run of that morning is not "missed".
    let h = Harness::new("0 0 8 * * *", "2026-03-02T09:00:00Z").await;
    let (store, runner, sender) = h.start().await;
    assert_eq!(runner.run_due_once().await.unwrap(), vec![]);
    assert_eq!(sender.send_due_once().await.unwrap().sent, 0);
    assert_eq!(runner.next_due(), Some(t("2026-03-03T07:00:00Z")));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_send_delivers_now_and_reports_failures() {
    let mut server = SmtpServer::start(Mode::Plain).await;
    let ws = Workspace::new("");
    ws.write(
        "config.toml",
        &format!(
            "{BRANDS}{}\n[[digests]]\nname = \"daily\"\nschedule = \"@daily\"\n",
            server.email_config(ws.dir.path())
        ),
    );
    let o = ws.run(&["digest", "--name", "daily", "--send"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("sent to marketing@example.org"),
        "{}",
        stderr(&o)
    );
    assert_eq!(server.messages().len(), 1);
    let subject = server.messages()[0].header("Subject").unwrap();
    assert!(subject.starts_with("[mentiond] daily digest"), "{subject}");
    // With the server down: exit 1, and the digest waits in the outbox for the daemon.
    server.stop();
    let o = ws.run(&["digest", "--name", "daily", "--send"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("stays in the outbox"), "{}", stderr(&o));
    let store = ws.store().await;
    let pending = store.messages(Some("pending")).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, "digest");
    assert_eq!(pending[0].attempts, 1);
    let runs = store.digest_runs(10).await.unwrap();
    assert!(runs.iter().all(|r| r.trigger == "manual"), "{runs:?}");
    store.close().await;
    let o = ws.run(&["status"]);
    let out = stdout(&o);
    assert!(out.contains("Digest daily: next "), "{out}");
    assert!(out.contains("Outbox: 1 pending, 0 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_emails_digests_on_schedule() {
    let server = SmtpServer::start(Mode::StartTls).await;
    let ws = Workspace::new("");
    ws.write(
        "config.toml",
        &format!(
            "{BRANDS}{}\n[[digests]]\nname = \"often\"\nschedule = \"*/2 * * * * *\"\ntimezone = \"Asia/Tokyo\"\nto = [\"ops@example.org\"]\n",
            server.email_config(ws.dir.path())
        ),
    );
    // In process, on a clock that moves only while the daemon is idle.
    let start = t("2026-03-02T06:59:58.5Z");
    let clock = Arc::new(ManualClock::new(start));
    let daemon = crate::daemon::spawn_daemon(&ws.config(), clock.clone()).await;
    crate::daemon::drive_until(
        &clock,
        &daemon,
        chrono::Duration::milliseconds(500),
        start + chrono::Duration::minutes(1),
        "two digests at the server",
        || async { server.messages().len() >= 2 },
    )
    .await;
    daemon.shutdown();
    daemon.join().await.expect("a clean stop");
    let got = server.messages();
    assert!(
        got.iter()
            .all(|m| m.to == vec!["ops@example.org".to_string()])
    );
    let text = part(&got[0], "text/plain");
    assert!(text.contains("(Asia/Tokyo)"), "{text}");
    // Every e-mail received is a distinct digest the store recorded as sent: none twice.
    let ids: Vec<String> = got
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    let store = ws.store().await;
    let sent: std::collections::BTreeSet<String> = store
        .messages(Some("sent"))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(
        sent,
        ids.iter().cloned().collect(),
        "received = recorded as sent"
    );
    let runs = store.digest_runs(100).await.unwrap();
    assert!(
        runs.iter()
            .all(|r| r.trigger == "schedule" && r.state == "queued")
    );
    store.close().await;
}

#[test]
fn hostile_posts_stay_inert_in_a_digest() {
    let ws = Workspace::new(&digest_config(""));
    let at = t("2026-03-02T12:00:00Z");
    let hostile = serde_json::json!({
        "source": "mastodon", "external_id": "evil",
        "text": "Acme is awful <script>alert(1)</script> \u{202E}gnirts desrever <b onmouseover=x>hi</b>",
        "created_at": at.to_rfc3339(), "lang": "en",
        "url": "javascript:alert(document.cookie)",
        "author": "<img src=x onerror=alert(1)>\u{2066}",
        "engagement": {"likes": 9999},
    });
    let input = ws.write("evil.jsonl", &format!("{hostile}\n"));
    let o = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = ws.path("evil.html");
    let o = ws.run(&[
        "digest",
        "--name",
        "daily",
        "--preview",
        file.to_str().unwrap(),
        "--at",
        "2026-03-03T08:00",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&file).unwrap();
    let text = stdout(&o);
    for bad in [
        "<script",
        "<img src=x",
        "onmouseover=x>",
        "javascript:",
        "\u{202E}",
        "\u{2066}",
    ] {
        assert!(!html.contains(bad), "HTML contains {bad:?}");
    }
    assert!(
        !text.contains('\u{202E}') && !text.contains("javascript:"),
        "{text}"
    );
    // The text lost its markup when it was stored; the author (kept as written) is escaped.
    assert!(html.contains("Acme is awful"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_as_frequent_as_a_poll_goes_out_within_a_quarter_of_its_period() {
    // Every five minutes, with Hacker News polled every five minutes: waiting for a poll past
    // the digest's time could take a whole period.
    let cfg = digest_config("").replace("\"0 0 8 * * *\"", "\"0 */5 * * * *\"");
    let ws = Workspace::new(&cfg);
    let config = Arc::new(Config::load(&ws.config()).unwrap());
    let store = Arc::new(Store::open(&config.storage.database).await.unwrap());
    let clock = Arc::new(ManualClock::new(t("2026-03-02T06:58:00Z")));
    let runner = DigestRunner::new(store.clone(), config.clone(), clock.clone());
    assert_eq!(runner.run_due_once().await.unwrap(), vec![], "armed");
    let mut hn = mentiond::store::SourceStatus::new("hackernews", "search:acme", "hackernews");
    hn.last_poll_at = Some("2026-03-02T06:59:00.000Z".into());
    hn.last_success_at = hn.last_poll_at.clone();
    store.save_source_status(&hn).await.unwrap();
    clock.set(t("2026-03-02T07:00:30Z"));
    assert_eq!(
        runner.run_due_once().await.unwrap(),
        vec![],
        "waits for Hacker News a little"
    );
    clock.set(t("2026-03-02T07:01:20Z"));
    let sent = runner.run_due_once().await.unwrap();
    assert_eq!(sent.len(), 2, "both digests of 07:00 go: {sent:?}");
    assert!(
        sent.iter()
            .all(|o| matches!(o, mentiond::digest::RunOutcome::Queued { .. })),
        "{sent:?}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_digest_waits_for_sources_to_poll_past_its_time() {
    let ws = Workspace::new(&digest_config(""));
    let config = Arc::new(Config::load(&ws.config()).unwrap());
    let store = Arc::new(Store::open(&config.storage.database).await.unwrap());
    let clock = Arc::new(ManualClock::new(t("2026-03-02T06:00:00Z")));
    let runner = DigestRunner::new(store.clone(), config.clone(), clock.clone());
    assert_eq!(runner.run_due_once().await.unwrap(), vec![], "armed");
    // Hacker News last polled at 07:58 Rome time; the digests are due at 08:00.
    let mut hn = mentiond::store::SourceStatus::new("hackernews", "search:acme", "hackernews");
    hn.last_poll_at = Some("2026-03-02T06:58:00.000Z".into());
    hn.last_success_at = hn.last_poll_at.clone();
    store.save_source_status(&hn).await.unwrap();
    clock.set(t("2026-03-02T07:00:10Z"));
    assert_eq!(
        runner.run_due_once().await.unwrap(),
        vec![],
        "waits for Hacker News"
    );
    assert_eq!(
        runner.next_due(),
        Some(t("2026-03-02T07:00:25Z")),
        "and looks again soon"
    );
    // It polls past 08:00: both digests go.
    hn.last_success_at = Some("2026-03-02T07:01:00.000Z".into());
    store.save_source_status(&hn).await.unwrap();
    clock.set(t("2026-03-02T07:01:05Z"));
    assert_eq!(runner.run_due_once().await.unwrap().len(), 2);
    // The next day the source says ok but does not poll: the digests go after ten minutes.
    clock.set(t("2026-03-03T07:00:10Z"));
    assert_eq!(runner.run_due_once().await.unwrap(), vec![]);
    clock.set(t("2026-03-03T07:10:00Z"));
    assert_eq!(runner.run_due_once().await.unwrap().len(), 2);
    // A failing source is not waited for.
    hn.state = "failing".into();
    store.save_source_status(&hn).await.unwrap();
    clock.set(t("2026-03-04T07:00:01Z"));
    assert_eq!(runner.run_due_once().await.unwrap().len(), 2);
    store.close().await;
}
