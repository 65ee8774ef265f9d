//! Negative-spike alerts: decisions on real SQLite data, e-mails that explain themselves and stay
//! inert against hostile posts, delivery to a real SMTP server (STARTTLS, implicit TLS, 421
//! retried, 550 failed, server down then back, a crash between the 250 and our commit), silences,
//! quiet hours, backtest, and a running daemon that e-mails one alert for one spike.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mentiond::alerts::Evaluator;
use mentiond::clock::{Clock, ManualClock};
use mentiond::config::Config;
use mentiond::notify::{self, Mailer, Sender};
use mentiond::pipeline::{Pipeline, Processed};
use mentiond::sentiment::Scorer;
use mentiond::store::{NewMessage, Store};

use crate::daemon::{Running, post, wait_for};
use crate::helpers::*;
use crate::smtp::{Mode, SmtpServer};

const NEUTRAL: &[&str] = &[
    "Acme store opens at nine on Main street",
    "picked up my Acme order today",
    "Acme has a new location downtown",
    "is Acme open on Sundays",
];
const POSITIVE: &[&str] = &[
    "I love the new Acme blend, wonderful",
    "Acme support was great and helpful",
    "Acme coffee is excellent",
];
pub(crate) const NEGATIVE: &[&str] = &[
    "Acme app is broken again, terrible service",
    "worst experience with Acme, awful and rude support",
    "Acme charged me twice, this is a disgrace",
];

/// `text` with a few words that depend on `i`: people complain in their own words, and the
/// burst filter counts identical long texts (a copy-paste campaign) once.
pub fn varied(text: &str, i: u64) -> String {
    const A: &[&str] = &[
        "today",
        "this morning",
        "this week",
        "right now",
        "earlier",
        "tonight",
    ];
    const B: &[&str] = &[
        "in leeds", "at home", "in york", "at work", "in bath", "in hull",
    ];
    const C: &[&str] = &[
        "via phone",
        "from my laptop",
        "on wifi",
        "with friends",
        "before lunch",
        "after work",
    ];
    let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    format!(
        "{text} {} {} {}",
        A[(h % 6) as usize],
        B[(h / 6 % 6) as usize],
        C[(h / 36 % 6) as usize]
    )
}

/// A deterministic generator of mention lines for one brand.
pub struct Stream {
    seq: u64,
    state: u64,
    pub lines: Vec<String>,
}

impl Stream {
    pub fn new(seed: u64) -> Stream {
        Stream {
            seq: 0,
            state: seed,
            lines: Vec::new(),
        }
    }

    fn rand(&mut self) -> f64 {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Poisson-ish count with mean `mean`.
    fn count(&mut self, mean: f64) -> u64 {
        let l = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.rand();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }

    /// `n` posts drawn from `texts` at time `t` (spread over the next 5 minutes).
    pub fn add(&mut self, t: DateTime<Utc>, texts: &[&str], n: u64) {
        for i in 0..n {
            self.seq += 1;
            let text = texts[(self.rand() * texts.len() as f64) as usize % texts.len()];
            let at = t + chrono::Duration::seconds((i as i64 * 37) % 300);
            self.lines.push(
                serde_json::json!({"source": "mastodon", "external_id": format!("h{}", self.seq), "text": varied(text, self.seq),
                    "created_at": at.to_rfc3339(), "lang": "en", "author": format!("user{}", self.seq % 50), "author_followers": self.seq % 700,
                    "url": format!("https://social.example/@u/{}", self.seq)})
                .to_string(),
            );
        }
    }

    /// Ordinary chatter from `from` for `days` days: about `per_hour` mentions an hour, a tenth
    /// of them negative, busier in the afternoon.
    pub fn chatter(&mut self, from: DateTime<Utc>, days: i64, per_hour: f64) {
        let mut t = from;
        let end = from + chrono::Duration::days(days);
        while t < end {
            let hour = t.format("%H").to_string().parse::<f64>().unwrap();
            let shape = 1.0 + 0.6 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
            let per_bucket = per_hour / 12.0 * shape;
            let (n, p, g) = (
                self.count(per_bucket * 0.6),
                self.count(per_bucket * 0.3),
                self.count(per_bucket * 0.1),
            );
            self.add(t, NEUTRAL, n);
            self.add(t, POSITIVE, p);
            self.add(t, NEGATIVE, g);
            t += chrono::Duration::minutes(5);
        }
    }
}

/// The base config; `extra` goes into `[alerts]`. Without an SMTP section, e-mails are files.
pub(crate) fn config(extra: &str) -> String {
    format!(
        "[storage]\nurl = \"sqlite://m.db\"\n\n[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n\n[alerts]\nmin_negative = 5\ncooldown = \"2h\"\n{extra}\n"
    )
}

pub(crate) fn file_email() -> &'static str {
    "\n[email]\ntransport = \"file\"\ndir = \"outbox\"\nto = [\"marketing@example.org\"]\n"
}

