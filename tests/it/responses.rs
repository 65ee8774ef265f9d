//! `mentiond responses`: a JSONL history of mentions and the brand's replies gives exact
//! counts, rates and medians; replies by others are not responses; the brand's own posts are
//! never mentions.

use crate::helpers::*;

const CONFIG: &str = r#"
[[brands]]
name = "Acme"
keywords = ["acme"]
handles = ["AcmeSupport", "acme@mastodon.social"]
"#;

fn post(
    source: &str,
    id: &str,
    author: &str,
    text: &str,
    at: &str,
    reply_to: Option<&str>,
) -> String {
    let mut v = serde_json::json!({"source": source, "external_id": id, "author": author,
        "text": text, "created_at": at, "lang": "en"});
    if let Some(r) = reply_to {
        v["reply_to"] = serde_json::json!(r);
    }
    v.to_string()
}

#[test]
fn responses_are_counted_exactly_and_own_posts_are_not_mentions() {
    let ws = Workspace::new(CONFIG);
    let lines = [
        // Answered after 10 minutes.
        post(
            "x",
            "1",
            "ann",
            "Acme charged me twice, awful service",
            "2026-03-01T09:00:00Z",
            None,
        ),
        post(
            "x",
            "r1",
            "AcmeSupport",
            "Sorry Ann, we are refunding you now",
            "2026-03-01T09:10:00Z",
            Some("1"),
        ),
        // Answered by someone else only: not a response.
        post(
            "x",
            "2",
            "bob",
            "Acme app is broken again, terrible",
            "2026-03-01T10:00:00Z",
            None,
        ),
        post(
            "x",
            "h2",
            "helper",
            "@bob try reinstalling it",
            "2026-03-01T10:05:00Z",
            Some("2"),
        ),
        // Two replies by the brand: the first counts (30 minutes).
        post(
            "x",
            "3",
            "cat",
            "I love the new Acme coffee, wonderful",
            "2026-03-01T11:00:00Z",
            None,
        ),
        post(
            "x",
            "r3",
            "@AcmeSupport",
            "Thank you Cat!",
            "2026-03-01T11:30:00Z",
            Some("3"),
        ),
        post(
            "x",
            "r3b",
            "AcmeSupport",
            "Enjoy it!",
            "2026-03-01T13:00:00Z",
            Some("3"),
        ),
        // The Mastodon account answers on Mastodon after an hour.
        post(
            "mastodon",
            "4",
            "dan@example.social",
            "Acme delivery late again, awful",
            "2026-03-01T12:00:00Z",
            None,
        ),
        post(
            "mastodon",
            "r4",
            "acme@mastodon.social",
            "We are on it, Dan",
            "2026-03-01T13:00:00Z",
            Some("4"),
        ),
        // A reply on X to the Mastodon post's id is not a reply to it.
        post(
            "x",
            "r4x",
            "AcmeSupport",
            "Replying in the wrong place",
            "2026-03-01T12:30:00Z",
            Some("4"),
        ),
        // Unanswered, neutral.
        post(
            "x",
            "5",
            "eve",
            "Acme store opens at nine on Main street",
            "2026-03-01T14:00:00Z",
            None,
        ),
        // The brand's own announcement: its post, not a mention.
        post(
            "x",
            "a1",
            "AcmeSupport",
            "Acme Blend launches today!",
            "2026-03-01T08:00:00Z",
            None,
        ),
    ];
    let input = ws.write("history.jsonl", &lines.join("\n"));
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("stored 5,") && report.contains("own posts 6"),
        "{report}"
    );

    // The brand's own posts are never returned as mentions.
    let q = ws.run(&["query", "--brand", "Acme", "--format", "ndjson"]);
    let rows: Vec<serde_json::Value> = stdout(&q)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| {
        !r["author"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("acme")
    }));

    let out = ws.run(&[
        "responses",
        "--brand",
        "acme",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-02",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["brand"], "Acme");
    assert_eq!(r["mentions"], 5);
    assert_eq!(r["answered"], 3);
    assert_eq!(r["response_rate"], 0.6);
    assert_eq!(r["median_first_response_s"], 1800.0);
    assert_eq!(r["p90_first_response_s"], 3600.0);
    let neg = &r["by_label"]["negative"];
    assert_eq!(
        (neg["mentions"].as_u64(), neg["answered"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(neg["median_first_response_s"], 2100.0);
    assert_eq!(r["by_label"]["positive"]["median_first_response_s"], 1800.0);
    assert_eq!(r["by_label"]["neutral"]["answered"], 0);
    assert_eq!(r["by_source"]["mastodon"]["response_rate"], 1.0);
    assert_eq!(r["by_source"]["x"]["mentions"], 4);
    assert_eq!(r["unanswered_negative"], serde_json::json!(["x:2"]));

    let table = ws.run(&[
        "responses",
        "--brand",
        "Acme",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-02",
    ]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let t = stdout(&table);
    assert!(
        t.contains("60%") && t.contains("30 min") && t.contains("x:2"),
        "{t}"
    );
    let out = ws.run(&["responses", "--brand", "Nope"]);
    assert_ne!(out.status.code(), Some(0));
}

/// The digests' "Responses" block, in English and Italian: complaints answered, the median
/// first response against the day before, the oldest unanswered complaint with its link.
#[test]
fn digests_show_how_complaints_were_answered() {
    for (lang, answered, median, unanswered) in [
        (
            "en",
            "2 of 3 complaints answered (67%).",
            "Median first response: 35 min (the period before: 2 h 00 min).",
            "Oldest complaints still unanswered:",
        ),
        (
            "it",
            "2 reclami su 3 con risposta (67%).",
            "Tempo mediano di prima risposta: 35 min (periodo precedente: 2 h 00 min).",
            "Reclami più vecchi ancora senza risposta:",
        ),
    ] {
        let ws = Workspace::new(&format!(
            "{CONFIG}\n[email]\ntransport = \"file\"\ndir = \"out\"\nto = [\"team@example.org\"]\n\n[[digests]]\nname = \"daily\"\nschedule = \"0 0 8 * * *\"\nlanguage = \"{lang}\"\n"
        ));
        let lines = [
            // The day before: one complaint answered after two hours.
            post(
                "x",
                "0",
                "zed",
                "Acme lost my parcel, awful",
                "2026-03-01T10:00:00Z",
                None,
            ),
            post(
                "x",
                "r0",
                "AcmeSupport",
                "Looking into it",
                "2026-03-01T12:00:00Z",
                Some("0"),
            ),
            // The digest's day: answered after 10 and 60 minutes, one left unanswered.
            post(
                "x",
                "1",
                "ann",
                "Acme charged me twice, awful service",
                "2026-03-02T09:00:00Z",
                None,
            ),
            post(
                "x",
                "r1",
                "AcmeSupport",
                "Sorry, refunding",
                "2026-03-02T09:10:00Z",
                Some("1"),
            ),
            post(
                "x",
                "2",
                "bob",
                "Acme app is broken again, terrible",
                "2026-03-02T10:00:00Z",
                None,
            ),
            post(
                "x",
                "r2",
                "AcmeSupport",
                "Fixed now",
                "2026-03-02T11:00:00Z",
                Some("2"),
            ),
            {
                let mut v: serde_json::Value = serde_json::from_str(&post(
                    "x",
                    "3",
                    "cat",
                    "Acme delivery late again, awful",
                    "2026-03-02T12:00:00Z",
                    None,
                ))
                .unwrap();
                v["url"] = serde_json::json!("https://x.example/cat/3");
                v.to_string()
            },
        ];
        let input = ws.write("history.jsonl", &lines.join("\n"));
        let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let html = ws.path("d.html");
        let out = ws.run(&[
            "digest",
            "--name",
            "daily",
            "--preview",
            html.to_str().unwrap(),
            "--at",
            "2026-03-03T08:00:00Z",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        for needle in [answered, median, unanswered, "https://x.example/cat/3"] {
            assert!(text.contains(needle), "{lang}: {needle:?} in\n{text}");
        }
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.contains("https://x.example/cat/3"),
            "{lang}: the link in the HTML"
        );
    }
}

/// With business hours, the time outside them does not count: a complaint on Friday evening
/// answered on Monday morning waited an hour of business time.
#[test]
fn business_hours_count_only_open_time() {
    let ws = Workspace::new(&format!(
        "{CONFIG}\n[responses]\nbusiness_hours = \"Mon-Fri 09:00-18:00\"\ntimezone = \"Europe/Rome\"\n"
    ));
    let lines = [
        // Friday 17:30 in Rome; answered Monday 09:30.
        post(
            "x",
            "1",
            "ann",
            "Acme charged me twice, awful",
            "2026-03-06T16:30:00Z",
            None,
        ),
        post(
            "x",
            "r1",
            "AcmeSupport",
            "Sorry!",
            "2026-03-09T08:30:00Z",
            Some("1"),
        ),
    ];
    let input = ws.write("h.jsonl", &lines.join("\n"));
    assert_eq!(
        ws.run(&["ingest", "--input", input.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let out = ws.run(&[
        "responses",
        "--brand",
        "Acme",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-10",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["median_first_response_s"], 3600.0, "{r}");
    assert_eq!(r["business_hours"], "Mon-Fri 09:00-18:00 Europe/Rome");
    // A mistyped range is a config error naming its key.
    let bad = Workspace::new(&format!(
        "{CONFIG}\n[responses]\nbusiness_hours = \"Mon-Fri 9-18\"\n"
    ));
    let out = bad.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("responses.business_hours"),
        "{}",
        stderr(&out)
    );
}

/// `[responses] alert_unanswered_after`: a complaint from someone with an audience, left
/// unanswered for four hours, is notified once; answered ones, small ones and old ones are not.
#[tokio::test]
async fn a_complaint_left_unanswered_is_notified_once() {
    use mentiond::clock::Clock;
    use std::sync::Arc;
    let s = crate::alerts::setup_with(
        |_| {
            format!(
                "{CONFIG}\n[[brands]]\nname = \"Globex\"\nkeywords = [\"globex\"]\n\n[[brands]]\nname = \"Initech\"\nkeywords = [\"initech\"]\nhandles = [\"InitechHelp\"]\n\n[alerts]\nenabled = false\nlanguage = \"it\"\ntimezone = \"Europe/Rome\"\n\n[responses]\nalert_unanswered_after = \"4h\"\nalert_min_reach = 100\n{}",
                crate::alerts::file_email()
            )
        },
        "2026-03-02T14:00:00Z",
    )
    .await;
    let with_followers = |line: String, n: u64| {
        let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["author_followers"] = serde_json::json!(n);
        v["url"] = serde_json::json!("https://x.example/p");
        v.to_string()
    };
    let lines = vec![
        with_followers(
            post(
                "x",
                "a",
                "ann",
                "Acme charged me twice, awful service",
                "2026-03-02T09:00:00Z",
                None,
            ),
            500,
        ),
        with_followers(
            post(
                "x",
                "b",
                "bob",
                "Acme app is broken again, terrible",
                "2026-03-02T09:10:00Z",
                None,
            ),
            500,
        ),
        post(
            "x",
            "rb",
            "AcmeSupport",
            "Fixed, sorry",
            "2026-03-02T10:00:00Z",
            Some("b"),
        ),
        with_followers(
            post(
                "x",
                "c",
                "tiny",
                "Acme delivery late, awful",
                "2026-03-02T09:20:00Z",
                None,
            ),
            3,
        ),
        with_followers(
            post(
                "x",
                "d",
                "old",
                "Acme lost my parcel, awful",
                "2026-02-27T09:00:00Z",
                None,
            ),
            900,
        ),
        // Globex has no accounts: it never answers, so nothing is notified for it. Initech
        // has: this complaint about all three is notified once for Acme and once for Initech.
        with_followers(
            post(
                "x",
                "e",
                "eve",
                "Globex and Acme and Initech all failed me, awful",
                "2026-03-02T09:30:00Z",
                None,
            ),
            800,
        ),
    ];
    crate::alerts::ingest(&s, &lines).await;
    let evaluator = mentiond::alerts::Evaluator::new(
        s.store.clone(),
        s.config.clone(),
        s.clock.clone() as Arc<dyn Clock>,
    );
    // Alerts are off: the notices are their own rule and still run.
    let first = evaluator.evaluate_once().await.unwrap();
    assert_eq!(first.unanswered.len(), 3, "{first:?}");
    let msgs = s.store.messages(None).await.unwrap();
    let notices: Vec<_> = msgs
        .iter()
        .filter(|m| m.subject.contains("Reclamo senza risposta"))
        .collect();
    assert_eq!(notices.len(), 3, "{msgs:?}");
    let per_brand = |b: &str| {
        notices
            .iter()
            .filter(|m| m.brand.as_deref() == Some(b))
            .count()
    };
    assert_eq!(
        (per_brand("Acme"), per_brand("Initech"), per_brand("Globex")),
        (2, 1, 0)
    );
    let notices: Vec<_> = notices
        .into_iter()
        .filter(|m| {
            m.subject.contains("Acme") && !String::from_utf8_lossy(&m.message).contains("eve")
        })
        .collect();
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].subject.contains("Acme") && notices[0].subject.contains("5 h"),
        "{}",
        notices[0].subject
    );
    let body = String::from_utf8_lossy(&notices[0].message).to_string();
    assert!(body.contains("ann"), "the complaint's author is named");
    // Once only, however often the evaluation runs.
    s.clock.advance(chrono::Duration::hours(1));
    let again = evaluator.evaluate_once().await.unwrap();
    assert!(again.unanswered.is_empty(), "{again:?}");
    assert_eq!(s.store.messages(None).await.unwrap().len(), msgs.len());
}
