//! `mentiond query`: filters combine with AND, full-text search, output formats.

use crate::helpers::*;

const CONFIG: &str = r#"
[[brands]]
name = "Acme"
keywords = ["acme"]

[[brands]]
name = "Globex"
keywords = ["globex"]
"#;

fn json_line(source: &str, id: &str, text: &str, at: &str, lang: &str) -> String {
    serde_json::json!({"source": source, "external_id": id, "text": text, "created_at": at, "lang": lang,
        "url": format!("https://example.com/{id}"), "author": format!("user{id}")})
    .to_string()
}

fn seeded() -> Workspace {
    let ws = Workspace::new(CONFIG);
    let lines = [
        json_line(
            "mastodon",
            "1",
            "Acme delivery was terrible, still waiting for a refund",
            "2026-03-01T08:00:00Z",
            "en",
        ),
        json_line(
            "mastodon",
            "2",
            "Acme coffee is wonderful, I love it",
            "2026-03-02T09:00:00Z",
            "en",
        ),
        json_line(
            "reddit",
            "3",
            "Acme and Globex both shipped late. Awful refund process",
            "2026-03-03T10:00:00Z",
            "en",
        ),
        json_line(
            "reddit",
            "4",
            "Globex release notes are out",
            "2026-03-04T11:00:00Z",
            "en",
        ),
        json_line(
            "bluesky",
            "5",
            "Il caffè di Acme è arrivato, consegna veloce",
            "2026-03-05T12:00:00Z",
            "it",
        ),
        json_line(
            "x",
            "6",
            "Acme; refundable fares; \"quoted\" text, with commas",
            "2026-03-06T13:00:00Z",
            "en",
        ),
    ];
    let input = ws.write("in.jsonl", &lines.join("\n"));
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    ws
}