pub(crate) struct Setup {
    pub ws: Workspace,
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub clock: Arc<ManualClock>,
}

async fn setup(config_text: &str, now: &str) -> Setup {
    setup_with(|_| config_text.to_string(), now).await
}

/// A workspace whose config is made knowing the workspace's folder.
pub(crate) async fn setup_with(
    config_text: impl FnOnce(&std::path::Path) -> String,
    now: &str,
) -> Setup {
    let ws = Workspace::new("");
    let text = config_text(ws.dir.path());
    ws.write("config.toml", &text);
    let config = Config::load(&ws.config()).unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(Store::open(&config.storage.database).await.unwrap());
    Setup {
        ws,
        store,
        config: Arc::new(config),
        clock: Arc::new(ManualClock::new(now.parse().unwrap())),
    }
}

pub(crate) async fn ingest(s: &Setup, lines: &[String]) {
    let pipeline = Pipeline::new(&s.config.brands, Arc::new(Scorer::new()));
    let mut batch = Vec::new();
    for l in lines {
        if let Processed::Matched(m) =
            pipeline.process(mentiond::mention::Mention::from_json_line(l).unwrap())
        {
            batch.push(*m);
        }
    }
    for chunk in batch.chunks(1000) {
        s.store.insert_batch(chunk).await.unwrap();
    }
}

#[tokio::test]
async fn a_spike_fires_one_explained_alert_then_resolves() {
    let now: DateTime<Utc> = "2026-03-12T15:32:00Z".parse().unwrap();
    let s = setup(
        &format!("{}{}", config("back_to_normal = true"), file_email()),
        "2026-03-12T15:32:00Z",
    )
    .await;
    let mut stream = Stream::new(1);
    stream.chatter(now - chrono::Duration::days(10), 10, 24.0);
    // The last half hour: a complaint storm.
    for k in 0..6 {
        stream.add(now - chrono::Duration::minutes(30 - k * 5), NEGATIVE, 6);
    }
    ingest(&s, &stream.lines).await;
    let evaluator = Evaluator::new(
        s.store.clone(),
        s.config.clone(),
        s.clock.clone() as Arc<dyn Clock>,
    );
    let e = evaluator.evaluate_once().await.unwrap();
    assert_eq!(e.fired.len(), 1, "{e:?}");
    let alert = s.store.alert(e.fired[0]).await.unwrap().unwrap();
    assert_eq!(alert.brand, "Acme");
    assert!(
        alert.observed >= 30.0 && alert.expected < 10.0,
        "the strongest window of the storm: {alert:?}"
    );
    assert!(
        alert.bucket_at.as_str() >= "2026-03-12T15:00"
            && alert.bucket_at.as_str() < "2026-03-12T15:15",
        "crossed early: {alert:?}"
    );
    assert!(alert.p_value < alert.p_threshold);
    assert_eq!(alert.worst.len(), 5);
    assert!(alert.window_end.as_str() > "2026-03-12T15:00", "{alert:?}");
    let msgs = s.store.messages(Some("pending")).await.unwrap();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert!(
        m.subject.contains("Negative spike") && m.subject.contains("Acme"),
        "{}",
        m.subject
    );
    assert_eq!(m.recipients, vec!["marketing@example.org".to_string()]);
    let html = m.html.clone().unwrap();
    assert!(
        html.contains("<img src=\"data:image/png;base64,"),
        "the stored HTML shows the chart in a browser"
    );
    assert!(
        NEGATIVE.iter().any(|t| html.contains(&t[..20])),
        "the worst posts are quoted"
    );
    assert!(
        html.contains("https://social.example/@u/"),
        "with their links"
    );

    // Evaluating again (more mentions of the same storm arrive) does not alert again.
    s.clock.advance(chrono::Duration::minutes(5));
    let e = evaluator.evaluate_once().await.unwrap();
    assert!(e.fired.is_empty(), "{e:?}");

    // Hours later the storm is over: resolved, with a back-to-normal notice.
    s.clock.advance(chrono::Duration::hours(6));
    let e = evaluator.evaluate_once().await.unwrap();
    assert_eq!(e.resolved, vec![alert.id]);
    let recovery: Vec<_> = s
        .store
        .messages(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == "recovery")
        .collect();
    assert_eq!(recovery.len(), 1);
    assert!(recovery[0].subject.contains("Back to normal"));
    assert_eq!(
        s.store.alert(alert.id).await.unwrap().unwrap().state,
        "resolved"
    );
}

