//! `mentiond ingest`: the pipeline end to end on real SQLite files.

use std::collections::BTreeSet;

use mentiond::store::MentionQuery;

use crate::helpers::*;

async fn ids_of(ws: &Workspace, brand: &str) -> BTreeSet<String> {
    let store = ws.store().await;
    let rows = store
        .query(&MentionQuery {
            brand: Some(brand.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    store.close().await;
    rows.into_iter().map(|r| r.external_id).collect()
}

fn sample() -> String {
    repo().join("examples/mentions.jsonl").display().to_string()
}

#[tokio::test]
async fn sample_file_is_stored_per_brand_and_once() {
    let ws = Workspace::example();
    let out = ws.run(&["ingest", "--input", &sample()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "read 11, stored 8, duplicates 0, unmatched 3, rejected 0"
    );

    let acme = ids_of(&ws, "Acme").await;
    let expected: BTreeSet<String> = [
        "https://mastodon.social/users/anna/statuses/1001",
        "at://did:plc:abc123/app.bsky.feed.post/3kxyz1",
        "t3_1abcd2",
        "41000001",
        "at://did:plc:def456/app.bsky.feed.post/3kxyz2",
        "t1_xyz789",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        acme, expected,
        "the anvil (excluded) and the German post (language filter) are out"
    );

    let aurora = ids_of(&ws, "Caffè Aurora").await;
    let expected: BTreeSet<String> = [
        "1890000000000000001",
        "https://mastodon.social/users/carla/statuses/1002",
        "at://did:plc:def456/app.bsky.feed.post/3kxyz2",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        aurora, expected,
        "\"caffe aurora\" without accent matches too"
    );

    let store = ws.store().await;
    assert_eq!(
        store.count_mentions().await.unwrap(),
        8,
        "the post naming both brands is stored once"
    );
    store.close().await;

    // The same file again stores nothing new.
    let again = ws.run(&["ingest", "--input", &sample()]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        stdout(&again).trim(),
        "read 11, stored 0, duplicates 8, unmatched 3, rejected 0"
    );
    let store = ws.store().await;
    assert_eq!(store.count_mentions().await.unwrap(), 8);
    store.close().await;
}

#[tokio::test]
async fn html_is_normalised_and_scores_languages_are_kept() {
    let ws = Workspace::example();
    let out = ws.run(&["ingest", "--input", &sample()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = ws.store().await;
    let rows = store
        .query(&MentionQuery {
            source: Some("mastodon".into()),
            brand: Some("Acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    store.close().await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.text, "Just tried the new #acme cold brew and I love it!");
    assert_eq!(r.lang.as_deref(), Some("en"));
    assert_eq!(r.lang_origin.as_deref(), Some("post"));
    assert_eq!(r.label.as_deref(), Some("positive"));
    assert!(r.compound.unwrap() > 0.5);
    assert_eq!(r.engagement.as_ref().unwrap()["favourites"], 12);
    assert_eq!(r.author_followers, Some(320));
    assert!(!r.scorer_version.is_empty());
}

const FILTER_CONFIG: &str = r##"
[storage]
url = "sqlite://data/m.db"

[[brands]]
name = "Acme"
keywords = ["acme"]
exclude = ["acme anvil", "#looneytunes"]
languages = ["en"]

[[brands]]
name = "Caffè"
keywords = ["caffe"]
"##;

#[tokio::test]
async fn exclusions_language_filters_and_accents() {
    let ws = Workspace::new(FILTER_CONFIG);
    let t = "2026-03-01T10:00:00Z";
    let lines = [
        line("x", "1", "The ACME anvil is heavy", t),
        line("x", "2", "acme strikes again #LooneyTunes", t),
        line("x", "3", "I really enjoy the coffee from Acme, it tastes great every morning", t),
        serde_json::json!({"source":"x","external_id":"4","text":"Acme è il migliore","created_at":t,"lang":"it"}).to_string(),
        line("x", "5", "Ich finde die Produkte von Acme wirklich sehr gut und empfehle sie weiter", t),
        line("x", "6", "acme!", t),
        line("x", "7", "Un CAFFÈ al volo", t),
        line("x", "8", "un caffé amaro", t),
        line("x", "9", "Caffeine is not a match", t),
    ];
    let input = ws.write("in.jsonl", &lines.join("\n"));
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "read 9, stored 4, duplicates 0, unmatched 5, rejected 0"
    );
    assert!(
        ws.path("data/m.db").exists(),
        "relative database path resolves against the config folder"
    );
    assert_eq!(
        ids_of(&ws, "Acme").await,
        ["3", "6"].into_iter().map(String::from).collect(),
        "excluded phrase, excluded hashtag, declared Italian and detected German are dropped; a too-short text is kept"
    );
    assert_eq!(
        ids_of(&ws, "Caffè").await,
        ["7", "8"].into_iter().map(String::from).collect()
    );
}

#[tokio::test]
async fn malformed_lines_are_reported_and_the_rest_is_kept() {
    let ws = Workspace::example();
    let t = "2026-03-01T10:00:00Z";
    let content = [
        line("x", "1", "acme one", t),
        "{not json".to_string(),
        r#"{"source":"x","text":"acme no id","created_at":"2026-03-01T10:00:00Z"}"#.to_string(),
        String::new(),
        r#"{"source":"x","external_id":"3","text":"acme bad time","created_at":"1 March"}"#
            .to_string(),
        line("x", "4", "acme four", t),
    ]
    .join("\n");
    let input = ws.write("in.jsonl", &content);
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(
        stdout(&out).trim(),
        "read 5, stored 2, duplicates 0, unmatched 0, rejected 3"
    );
    assert!(err.contains("line 2: rejected"), "{err}");
    assert!(
        err.contains("line 3: rejected") && err.contains("external_id"),
        "{err}"
    );
    assert!(
        err.contains("line 5: rejected") && err.contains("RFC 3339"),
        "{err}"
    );
    assert!(
        !err.contains("line 1:") && !err.contains("line 6:"),
        "{err}"
    );
    assert_eq!(
        ids_of(&ws, "Acme").await,
        ["1", "4"].into_iter().map(String::from).collect()
    );
}

#[tokio::test]
async fn stdin_input_and_duplicates_within_one_file() {
    let ws = Workspace::example();
    let t = "2026-03-01T10:00:00Z";
    let input = [
        line("x", "1", "acme", t),
        line("x", "1", "acme again", t),
        line("reddit", "1", "acme", t),
    ]
    .join("\n");
    let out = ws.run_stdin(&["ingest", "--input", "-"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "read 3, stored 2, duplicates 1, unmatched 0, rejected 0"
    );
}

#[tokio::test]
async fn a_brand_added_later_is_linked_to_posts_already_stored() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let input = ws.write(
        "in.jsonl",
        &line("x", "1", "acme and globex", "2026-03-01T10:00:00Z"),
    );
    let input = input.to_str().unwrap();
    assert_eq!(ws.run(&["ingest", "--input", input]).status.code(), Some(0));
    ws.write(
        "config.toml",
        "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n[[brands]]\nname = \"Globex\"\nkeywords = [\"globex\"]\n",
    );
    let out = ws.run(&["ingest", "--input", input]);
    assert_eq!(
        stdout(&out).trim(),
        "read 1, stored 0, duplicates 1, unmatched 0, rejected 0"
    );
    assert_eq!(
        ids_of(&ws, "Globex").await,
        ["1"].into_iter().map(String::from).collect()
    );
}

#[tokio::test]
async fn impossible_dates_and_endless_lines_are_refused_and_the_rest_is_kept() {
    let ws = Workspace::example();
    let t = "2026-03-01T10:00:00Z";
    let huge = format!(
        r#"{{"source":"x","external_id":"big","text":"acme {}","created_at":"{t}"}}"#,
        "a".repeat(mentiond::pipeline::MAX_LINE_BYTES)
    );
    let content = [
        line("x", "1", "acme one", t),
        line("x", "2", "acme from the far future", "9999-12-31T23:59:59Z"),
        line("x", "3", "acme from year zero", "0000-01-01T00:00:00Z"),
        line("x", "4", "acme on a leap second", "2016-12-31T23:59:60Z"),
        huge,
        line("x", "6", "acme six", t),
    ]
    .join("\n");
    let input = ws.write("in.jsonl", &content);
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(
        stdout(&out).trim(),
        "read 6, stored 2, duplicates 0, unmatched 0, rejected 4"
    );
    assert!(
        err.contains("line 2: rejected") && err.contains("future"),
        "{err}"
    );
    assert!(err.contains("line 3: rejected"), "{err}");
    assert!(
        err.contains("line 4: rejected") && err.contains("leap second"),
        "{err}"
    );
    assert!(
        err.contains("line 5: rejected") && err.contains("longer than"),
        "{err}"
    );
    assert!(!err.contains("aaaaaaaaaa"), "the long line is not echoed");
    // The cap is the operator's to set.
    let out = ws.run(&[
        "ingest",
        "--input",
        input.to_str().unwrap(),
        "--max-line-bytes",
        &(2 * mentiond::pipeline::MAX_LINE_BYTES).to_string(),
    ]);
    assert_eq!(
        stdout(&out).trim(),
        "read 6, stored 1, duplicates 2, unmatched 0, rejected 3",
        "{}",
        stderr(&out)
    );
    let out = ws.run(&["ingest", "--input", "-", "--max-line-bytes", "10"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--max-line-bytes"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn ingest_waits_for_a_write_lock_another_process_holds_for_a_moment() {
    let ws = Workspace::example();
    let t = "2026-03-01T10:00:00Z";
    let first = ws.write("first.jsonl", &line("x", "1", "acme one", t));
    assert_eq!(
        ws.run(&["ingest", "--input", first.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    // Another writer (here this test, through its own connection) holds the write lock
    // while `ingest` starts, and lets go well within the documented busy timeout.
    let store = ws.store().await;
    let mut holder = store.writer().acquire().await.expect("connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .expect("take the write lock");
    let second = ws.write("second.jsonl", &line("x", "2", "acme two", t));
    let child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(ws.config())
        .args(["ingest", "--input", second.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    sqlx::query("COMMIT")
        .execute(&mut *holder)
        .await
        .expect("release the lock");
    drop(holder);
    let out = child.wait_with_output().expect("ingest ends");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "read 1, stored 1, duplicates 0, unmatched 0, rejected 0"
    );
    assert_eq!(
        ids_of(&ws, "Acme").await,
        ["1", "2"].into_iter().map(String::from).collect()
    );
}

#[tokio::test]
async fn a_large_file_with_repeats_across_statements_is_stored_exactly_once() {
    let ws = Workspace::new(
        "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n[[brands]]\nname = \"Globex\"\nkeywords = [\"globex\"]\n",
    );
    let t = "2026-03-01T10:00:00Z";
    // 20 posts stored by an earlier run.
    let earlier: Vec<String> = (0..20)
        .map(|i| line("x", &format!("p{i}"), "acme earlier", t))
        .collect();
    let first = ws.write("first.jsonl", &earlier.join("\n"));
    assert_eq!(
        ws.run(&["ingest", "--input", first.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    // 2,500 lines (more than one batch, many multi-row statements): every seventh repeats a
    // post 150 lines back (another statement), and the first 20 were stored before; those
    // also mention Globex now, which links them to it.
    let mut lines = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    for i in 0..2500usize {
        let id = if i % 7 == 6 && i >= 150 { i - 150 } else { i };
        let text = if id < 20 { "acme and globex" } else { "acme" };
        lines.push(line("x", &format!("p{id}"), text, t));
        distinct.insert(id);
    }
    let input = ws.write("big.jsonl", &lines.join("\n"));
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    let new = distinct.iter().filter(|&&id| id >= 20).count();
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "read 2500, stored {new}, duplicates {}, unmatched 0, rejected 0",
            2500 - new
        )
    );
    let store = ws.store().await;
    let (rows, links_acme, links_globex): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM mentions), \
                (SELECT count(*) FROM mention_brands JOIN brands b ON b.id = brand_id WHERE b.name = 'Acme'), \
                (SELECT count(*) FROM mention_brands JOIN brands b ON b.id = brand_id WHERE b.name = 'Globex')",
    )
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(rows as usize, distinct.len());
    assert_eq!(links_acme as usize, distinct.len());
    assert_eq!(
        links_globex, 20,
        "posts stored before, linked to the new brand"
    );
    let fts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'acme'")
            .fetch_one(store.reader())
            .await
            .unwrap();
    assert_eq!(fts as usize, distinct.len(), "every post indexed once");
    store.close().await;
}

#[test]
fn generated_streams_are_deterministic_and_ingest_cleanly() {
    let ws = Workspace::new(&mentiond::generate::brands_config(3));
    let args = [
        "generate",
        "--mentions",
        "300",
        "--brands",
        "3",
        "--days",
        "30",
    ];
    let a = ws.run(&args);
    let b = ws.run(&args);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout, "same arguments, same stream");
    assert_eq!(stdout(&a).lines().count(), 300);
    let other = ws.run(&[
        "generate",
        "--mentions",
        "300",
        "--brands",
        "3",
        "--seed",
        "2",
    ]);
    assert_ne!(a.stdout, other.stdout);
    let out = ws.run_stdin_bytes(&["ingest", "--input", "-"], &a.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("read 300,") && report.contains("unmatched 0, rejected 0"),
        "{report}"
    );
}
