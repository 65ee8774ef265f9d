//! Chat and webhook channels against local HTTP receivers: `channels test` for every kind
//! (payload shapes, the Standard Webhooks signature verified as a receiver would), a refused
//! endpoint, the sender's retries (500, 429 with Retry-After) and give-up (400), hostile post
//! text, and a complaint wave that reaches every routed channel once, then its end.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use mentiond::alerts::Evaluator;
use mentiond::clock::Clock;
use mentiond::notify::{Mailer, Sender};
use mentiond::store::NewMessage;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::alerts::{NEGATIVE, Stream, config, file_email, ingest, setup_with};
use crate::helpers::*;

/// The secret part of a Slack-like URL: it must never be printed.
const URL_SECRET: &str = "T000XYZ/B000XYZ/s3cretS3cret";
const ENV_SECRET: &str = "secret_env = \"MENTIOND_TEST_WEBHOOK_SECRET\"";
/// A Standard Webhooks secret (`whsec_` + base64).
const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The five channels; `secret` is the webhook's secret line (`secret_env = ...`). The Slack,
/// Mattermost and Teams URLs are secrets: written to files in `dir`.
fn channels_config(dir: &std::path::Path, base: &str, secret: &str) -> String {
    std::fs::write(
        dir.join("slack-url"),
        format!("{base}/slack/{URL_SECRET}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("mm-url"), format!("{base}/mattermost/hooks/abc")).unwrap();
    std::fs::write(dir.join("teams-url"), format!("{base}/teams/workflows/abc")).unwrap();
    format!(
        r#"
[[channels]]
name = "team-slack"
kind = "slack"
url_file = "slack-url"

[[channels]]
name = "mm"
kind = "mattermost"
url_file = "mm-url"
language = "it"

[[channels]]
name = "teams"
kind = "teams"
url_file = "teams-url"

[[channels]]
name = "phones"
kind = "ntfy"
url = "{base}/ntfy"
topic = "acme-alerts"
min_severity = "critical"

[[channels]]
name = "hook"
kind = "webhook"
url = "{base}/hook"
{secret}
"#
    )
}

/// Verifies `webhook-signature` the way a Standard Webhooks receiver does (the timestamp
/// within five minutes of `now`, when given).
fn verify_signature(req: &wiremock::Request, secret: &str, now: Option<DateTime<Utc>>) -> bool {
    let header = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (id, ts, sigs) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let age = now.map_or(0, |n| n.timestamp() - ts.parse::<i64>().unwrap_or(0));
    if id.is_empty() || ts.is_empty() || age.abs() > 300 {
        return false;
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&req.body);
    sigs.split(' ').any(|s| {
        s.strip_prefix("v1,")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|sig| ring::hmac::verify(&key, &signed, &sig).is_ok())
    })
}

fn run_with_secret(ws: &Workspace, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("--config")
        .arg(ws.config())
        .args(args)
        .env("MENTIOND_TEST_WEBHOOK_SECRET", SIGNING_SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn channels_test_delivers_each_kind_and_fails_clearly() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let ws = Workspace::new("");
    let cfg = format!(
        "{}{}{}",
        config(""),
        file_email(),
        channels_config(ws.dir.path(), &server.uri(), ENV_SECRET)
    );
    ws.write("config.toml", &cfg);
    for name in ["team-slack", "mm", "teams", "phones", "hook"] {
        let out = run_with_secret(&ws, &["channels", "test", "--name", name]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("accepted (HTTP 200)"),
            "{}",
            stdout(&out)
        );
        assert!(!stdout(&out).contains(URL_SECRET) && !stderr(&out).contains(URL_SECRET));
    }
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 5);
    let body = |prefix: &str| -> (Value, &wiremock::Request) {
        let r = requests
            .iter()
            .find(|r| r.url.path().starts_with(prefix))
            .unwrap_or_else(|| panic!("nothing posted to {prefix}"));
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "application/json",
            "{prefix}"
        );
        (serde_json::from_slice(&r.body).unwrap(), r)
    };
    // Slack: a notification text and Block Kit blocks, the header first.
    let (slack, _) = body("/slack/");
    assert!(slack["text"].as_str().unwrap().contains("Acme"), "{slack}");
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        blocks
            .iter()
            .any(|b| b["accessory"]["url"] == "https://example.com/mentiond-test/1"),
        "the worst posts link to their originals: {slack}"
    );
    // Mattermost, in Italian: Markdown text.
    let (mm, _) = body("/mattermost/");
    let text = mm["text"].as_str().unwrap();
    assert!(
        text.starts_with("#### ") && text.contains("prova") && text.contains("menzioni"),
        "{text}"
    );
    // Teams Workflows: an Adaptive Card in a message.
    let (teams, _) = body("/teams/");
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert!(attachment["content"]["body"].as_array().unwrap().len() >= 3);
    // ntfy: JSON publishing to the server, with the topic in the body.
    let (ntfy, _) = body("/ntfy");
    assert_eq!(ntfy["topic"], "acme-alerts");
    let priority = ntfy["priority"].as_i64().unwrap();
    assert!((1..=5).contains(&priority));
    assert!(ntfy["title"].as_str().unwrap().contains("Acme"));
    // Webhook: the documented schema, signed.
    let (hook, req) = body("/hook");
    assert_eq!(hook["type"], "alert.fired");
    assert_eq!(hook["version"], 1);
    assert!(hook["timestamp"].is_string());
    let data = &hook["data"];
    assert_eq!(data["brand"], "Acme");
    assert!(data["severity"] == "warning" || data["severity"] == "critical");
    for key in [
        "window_start",
        "window_end",
        "observed",
        "expected",
        "p_value",
        "alert_id",
    ] {
        assert!(!data[key].is_null(), "{key} missing: {hook}");
    }
    assert_eq!(data["worst_posts"].as_array().unwrap().len(), 2);
    assert!(
        verify_signature(req, SIGNING_SECRET, Some(Utc::now())),
        "the signature verifies"
    );
    assert!(
        !verify_signature(req, "whsec_c2Vjb25kIHNlY3JldA==", Some(Utc::now())),
        "and only with its secret"
    );

    // An endpoint that refuses: exit 1 with its status and what it said.
    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string(r#"{"error":"invalid_payload"}"#))
        .mount(&refusing)
        .await;
    let ws2 = Workspace::new("");
    let cfg = format!(
        "{}{}{}",
        config(""),
        file_email(),
        channels_config(ws2.dir.path(), &refusing.uri(), ENV_SECRET)
    );
    ws2.write("config.toml", &cfg);
    let out = run_with_secret(&ws2, &["channels", "test", "--name", "team-slack"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 400") && err.contains("invalid_payload"),
        "{err}"
    );
    assert!(!err.contains(URL_SECRET), "{err}");
    // Nobody listening at all.
    let ws3 = Workspace::new("");
    let cfg = format!(
        "{}{}{}",
        config(""),
        file_email(),
        channels_config(ws3.dir.path(), "http://127.0.0.1:9", ENV_SECRET)
    );
    ws3.write("config.toml", &cfg);
    let out = run_with_secret(&ws3, &["channels", "test", "--name", "hook"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = run_with_secret(&ws3, &["channels", "test", "--name", "nope"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("no channel named"),
        "{}",
        stderr(&out)
    );

    // `channels list`: each channel, its endpoint without the secret path.
    let out = run_with_secret(&ws, &["channels", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = stdout(&out);
    for name in ["team-slack", "mm", "teams", "phones", "hook"] {
        assert!(list.contains(name), "{list}");
    }
    assert!(
        !list.contains(URL_SECRET) && !list.contains("/hooks/abc"),
        "{list}"
    );
    assert!(list.contains("critical only"), "{list}");
}

fn channel_message(channel: &str, n: u32, now: DateTime<Utc>) -> NewMessage {
    NewMessage {
        kind: "alert",
        brand: Some("Acme".into()),
        message_id: format!("msg_test-{channel}-{n}"),
        sender: String::new(),
        recipients: Vec::new(),
        subject: format!("test {n}"),
        message: br#"{"text":"hello"}"#.to_vec(),
        html: None,
        created_at: now,
        not_before: now,
        channel: Some(channel.into()),
    }
}

#[tokio::test]
async fn the_sender_retries_500_and_429_and_gives_up_on_400() {
    let server = MockServer::start().await;
    // /flaky: 500 once, then 200. /slow: 429 asking for two minutes, then 200. /bad: 400.
    Mock::given(method("POST"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bad"))
        .respond_with(ResponseTemplate::new(400).set_body_string("no such channel"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let uri = server.uri();
    let s = setup_with(
        |dir| {
            for name in ["flaky", "slow", "bad"] {
                std::fs::write(dir.join(name), format!("{uri}/{name}")).unwrap();
            }
            format!(
                "{}{}\n[[channels]]\nname = \"flaky\"\nkind = \"slack\"\nurl_file = \"flaky\"\n\n[[channels]]\nname = \"slow\"\nkind = \"mattermost\"\nurl_file = \"slow\"\n\n[[channels]]\nname = \"bad\"\nkind = \"teams\"\nurl_file = \"bad\"\n",
                config(""),
                file_email()
            )
        },
        "2026-03-12T15:32:00Z",
    )
    .await;
    let now = s.clock.now();
    for (i, c) in ["flaky", "slow", "bad"].iter().enumerate() {
        s.store
            .enqueue(&channel_message(c, i as u32, now), None)
            .await
            .unwrap();
    }
    let mailer = Mailer::from_config(&s.config.email).unwrap();
    let sender = Sender::new(s.store.clone(), mailer, s.clock.clone() as Arc<dyn Clock>)
        .with_channels(&s.config.channels);
    let first = sender.send_due_once().await.unwrap();
    assert_eq!(
        (first.sent, first.retrying, first.failed),
        (0, 2, 1),
        "{first:?}"
    );
    let by_channel = |c: &str, msgs: &[mentiond::store::OutboxMessage]| {
        msgs.iter()
            .find(|m| m.channel.as_deref() == Some(c))
            .cloned()
            .unwrap()
    };
    let msgs = s.store.messages(None).await.unwrap();
    let bad = by_channel("bad", &msgs);
    assert_eq!(bad.state, "failed");
    assert!(
        bad.last_error.as_deref().unwrap().contains("HTTP 400"),
        "{bad:?}"
    );
    let slow = by_channel("slow", &msgs);
    assert_eq!(
        slow.next_attempt_at,
        mentiond::mention::format_time(&(now + chrono::Duration::seconds(120))),
        "Retry-After honoured"
    );
    let flaky = by_channel("flaky", &msgs);
    assert_eq!(
        flaky.next_attempt_at,
        mentiond::mention::format_time(&(now + chrono::Duration::seconds(30))),
        "back-off"
    );
    // After the back-off the flaky one goes; the slow one waits for its two minutes.
    s.clock.advance(chrono::Duration::seconds(31));
    let second = sender.send_due_once().await.unwrap();
    assert_eq!((second.sent, second.retrying, second.failed), (1, 0, 0));
    s.clock.advance(chrono::Duration::seconds(90));
    let third = sender.send_due_once().await.unwrap();
    assert_eq!(third.sent, 1);
    let requests = server.received_requests().await.unwrap();
    let to = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
    assert_eq!(
        (to("/flaky"), to("/slow"), to("/bad")),
        (2, 2, 1),
        "400 is not retried"
    );
    // The idempotency id is the same on every attempt.
    let ids: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/flaky")
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn a_complaint_wave_reaches_every_routed_channel_once_then_its_end() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let uri = server.uri();
    // Slack and the webhook get every alert; ntfy only critical ones; Teams is not routed.
    let s = setup_with(
        |dir| {
            std::fs::write(dir.join("whsec"), SIGNING_SECRET).unwrap();
            format!(
                "{}{}{}",
                config("back_to_normal = true\nchannels = [\"team-slack\", \"hook\", \"phones\"]"),
                file_email(),
                channels_config(dir, &uri, "secret_file = \"whsec\"")
            )
        },
        "2026-03-12T15:32:00Z",
    )
    .await;
    let now = s.clock.now();
    let mut stream = Stream::new(3);
    stream.chatter(now - chrono::Duration::days(10), 10, 24.0);
    for k in 0..6 {
        stream.add(now - chrono::Duration::minutes(30 - k * 5), NEGATIVE, 6);
    }
    // A hostile post in the wave.
    stream.add(
        now - chrono::Duration::minutes(3),
        &["Acme is awful <!channel> @here <script>alert(1)</script> [x](javascript:alert(1))"],
        1,
    );
    ingest(&s, &stream.lines).await;
    let evaluator = Evaluator::new(
        s.store.clone(),
        s.config.clone(),
        s.clock.clone() as Arc<dyn Clock>,
    );
    let mailer = Mailer::from_config(&s.config.email).unwrap();
    let sender = Sender::new(s.store.clone(), mailer, s.clock.clone() as Arc<dyn Clock>)
        .with_channels(&s.config.channels);
    let fired = evaluator.evaluate_once().await.unwrap();
    assert_eq!(fired.fired.len(), 1, "{fired:?}");
    let alert = s.store.alert(fired.fired[0]).await.unwrap().unwrap();
    sender.send_due_once().await.unwrap();
    // Still the same wave a few minutes later: nothing new.
    s.clock.advance(chrono::Duration::minutes(5));
    evaluator.evaluate_once().await.unwrap();
    sender.send_due_once().await.unwrap();
    // Hours later: back to normal.
    s.clock.advance(chrono::Duration::hours(6));
    let later = evaluator.evaluate_once().await.unwrap();
    assert_eq!(later.resolved, vec![alert.id]);
    sender.send_due_once().await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let posted = |p: &str| -> Vec<Value> {
        requests
            .iter()
            .filter(|r| r.url.path().starts_with(p))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    };
    let slack = posted("/slack/");
    let hook = posted("/hook");
    let ntfy = posted("/ntfy");
    assert_eq!(slack.len(), 2, "the alert and its end: {slack:?}");
    assert_eq!(hook.len(), 2, "{hook:?}");
    assert!(posted("/teams/").is_empty(), "Teams is not routed");
    assert_eq!(
        ntfy.len(),
        if alert.severe { 2 } else { 0 },
        "ntfy takes critical alerts only"
    );
    let signed = requests.iter().filter(|r| r.url.path() == "/hook");
    assert!(
        signed.clone().count() == 2
            && signed
                .into_iter()
                .all(|r| verify_signature(r, SIGNING_SECRET, None))
    );
    assert_eq!(hook[0]["type"], "alert.fired");
    assert_eq!(hook[1]["type"], "alert.resolved");
    assert_eq!(hook[0]["data"]["alert_id"], alert.id);
    assert_eq!(
        hook[1]["data"]["alert_id"], alert.id,
        "the end names its alert"
    );
    assert!(
        slack[1]["text"]
            .as_str()
            .unwrap()
            .contains("Back to normal"),
        "{}",
        slack[1]
    );
    // The hostile post is inert in Slack's mrkdwn and carried as data in the webhook.
    let all_slack = serde_json::to_string(&slack).unwrap();
    assert!(!all_slack.contains("@here"), "mentions are broken");
    for b in slack[0]["blocks"].as_array().unwrap() {
        if b["text"]["type"] == "mrkdwn" {
            assert!(
                !b["text"]["text"].as_str().unwrap().contains("<script"),
                "{b}"
            );
        }
    }
    // Every outbox row of a channel is sent, once.
    let msgs = s.store.messages(None).await.unwrap();
    let channel_rows: Vec<_> = msgs.iter().filter(|m| m.channel.is_some()).collect();
    assert!(
        channel_rows
            .iter()
            .all(|m| m.state == "sent" && m.attempts == 1)
    );
    assert_eq!(channel_rows.len(), requests.len());
}

/// The running daemon (in process, on a clock that moves while it is idle): a complaint wave
/// polled from a simulated Mastodon reaches Slack and the webhook once, and so does its end.
#[tokio::test]
async fn the_daemon_posts_one_alert_and_its_end_to_each_routed_channel() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let start = Utc::now();
    let clock = Arc::new(mentiond::clock::ManualClock::new(start));
    let sim = mentiond::simulator::Simulator::start(mentiond::simulator::World::new(clock.clone()))
        .await
        .expect("simulator");
    let ws = Workspace::new("");
    std::fs::write(ws.path("whsec"), SIGNING_SECRET).unwrap();
    let cfg = format!(
        "{}{}\n[sources.mastodon]\nbase_url = \"{}\"\ninterval = \"5s\"\n{}",
        config("back_to_normal = true\nchannels = [\"team-slack\", \"hook\"]").replace(
            "keywords = [\"acme\"]",
            "keywords = [\"acme\"]\nhashtags = [\"#acme\"]"
        ),
        file_email(),
        sim.url(),
        channels_config(ws.dir.path(), &receiver.uri(), "secret_file = \"whsec\"")
    );
    ws.write("config.toml", &cfg);
    let mut stream = Stream::new(5);
    stream.chatter(start - chrono::Duration::days(10), 10, 24.0);
    let history = ws.write("history.jsonl", &stream.lines.join("\n"));
    let out = ws.run(&["ingest", "--input", history.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sim.world.add_posts((0..40).map(|i| {
        let mut p = crate::daemon::post(
            mentiond::simulator::Platform::Mastodon,
            0,
            &format!("angry{i}"),
            &format!(
                "#acme {}",
                crate::alerts::varied(NEGATIVE[i as usize % 3], i as u64)
            ),
        );
        p.created_at = start - chrono::Duration::seconds(60 * (20 - i / 2));
        p
    }));
    let daemon = crate::daemon::spawn_daemon(&ws.config(), clock.clone()).await;
    let posted = |prefix: &'static str| {
        let receiver = &receiver;
        async move {
            receiver
                .received_requests()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.url.path().starts_with(prefix))
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .collect::<Vec<_>>()
        }
    };
    crate::daemon::drive_until(
        &clock,
        &daemon,
        chrono::Duration::seconds(1),
        start + chrono::Duration::minutes(5),
        "the alert in Slack and the webhook",
        || async { !posted("/slack/").await.is_empty() && !posted("/hook").await.is_empty() },
    )
    .await;
    // Hours of the daemon's time: the wave ends, once.
    crate::daemon::drive_until(
        &clock,
        &daemon,
        chrono::Duration::seconds(30),
        start + chrono::Duration::hours(10),
        "the end of the episode",
        || async { posted("/hook").await.len() >= 2 },
    )
    .await;
    let until = clock.now() + chrono::Duration::minutes(30);
    crate::daemon::drive_until(
        &clock,
        &daemon,
        chrono::Duration::seconds(30),
        until,
        "half an hour more",
        || async { clock.now() >= until },
    )
    .await;
    daemon.shutdown();
    daemon.join().await.expect("a clean stop");
    let slack = posted("/slack/").await;
    let hook = posted("/hook").await;
    assert_eq!(slack.len(), 2, "one alert, one end: {slack:?}");
    assert_eq!(
        hook.iter()
            .map(|h| h["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["alert.fired", "alert.resolved"]
    );
    assert_eq!(hook[0]["data"]["alert_id"], hook[1]["data"]["alert_id"]);
    assert!(posted("/teams/").await.is_empty() && posted("/ntfy").await.is_empty());
}

/// A digest routed to a channel: a short summary, link-free, beside its e-mail.
#[tokio::test]
async fn digests_post_a_short_summary_to_their_channels() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let ws = Workspace::new("");
    let cfg = format!(
        "{}{}{}\n[[digests]]\nname = \"daily\"\nschedule = \"0 0 8 * * *\"\nchannels = [\"hook\", \"team-slack\"]\n",
        config(""),
        file_email(),
        channels_config(ws.dir.path(), &receiver.uri(), "secret_file = \"whsec\"")
    );
    ws.write("config.toml", &cfg);
    ws.write("whsec", SIGNING_SECRET);
    let line = serde_json::json!({"source": "mastodon", "external_id": "1",
        "text": "Acme support never answers, terrible https://example.com/x",
        "created_at": Utc::now().to_rfc3339()})
    .to_string();
    let out = ws.run_stdin(&["ingest", "--input", "-"], &line);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_with_secret(&ws, &["digest", "--name", "daily", "--send"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("posted to channel hook"),
        "{}",
        stderr(&out)
    );
    let requests = receiver.received_requests().await.unwrap();
    let hook = requests
        .iter()
        .find(|r| r.url.path() == "/hook")
        .expect("the webhook got the digest");
    assert!(verify_signature(hook, SIGNING_SECRET, Some(Utc::now())));
    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body["type"], "digest.sent");
    assert_eq!(body["data"]["digest"], "daily");
    let summary: Vec<&str> = body["data"]["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(summary.iter().any(|l| l.starts_with("Acme")), "{summary:?}");
    assert!(
        summary.iter().all(|l| !l.contains("http")),
        "link-free: {summary:?}"
    );
    assert!(requests.iter().any(|r| r.url.path().starts_with("/slack/")));
}