#[tokio::test]
async fn ordinary_days_and_a_launch_do_not_alert() {
    let now: DateTime<Utc> = "2026-03-12T15:32:00Z".parse().unwrap();
    let s = setup(
        &format!("{}{}", config(""), file_email()),
        "2026-03-12T15:32:00Z",
    )
    .await;
    let mut stream = Stream::new(2);
    stream.chatter(now - chrono::Duration::days(10), 10, 24.0);
    // A launch: for three hours, four times the usual volume, overwhelmingly positive, with
    // the usual small share of complaints.
    let mut t = now - chrono::Duration::hours(3);
    while t < now {
        stream.add(t, POSITIVE, 7);
        stream.add(t, NEUTRAL, 1);
        if t.timestamp() % 900 == 0 {
            stream.add(t, NEGATIVE, 1);
        }
        t += chrono::Duration::minutes(5);
    }
    ingest(&s, &stream.lines).await;
    let evaluator = Evaluator::new(
        s.store.clone(),
        s.config.clone(),
        s.clock.clone() as Arc<dyn Clock>,
    );
    // Walk the last days hour by hour, as a running daemon would.
    for _ in 0..48 {
        let e = evaluator.evaluate_once().await.unwrap();
        if let Some(id) = e.fired.first() {
            let a = s.store.alert(*id).await.unwrap().unwrap();
            panic!("false alarm at {}: {a:?}", s.clock.now());
        }
        s.clock.advance(chrono::Duration::minutes(-60));
    }
    assert!(s.store.messages(None).await.unwrap().is_empty());
}

fn hostile_view() -> notify::AlertView {
    let row = |text: &str, url: &str, author: &str| mentiond::store::MentionRow {
        source: "mastodon".into(),
        external_id: "1".into(),
        brand: "Acme".into(),
        url: Some(url.into()),
        author: Some(author.into()),
        text: text.into(),
        lang: Some("en".into()),
        created_at: "2026-03-12T15:00:00.000Z".into(),
        compound: Some(-0.9),
        label: Some("negative".into()),
        pos: None,
        neu: None,
        neg: None,
        author_followers: Some(1200),
        reply_to: None,
        engagement: None,
        lang_origin: None,
        scorer_version: "v".into(),
    };
    notify::AlertView {
        alert_id: 7,
        brand: "Acme\u{202E}evil".into(),
        fired_at: "2026-03-12T15:32:00Z".parse().unwrap(),
        window_start: "2026-03-12T15:00:00Z".parse().unwrap(),
        window_end: "2026-03-12T15:30:00Z".parse().unwrap(),
        observed: 36.0,
        expected: 6.2,
        p_value: 3e-9,
        p_threshold: 1e-4,
        threshold_rule: "alpha".into(),
        window_total: Some(60.0),
        usual_share: Some(0.1),
        severe: false,
        worst: vec![
            row(
                "<script>alert('x')</script> Acme is a scam",
                "javascript:alert(1)",
                "eve\u{202E}gnp.exe",
            ),
            row(
                "\"><img src=x onerror=alert(1)> Acme broke my order",
                "https://example.com/p?a=1&b=<2>",
                "mallory",
            ),
        ],
        series: (0..48)
            .map(|i| notify::chart::Bin {
                t: 1_773_200_000 + i * 1800,
                observed: if i > 45 { 18.0 } else { 3.0 },
                expected: 3.1,
                highlight: i > 45,
            })
            .collect(),
        language: mentiond::config::Lang::En,
        timezone: chrono_tz::Europe::Rome,
        held_until: None,
    }
}