/// Runs a query with `--format ndjson` and returns the `(external_id, brand)` of each row in order.
fn ids(ws: &Workspace, args: &[&str]) -> Vec<String> {
    let mut all = vec!["query", "--format", "ndjson"];
    all.extend_from_slice(args);
    let out = ws.run(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("ndjson row");
            format!(
                "{}:{}",
                v["external_id"].as_str().unwrap(),
                v["brand"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn rows_are_newest_first_one_per_brand() {
    let ws = seeded();
    assert_eq!(
        ids(&ws, &[]),
        [
            "6:Acme", "5:Acme", "4:Globex", "3:Acme", "3:Globex", "2:Acme", "1:Acme"
        ]
    );
}

#[test]
fn filters_combine() {
    let ws = seeded();
    assert_eq!(ids(&ws, &["--brand", "globex"]), ["4:Globex", "3:Globex"]);
    assert_eq!(
        ids(&ws, &["--source", "reddit", "--brand", "Acme"]),
        ["3:Acme"]
    );
    assert_eq!(
        ids(&ws, &["--since", "2026-03-02", "--until", "2026-03-04"]),
        ["4:Globex", "3:Acme", "3:Globex", "2:Acme"]
    );
    assert_eq!(
        ids(
            &ws,
            &[
                "--since",
                "2026-03-03T10:00:00Z",
                "--until",
                "2026-03-04T11:00:00Z"
            ]
        ),
        ["3:Acme", "3:Globex"]
    );
    assert_eq!(ids(&ws, &["--lang", "it"]), ["5:Acme"]);
    assert_eq!(
        ids(&ws, &["--label", "negative", "--brand", "Acme"]),
        ["3:Acme", "1:Acme"]
    );
    assert_eq!(
        ids(&ws, &["--label", "positive", "--source", "mastodon"]),
        ["2:Acme"]
    );
    assert_eq!(ids(&ws, &["--limit", "2"]), ["6:Acme", "5:Acme"]);
}

#[test]
fn full_text_search() {
    let ws = seeded();
    assert_eq!(
        ids(&ws, &["--search", "refund"]),
        ["3:Acme", "3:Globex", "1:Acme"]
    );
    assert_eq!(
        ids(&ws, &["--search", "refund*"]),
        ["6:Acme", "3:Acme", "3:Globex", "1:Acme"]
    );
    assert_eq!(
        ids(&ws, &["--search", "refund", "--brand", "globex"]),
        ["3:Globex"]
    );
    assert_eq!(
        ids(&ws, &["--search", "\"refund process\""]),
        ["3:Acme", "3:Globex"]
    );
    assert_eq!(
        ids(&ws, &["--search", "caffe"]),
        ["5:Acme"],
        "accents are ignored"
    );
    assert_eq!(
        ids(&ws, &["--search", "wonderful OR veloce"]),
        ["5:Acme", "2:Acme"]
    );
    assert_eq!(
        ids(&ws, &["--search", "refund", "--since", "2026-03-02"]),
        ["3:Acme", "3:Globex"]
    );
    assert!(
        ids(&ws, &["--search", "-drop: (table"]).is_empty(),
        "FTS syntax in input is treated as text"
    );
}

#[test]
fn bad_search_and_bad_dates_are_clear_errors() {
    let ws = seeded();
    let out = ws.run(&["query", "--search", "\"unclosed"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("unclosed quote"), "{}", stderr(&out));
    let out = ws.run(&["query", "--since", "last tuesday"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("RFC 3339"), "{}", stderr(&out));
}

#[test]
fn json_rows_have_the_documented_fields() {
    let ws = seeded();
    let out = ws.run(&[
        "query", "--format", "json", "--brand", "Acme", "--source", "mastodon",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(rows.len(), 2);
    for key in [
        "source",
        "external_id",
        "brand",
        "url",
        "author",
        "text",
        "lang",
        "created_at",
        "compound",
        "label",
    ] {
        assert!(rows[0].get(key).is_some(), "missing {key} in {}", rows[0]);
    }
    assert_eq!(rows[0]["external_id"], "2");
    assert_eq!(rows[0]["url"], "https://example.com/2");
    assert_eq!(rows[0]["created_at"], "2026-03-02T09:00:00.000Z");
    assert_eq!(rows[0]["label"], "positive");
    assert!(rows[0]["compound"].as_f64().unwrap() > 0.5);
    // No match is an empty array, still valid JSON.
    let out = ws.run(&["query", "--format", "json", "--brand", "Nobody"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert!(rows.is_empty());
}

#[test]
fn csv_is_quoted_and_parses_back() {
    let ws = seeded();
    let out = ws.run(&["query", "--format", "csv", "--source", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "source");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    let text_col = headers.iter().position(|h| h == "text").unwrap();
    assert_eq!(
        &records[0][text_col],
        "Acme; refundable fares; \"quoted\" text, with commas"
    );
}

#[test]
fn table_output_is_readable() {
    let ws = seeded();
    let out = ws.run(&["query", "--brand", "Globex"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("CREATED"));
    assert!(
        lines[1].contains("2026-03-04 11:00") && lines[1].contains("Globex release notes"),
        "{text}"
    );
}

/// A workspace holding one post whose author and text are hostile to spreadsheets and terminals.
fn hostile() -> Workspace {
    let ws = Workspace::new(CONFIG);
    let line = serde_json::json!({
        "source": "mastodon", "external_id": "h1",
        "text": "-1 for Acme \u{1b}]0;pwned\u{7} and \u{202e}txt.exe",
        "created_at": "2026-03-01T08:00:00Z", "lang": "en",
        "author": "=HYPERLINK(\"http://evil.example\",\"x\")",
    })
    .to_string();
    let input = ws.write("in.jsonl", &line);
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    ws
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text() {
    let ws = hostile();
    let out = ws.run(&["query", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(
        &records[0][col("author")],
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert!(records[0][col("text")].starts_with("'-1 for Acme"));
    // Numbers mentiond computed are left as numbers (a negative score stays "-0.…").
    assert!(!records[0][col("compound")].starts_with('\''));
    assert!(!records[0][col("created_at")].starts_with('\''));
}

#[test]
fn table_output_keeps_control_and_bidi_characters_off_the_terminal() {
    let ws = hostile();
    let out = ws.run(&["query"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("=HYPERLINK"), "{text}");
    assert!(
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || mentiond::text::is_bidi_control(c)),
        "{text:?}"
    );
}

#[test]
fn an_impossible_limit_is_refused_not_silently_empty() {
    let ws = seeded();
    let out = ws.run(&["query", "--limit", "18446744073709551615"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--limit"), "{}", stderr(&out));
    let out = ws.run(&["query", "--limit", "0", "--format", "ndjson"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).lines().count(),
        7,
        "one row per (mention, brand)"
    );
}

#[test]
fn a_reversed_range_says_why_it_is_empty() {
    let ws = seeded();
    let out = ws.run(&["query", "--since", "2026-03-04", "--until", "2026-03-02"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).lines().filter(|l| l.contains("Acme")).count(),
        0
    );
    let err = stderr(&out);
    assert!(
        err.contains("--since") && err.contains("is not before --until"),
        "{err}"
    );
    let ordered = ws.run(&["query", "--since", "2026-03-02", "--until", "2026-03-04"]);
    assert!(!stderr(&ordered).contains("is not before"));
}

#[test]
fn reading_commands_refuse_a_missing_database_and_create_nothing() {
    let config = format!("[storage]\nurl = \"sqlite:typo/mentions.db\"\n{CONFIG}");
    let ws = Workspace::new(&config);
    for args in [&["query"][..], &["status"][..]] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("mentions.db") && err.contains("config.toml"),
            "{err}"
        );
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    }
    assert!(!ws.path("typo").exists(), "the folder was created");
}

#[test]
fn daily_series_include_empty_days_and_follow_the_time_zone() {
    let ws = seeded();
    let csv = |args: &[&str]| {
        let mut all = vec!["query", "--format", "csv"];
        all.extend_from_slice(args);
        let out = ws.run(&all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        csv(&["--brand", "Acme", "--group-by", "day"]),
        "bucket,count\n\
         2026-03-01T00:00:00Z,1\n2026-03-02T00:00:00Z,1\n2026-03-03T00:00:00Z,1\n\
         2026-03-04T00:00:00Z,0\n2026-03-05T00:00:00Z,1\n2026-03-06T00:00:00Z,1\n"
    );
    // Without a brand, a post of two brands counts once.
    assert_eq!(
        csv(&["--group-by", "day"])
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect::<Vec<_>>(),
        ["1", "1", "1", "1", "1", "1"]
    );
    // UTC+14: the posts of 10:00 UTC and later fall on the next local day.
    assert_eq!(
        csv(&[
            "--brand",
            "Acme",
            "--group-by",
            "day",
            "--timezone",
            "Pacific/Kiritimati"
        ]),
        "bucket,count\n\
         2026-03-01T00:00:00+14:00,1\n2026-03-02T00:00:00+14:00,1\n2026-03-03T00:00:00+14:00,0\n\
         2026-03-04T00:00:00+14:00,1\n2026-03-05T00:00:00+14:00,0\n2026-03-06T00:00:00+14:00,1\n\
         2026-03-07T00:00:00+14:00,1\n"
    );
    // Plain dates are that zone's days; the range is every bucket in it, empty or not.
    assert_eq!(
        csv(&[
            "--brand",
            "Acme",
            "--group-by",
            "day",
            "--timezone",
            "Pacific/Kiritimati",
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-03"
        ]),
        "bucket,count\n2026-03-02T00:00:00+14:00,1\n2026-03-03T00:00:00+14:00,0\n"
    );
    // The negative share: a complaint alone on its day is 1; a day without a scored mention
    // has no share (an empty cell, null in JSON).
    let share = csv(&[
        "--brand",
        "Acme",
        "--group-by",
        "day",
        "--metric",
        "negative_share",
    ]);
    let lines: Vec<&str> = share.lines().collect();
    assert_eq!(lines[0], "bucket,negative_share");
    assert_eq!(lines[1], "2026-03-01T00:00:00Z,1.0000");
    assert_eq!(lines[4], "2026-03-04T00:00:00Z,");
    let out = ws.run(&[
        "query",
        "--brand",
        "Acme",
        "--group-by",
        "week",
        "--metric",
        "net",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v[0]["bucket"], "2026-02-23T00:00:00Z",
        "weeks start on Monday"
    );
    assert_eq!(v[1]["bucket"], "2026-03-02T00:00:00Z");
    let net = v[0]["net"].as_f64().unwrap();
    assert!((-100.0..=100.0).contains(&net), "{v}");
    let bad = ws.run(&["query", "--metric", "net"]);
    assert_eq!(bad.status.code(), Some(2), "--metric needs --group-by");
    let bad = ws.run(&["query", "--group-by", "day", "--timezone", "Mars/Olympus"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("IANA"), "{}", stderr(&bad));
}

#[test]
fn export_streams_every_row_oldest_first() {
    let ws = seeded();
    let out = ws.run(&["export"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[1].to_string(), r[2].to_string())
        })
        .collect();
    assert_eq!(rows.len(), 7, "one row per (mention, brand), no limit");
    assert_eq!(rows[0], ("1".to_string(), "Acme".to_string()));
    assert_eq!(rows[6].0, "6");
    let out = ws.run(&["export", "--format", "ndjson", "--brand", "Globex"]);
    let ids: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["external_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["3", "4"]);
}

#[tokio::test]
async fn the_daily_view_agrees_with_the_series() {
    let ws = seeded();
    let store = ws.store().await;
    let rows: Vec<(String, i64, i64, Option<f64>)> = sqlx::query_as(
        "SELECT day, sum(mentions), sum(negative), \
                round(100.0 * (sum(positive) - sum(negative)) / nullif(sum(mentions - unscored), 0), 1) \
         FROM daily_brand_sentiment WHERE brand = 'Acme' GROUP BY day ORDER BY day",
    )
    .fetch_all(store.reader())
    .await
    .unwrap();
    store.close().await;
    let out = ws.run(&[
        "query",
        "--brand",
        "Acme",
        "--group-by",
        "day",
        "--format",
        "csv",
    ]);
    let series: Vec<(String, i64)> = stdout(&out)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (bucket, n) = l.split_once(',').unwrap();
            let n: i64 = n.parse().unwrap();
            (n > 0).then(|| (bucket[..10].to_string(), n))
        })
        .collect();
    assert_eq!(
        rows.iter()
            .map(|(d, n, _, _)| (d.clone(), *n))
            .collect::<Vec<_>>(),
        series
    );
    assert_eq!(rows[0].2, 1, "the complaint of 1 March");
    assert_eq!(rows[0].3, Some(-100.0));
}

#[test]
fn touchpoints_filter_rows_series_and_exports() {
    let ws = seeded();
    // delivery: "delivery", "shipped", "consegna" (the Italian name works too).
    assert_eq!(
        ids(&ws, &["--touchpoint", "delivery"]),
        ["5:Acme", "3:Acme", "3:Globex", "1:Acme"]
    );
    assert_eq!(
        ids(&ws, &["--touchpoint", "Consegna", "--brand", "Acme"]),
        ["5:Acme", "3:Acme", "1:Acme"]
    );
    let out = ws.run(&[
        "query",
        "--touchpoint",
        "delivery",
        "--limit",
        "1",
        "--format",
        "ndjson",
    ]);
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stderr(&out).contains("more match"), "{}", stderr(&out));
    let out = ws.run(&[
        "query",
        "--touchpoint",
        "delivery",
        "--group-by",
        "day",
        "--format",
        "csv",
    ]);
    assert_eq!(
        stdout(&out),
        "bucket,count\n2026-03-01T00:00:00Z,1\n2026-03-02T00:00:00Z,0\n\
         2026-03-03T00:00:00Z,1\n2026-03-04T00:00:00Z,0\n2026-03-05T00:00:00Z,1\n",
        "a post of two brands counts once"
    );
    let out = ws.run(&["export", "--touchpoint", "billing", "--format", "ndjson"]);
    let exported: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["external_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        exported.starts_with(&["1".to_string(), "3".to_string()]),
        "refunds, oldest first: {exported:?}"
    );
    let out = ws.run(&["query", "--touchpoint", "teleportation"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("known: delivery, billing"),
        "{}",
        stderr(&out)
    );
}