#[test]
fn hostile_posts_render_inert() {
    let view = hostile_view();
    let chart = notify::chart::spike_chart(&view.series).unwrap();
    let r = notify::render::alert(&view, Some(chart));
    assert!(
        !r.subject.contains('\u{202E}') && !r.subject.chars().any(char::is_control),
        "{:?}",
        r.subject
    );
    assert!(!r.html.contains("<script"), "script tag escaped");
    assert!(r.html.contains("&lt;script&gt;"));
    assert!(!r.html.contains("<img src=x"), "injected tag escaped");
    assert!(!r.html.contains("onerror=alert(1)>"));
    assert!(!r.html.contains("javascript:"), "non-http link dropped");
    assert!(
        !r.html.contains('\u{202E}') && !r.text.contains('\u{202E}'),
        "direction overrides stripped"
    );
    assert!(
        r.html
            .contains("href=\"https://example.com/p?a=1&amp;b=%3C2%3E\""),
        "{}",
        r.html
    );
    assert!(r.text.contains("5.8 times the usual (6.2)"), "{}", r.text);
    // Explains itself: observed vs expected, share, the threshold, the chart's fallback.
    assert!(
        r.text
            .contains("Acmeevil: 36 negative mentions between 16:00 and 16:30 (Europe/Rome)"),
        "{}",
        r.text
    );
    assert!(r.text.contains("60 mentions (usually 10%)"), "{}", r.text);
    assert!(r.text.contains("p < 1e-4"), "{}", r.text);
    assert!(
        r.text.contains("16:30") && r.text.contains(" <\n"),
        "text chart marks the alert window:\n{}",
        r.text
    );
    // Italian.
    let mut it = view.clone();
    it.language = mentiond::config::Lang::It;
    let r = notify::render::alert(&it, None);
    assert!(
        r.subject.contains("Picco di menzioni negative"),
        "{}",
        r.subject
    );
    assert!(
        r.text
            .contains("36 menzioni negative tra le 16:00 e le 16:30"),
        "{}",
        r.text
    );
    assert!(r.text.contains("5,8 volte il solito"), "{}", r.text);
}

#[test]
fn the_message_is_multipart_with_an_inline_chart() {
    let view = hostile_view();
    let chart = notify::chart::spike_chart(&view.series).unwrap();
    let r = notify::render::alert(&view, Some(chart));
    let now: DateTime<Utc> = "2026-03-12T15:32:00Z".parse().unwrap();
    let id = notify::message_id("alert-7", now, "mentiond <alerts@example.org>");
    let raw = notify::compose(
        "mentiond <alerts@example.org>",
        &["a@example.org".into(), "b@example.org".into()],
        &r,
        &id,
        now,
        "en",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains(&format!("Message-ID: {id}")), "{text}");
    assert!(id.ends_with("@example.org>"));
    assert!(text.contains("Auto-Submitted: auto-generated"));
    for part in [
        "multipart/alternative",
        "multipart/related",
        "text/plain",
        "text/html",
        "image/png",
    ] {
        assert!(text.contains(part), "missing {part}");
    }
    assert!(text.contains("Content-ID: <chart@mentiond>"));
    assert!(text.contains("To: a@example.org, b@example.org"));
}

fn queued(kind: &'static str, brand: &str, now: DateTime<Utc>, n: u32) -> NewMessage {
    let rendered = notify::Rendered {
        subject: format!("[mentiond] test {n}"),
        text: format!("hello {n}"),
        html: format!("<p>hello {n}</p>"),
        images: Vec::new(),
    };
    let from = "mentiond <alerts@example.org>";
    let id = notify::message_id(&format!("{kind}-{n}"), now, from);
    NewMessage {
        kind,
        brand: Some(brand.into()),
        message_id: id.clone(),
        sender: from.into(),
        recipients: vec!["marketing@example.org".into()],
        subject: rendered.subject.clone(),
        message: notify::compose(
            from,
            &["marketing@example.org".into()],
            &rendered,
            &id,
            now,
            "en",
        )
        .unwrap(),
        html: Some(rendered.html),
        created_at: now,
        not_before: now,
        channel: None,
    }
}

async fn sender_for(server: &SmtpServer, now: &str) -> (Setup, Sender) {
    let s = setup_with(
        |dir| format!("{}{}", config(""), server.email_config(dir)),
        now,
    )
    .await;
    let mailer = Mailer::from_config(&s.config.email).unwrap();
    let sender = Sender::new(s.store.clone(), mailer, s.clock.clone() as Arc<dyn Clock>);
    (s, sender)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_delivery_with_headers() {
    let server = SmtpServer::start(Mode::StartTls).await;
    let now = "2026-03-12T15:32:00Z";
    let s = setup_with(
        |dir| {
            std::fs::write(dir.join("smtp-password"), "p4ss-w0rd\n").unwrap();
            format!(
                "{}{}username = \"alerts@example.org\"\npassword_file = \"smtp-password\"\n",
                config(""),
                server.email_config(dir)
            )
        },
        now,
    )
    .await;
    let sender = Sender::new(
        s.store.clone(),
        Mailer::from_config(&s.config.email).unwrap(),
        s.clock.clone() as Arc<dyn Clock>,
    );
    let msg = queued("alert", "Acme", now.parse().unwrap(), 1);
    s.store.enqueue(&msg, None).await.unwrap();
    let r = sender.send_due_once().await.unwrap();
    assert_eq!(r.sent, 1, "{r:?}");
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "the message went over TLS after STARTTLS");
    assert_eq!(
        got[0].auth,
        Some(("alerts@example.org".to_string(), "p4ss-w0rd".to_string())),
        "AUTH after TLS"
    );
    assert_eq!(got[0].from, "alerts@example.org");
    assert_eq!(got[0].to, vec!["marketing@example.org".to_string()]);
    assert_eq!(got[0].header("Message-ID"), Some(msg.message_id.clone()));
    assert_eq!(
        got[0].header("Subject").as_deref(),
        Some("[mentiond] test 1")
    );
    assert!(got[0].header("Date").is_some());
    let sent = s.store.messages(Some("sent")).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_and_plain_localhost_deliver() {
    for mode in [Mode::Implicit, Mode::Plain] {
        let server = SmtpServer::start(mode).await;
        let now = "2026-03-12T15:32:00Z";
        let (s, sender) = sender_for(&server, now).await;
        s.store
            .enqueue(&queued("digest", "Acme", now.parse().unwrap(), 1), None)
            .await
            .unwrap();
        assert_eq!(sender.send_due_once().await.unwrap().sent, 1, "{mode:?}");
        assert_eq!(server.messages().len(), 1);
        assert_eq!(server.messages()[0].tls, mode == Mode::Implicit);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_is_retried_and_a_550_is_not() {
    let server = SmtpServer::start(Mode::StartTls).await;
    let now = "2026-03-12T15:32:00Z";
    let (s, sender) = sender_for(&server, now).await;
    server
        .script
        .lock()
        .unwrap()
        .after_data
        .push_back((421, "4.3.0 Try again later".into()));
    s.store
        .enqueue(&queued("alert", "Acme", now.parse().unwrap(), 1), None)
        .await
        .unwrap();
    let r = sender.send_due_once().await.unwrap();
    assert_eq!((r.sent, r.retrying), (0, 1));
    let pending = s.store.messages(Some("pending")).await.unwrap();
    assert_eq!(pending[0].attempts, 1);
    assert!(
        pending[0].last_error.as_deref().unwrap().contains("421"),
        "{:?}",
        pending[0].last_error
    );
    // Not before the back-off has passed.
    s.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(sender.send_due_once().await.unwrap(), Default::default());
    s.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(sender.send_due_once().await.unwrap().sent, 1);
    assert_eq!(server.messages().len(), 1, "delivered once");

    server
        .script
        .lock()
        .unwrap()
        .rcpt
        .push_back((550, "5.1.1 No such user".into()));
    s.store
        .enqueue(&queued("alert", "Acme", s.clock.now(), 2), None)
        .await
        .unwrap();
    let r = sender.send_due_once().await.unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    let failed = s.store.messages(Some("failed")).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].last_error.as_deref().unwrap().contains("550"));
    s.clock.advance(chrono::Duration::hours(3));
    assert_eq!(
        sender.send_due_once().await.unwrap(),
        Default::default(),
        "a permanent failure is not retried"
    );
    // status reports it.
    let out = s.ws.run(&["status"]);
    assert!(
        stdout(&out).contains("FAILED") && stdout(&out).contains("550"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_down_then_back_gets_the_message_once() {
    let mut server = SmtpServer::start(Mode::StartTls).await;
    let now = "2026-03-12T15:32:00Z";
    let (s, sender) = sender_for(&server, now).await;
    server.stop();
    s.store
        .enqueue(&queued("alert", "Acme", now.parse().unwrap(), 1), None)
        .await
        .unwrap();
    for _ in 0..3 {
        let r = sender.send_due_once().await.unwrap();
        assert_eq!(r.retrying, 1);
        s.clock.advance(chrono::Duration::minutes(10));
    }
    server.restart().await;
    assert_eq!(sender.send_due_once().await.unwrap().sent, 1);
    s.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(sender.send_due_once().await.unwrap(), Default::default());
    assert_eq!(server.messages().len(), 1);
    assert_eq!(s.store.messages(Some("sent")).await.unwrap()[0].attempts, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_apply_at_send_time() {
    let server = SmtpServer::start(Mode::StartTls).await;
    let now = "2026-03-12T15:32:00Z";
    let (s, sender) = sender_for(&server, now).await;
    let out = s.ws.run(&[
        "silence",
        "--brand",
        "acme",
        "--for",
        "2h",
        "--reason",
        "known outage",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = s.ws.run(&["silence", "--list"]);
    assert!(
        stdout(&list).contains("Acme") && stdout(&list).contains("known outage"),
        "{}",
        stdout(&list)
    );
    // The silence starts at the real now: send "now" too.
    let real_now = Utc::now();
    s.clock.set(real_now);
    s.store
        .enqueue(&queued("alert", "Acme", real_now, 1), None)
        .await
        .unwrap();
    let r = sender.send_due_once().await.unwrap();
    assert_eq!(r.silenced, 1);
    assert!(server.messages().is_empty());
    assert_eq!(s.store.messages(Some("silenced")).await.unwrap().len(), 1);
    // Digests are not alerts: they go out.
    s.store
        .enqueue(&queued("digest", "Acme", real_now, 2), None)
        .await
        .unwrap();
    assert_eq!(sender.send_due_once().await.unwrap().sent, 1);
    let id = stdout(&s.ws.run(&["silence", "--list"]))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        s.ws.run(&["silence", "--remove", &id]).status.code(),
        Some(0)
    );
    assert!(stdout(&s.ws.run(&["silence", "--list"])).contains("no silence"));
    s.store
        .enqueue(&queued("alert", "Acme", real_now, 3), None)
        .await
        .unwrap();
    assert_eq!(sender.send_due_once().await.unwrap().sent, 1);
}

#[tokio::test]
async fn backtest_finds_the_storm_not_the_launch() {
    let ws = Workspace::new(&config(""));
    let start: DateTime<Utc> = "2026-02-01T00:00:00Z".parse().unwrap();
    let mut stream = Stream::new(3);
    stream.chatter(start, 14, 24.0);
    // Day 9: a launch (positive burst); day 12, 10:00: a complaint storm.
    let launch = start + chrono::Duration::days(9) + chrono::Duration::hours(14);
    let mut t = launch;
    while t < launch + chrono::Duration::hours(3) {
        stream.add(t, POSITIVE, 8);
        t += chrono::Duration::minutes(5);
    }
    let storm = start + chrono::Duration::days(12) + chrono::Duration::hours(10);
    let mut t = storm;
    while t < storm + chrono::Duration::hours(1) {
        stream.add(t, NEGATIVE, 5);
        t += chrono::Duration::minutes(5);
    }
    let input = ws.write("history.jsonl", &stream.lines.join("\n"));
    let out = ws.run(&["backtest", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    for key in [
        "brand",
        "fired_at",
        "window_start",
        "window_end",
        "observed",
        "expected",
        "score",
        "worst",
    ] {
        assert!(a.get(key).is_some(), "{key} missing: {a}");
    }
    let fired: DateTime<Utc> = a["fired_at"].as_str().unwrap().parse().unwrap();
    assert!(
        fired >= storm && fired <= storm + chrono::Duration::minutes(20),
        "detected {} after the storm began: {a}",
        fired - storm
    );
    assert_eq!(a["worst"].as_array().unwrap().len(), 5);
    assert!(a["worst"][0].as_str().unwrap().starts_with("mastodon:h"));
    assert!(a["back_to_normal_at"].is_string());
    assert!(
        ws.path("outbox").read_dir().is_err(),
        "backtest sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_mails_one_alert_for_one_spike_within_a_poll_interval() {
    let server = SmtpServer::start(Mode::StartTls).await;
    // The daemon and the simulated instance share a clock that moves only when the daemon is
    // idle: the test runs in the daemon's time, not the wall clock's.
    let start = Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    let sim = mentiond::simulator::Simulator::start(mentiond::simulator::World::new(clock.clone()))
        .await
        .expect("simulator");
    let ws = Workspace::new("");
    let cfg = format!(
        "{}\n[sources.mastodon]\nbase_url = \"{}\"\ninterval = \"5s\"\n\n{}",
        config("").replace(
            "keywords = [\"acme\"]",
            "keywords = [\"acme\"]\nhashtags = [\"#acme\"]"
        ),
        sim.url(),
        server.email_config(ws.dir.path())
    );
    ws.write("config.toml", &cfg);
    // Ten days of history, then the complaint storm that the simulated instance serves.
    let mut stream = Stream::new(4);
    stream.chatter(start - chrono::Duration::days(10), 10, 24.0);
    let history = ws.write("history.jsonl", &stream.lines.join("\n"));
    assert_eq!(
        ws.run(&["ingest", "--input", history.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    sim.world.add_posts((0..40).map(|i| {
        let mut p = post(
            mentiond::simulator::Platform::Mastodon,
            0,
            &format!("angry{i}"),
            &format!("#acme {}", varied(NEGATIVE[i as usize % 3], i as u64)),
        );
        p.created_at = start - chrono::Duration::seconds(60 * (20 - i / 2));
        p
    }));

    let daemon = crate::daemon::spawn_daemon(&ws.config(), clock.clone()).await;
    let second = chrono::Duration::seconds(1);
    crate::daemon::drive_until(
        &clock,
        &daemon,
        second,
        start + chrono::Duration::minutes(5),
        "the alert e-mail",
        || async { !server.messages().is_empty() },
    )
    .await;
    let took = clock.now() - start;
    assert!(
        took <= chrono::Duration::seconds(5 + 5),
        "alert after {took} of the daemon's time: more than one poll interval"
    );
    // Three more minutes of polls and evaluations do not send it again.
    let progress = daemon.progress().clone();
    let polls = progress.counts("source").done;
    let evaluations = progress.counts("alert evaluator").done;
    let until = clock.now() + chrono::Duration::minutes(3);
    crate::daemon::drive_until(&clock, &daemon, second, until, "three minutes", || async {
        clock.now() >= until
    })
    .await;
    assert!(progress.counts("source").done >= polls + 30, "{progress:?}");
    assert!(
        progress.counts("alert evaluator").done >= evaluations + 3,
        "{progress:?}"
    );
    daemon.shutdown();
    daemon.join().await.expect("a clean stop");
    assert_eq!(progress.counts("").failed, 0, "no step panicked");
    let got = server.messages();
    assert_eq!(got.len(), 1, "exactly one e-mail");
    let subject = got[0].header("Subject").unwrap();
    assert!(
        subject.contains("Negative spike") && subject.contains("Acme"),
        "{subject}"
    );
    let store = ws.store().await;
    assert_eq!(store.messages(Some("sent")).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_servers_250_and_our_commit_sends_at_most_one_duplicate() {
    let server = SmtpServer::start(Mode::StartTls).await;
    let hold = Arc::new(tokio::sync::Notify::new());
    server.script.lock().unwrap().hold_after_data = Some(hold.clone());
    let ws = Workspace::new("");
    ws.write(
        "config.toml",
        &format!("{}{}", config(""), server.email_config(ws.dir.path())),
    );
    {
        let store = ws.store().await;
        store
            .enqueue(&queued("alert", "Acme", Utc::now(), 1), None)
            .await
            .unwrap();
        store.close().await;
    }
    let mut first = Running::start(&ws.config(), &[]);
    wait_for(
        Duration::from_secs(20),
        "the message at the server",
        || async { !server.messages().is_empty() },
    )
    .await;
    // The server has the message and has not said 250 yet: the client dies.
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    server.script.lock().unwrap().hold_after_data = None;
    hold.notify_waiters();
    let second = Running::start(&ws.config(), &[]);
    wait_for(Duration::from_secs(20), "the resend", || async {
        server.messages().len() >= 2
    })
    .await;
    let store = ws.store().await;
    wait_for(Duration::from_secs(10), "the row marked sent", || async {
        store.messages(Some("sent")).await.unwrap().len() == 1
    })
    .await;
    store.close().await;
    let (code, _) = second.terminate(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0));
    let got = server.messages();
    assert_eq!(got.len(), 2, "one duplicate, no more");
    assert_eq!(
        got[0].header("Message-ID"),
        got[1].header("Message-ID"),
        "the duplicate is recognisable"
    );
}

/// A generated stream for the equivalence and end-to-end tests: one brand of 70 negative
/// mentions a day over ten days, a complaint wave on day 8 and a launch on day 6.
fn scenario_stream() -> (mentiond::scenario::Stream, i64, i64) {
    use mentiond::scenario::*;
    let start = 1_772_323_200; // 2026-03-01
    let wave = start + 8 * 86_400 + 11 * 3600;
    let launch = start + 6 * 86_400 + 15 * 3600;
    let s = Scenario {
        name: "equivalence".into(),
        start,
        days: 10,
        brands: vec![BrandSpec {
            name: "Acme".into(),
            negatives_per_day: 70.0,
            negative_share: 0.3,
            italian: 0.3,
        }],
        events: vec![
            Event::Wave {
                brand: 0,
                start: wave,
                minutes: 90,
                factor: 5.0,
            },
            Event::Launch {
                brand: 0,
                start: launch,
                minutes: 120,
                volume: 8.0,
            },
            Event::BotBurst {
                brand: 0,
                start: start + 7 * 86_400 + 13 * 3600,
                minutes: 20,
                posts: 40,
                accounts: 3,
            },
        ],
        growth: 0.3,
        late_share: 0.0,
        daily_noise: 0.1,
    };
    (generate(&s, 5), wave, launch)
}

#[tokio::test]
async fn the_live_evaluator_and_backtest_take_the_same_decisions() {
    let (stream, wave, _) = scenario_stream();
    let s = setup(
        &format!("{}{}", config(""), file_email()),
        "2026-03-08T00:00:00Z",
    )
    .await;
    let scored = stream.scored();
    for chunk in scored.chunks(1000) {
        s.store.insert_batch_at(chunk, s.clock.now()).await.unwrap();
    }
    let expected: Vec<String> = mentiond::alerts::backtest(&s.config, &scored)
        .into_iter()
        .map(|a| a.window_end)
        .collect();
    assert!(!expected.is_empty(), "the wave is in the backtest");
    // The daemon's evaluator, every five minutes from day 7 to day 10.
    let evaluator = Evaluator::new(
        s.store.clone(),
        s.config.clone(),
        s.clock.clone() as Arc<dyn Clock>,
    );
    let mut fired = Vec::new();
    let mut rebuilt = 0;
    for _ in 0..(3 * 288) {
        s.clock.advance(chrono::Duration::minutes(5));
        let e = evaluator.evaluate_once().await.unwrap();
        rebuilt += e.rebuilt.len();
        for id in e.fired {
            let a = s.store.alert(id).await.unwrap().unwrap();
            // The evaluator ran at the end of the crossing bucket.
            fired.push(a.bucket_at.clone());
        }
    }
    let expected_buckets: Vec<String> = expected
        .iter()
        .filter(|w| w.as_str() >= "2026-03-08")
        .map(|w| {
            let t: DateTime<Utc> = w.parse().unwrap();
            mentiond::mention::format_time(&(t - chrono::Duration::minutes(5)))
        })
        .collect();
    assert_eq!(
        fired, expected_buckets,
        "same buckets fired live and in backtest"
    );
    assert!(
        fired.iter().any(|b| {
            let t: DateTime<Utc> = b.parse().unwrap();
            (wave..wave + 5400).contains(&t.timestamp())
        }),
        "the wave fired: {fired:?}"
    );
    // One rebuild at the start, then one every six hours: the rest were incremental.
    assert!(rebuilt <= 1 + 3 * 4, "{rebuilt} rebuilds");
}

#[tokio::test]
async fn a_late_arrival_rebuilds_the_state_and_lands_in_its_bucket() {
    let (stream, _, _) = scenario_stream();
    let s = setup(
        &format!("{}{}", config(""), file_email()),
        "2026-03-05T12:00:00Z",
    )
    .await;
    let scored = stream.scored();
    let (early, late): (Vec<_>, Vec<_>) = scored
        .into_iter()
        .partition(|m| m.mention.created_at.timestamp() < 1_772_323_200 + 4 * 86_400 + 12 * 3600);
    s.store
        .insert_batch_at(&early, s.clock.now())
        .await
        .unwrap();
    // Stored more than a minute before the evaluation reads them (commits take less).
    s.clock.advance(chrono::Duration::minutes(2));
    let evaluator = Evaluator::new(
        s.store.clone(),
        s.config.clone(),
        s.clock.clone() as Arc<dyn Clock>,
    );
    assert_eq!(
        evaluator.evaluate_once().await.unwrap().rebuilt,
        vec!["Acme"]
    );
    s.clock.advance(chrono::Duration::minutes(5));
    assert!(evaluator.evaluate_once().await.unwrap().rebuilt.is_empty());
    // A backfill: a post published yesterday, stored now.
    let mut old = late[0].clone();
    old.mention.external_id = "backfilled".into();
    old.mention.created_at = "2026-03-04T10:00:00Z".parse().unwrap();
    s.clock.advance(chrono::Duration::minutes(5));
    s.store
        .insert_batch_at(std::slice::from_ref(&old), s.clock.now())
        .await
        .unwrap();
    s.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(
        evaluator.evaluate_once().await.unwrap().rebuilt,
        vec!["Acme"],
        "the old bucket changed: the state is rebuilt"
    );
}

#[test]
fn backtest_on_a_generated_stream_with_real_scoring() {
    let (stream, wave, launch) = scenario_stream();
    let ws = Workspace::new(&config(""));
    let input = ws.write("stream.jsonl", &stream.to_jsonl());
    let out = ws.run(&["backtest", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fired: Vec<i64> = stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["fired_at"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap()
                .timestamp()
        })
        .collect();
    assert!(
        fired.iter().any(|t| (wave..wave + 5400).contains(t)),
        "the wave, scored by the customer-voice engine, alerts: {fired:?}"
    );
    assert!(
        !fired
            .iter()
            .any(|t| (launch..launch + 3 * 3600).contains(t)),
        "the launch does not: {fired:?}"
    );
    assert!(fired.len() <= 2, "{fired:?}");
}
