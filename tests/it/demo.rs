//! `mentiond demo`, end to end and shortened: the real binary, the simulated network, the real
//! daemon; exactly one alert (the complaint storm, not the launch) and one digest are written.

use crate::helpers::*;

fn demo(dir: &std::path::Path) -> std::process::Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["demo", "--quick", "--dir"]).arg(dir);
    cmd.env_remove("RUST_LOG");
    cmd.output().expect("run mentiond demo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_the_whole_story_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mentiond-demo");
    // A previous demo's folder is replaced.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".mentiond-demo"), "").unwrap();
    std::fs::write(dir.join("left-over.txt"), "old").unwrap();

    let o = demo(&dir);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(!dir.join("left-over.txt").exists(), "started fresh");
    for step in [
        "mentions stored",
        "Caffè Aurora launches",
        "the complaints pour in",
        "ALERT e-mail written",
        "writing the digest",
        "Alert e-mail: [mentiond] Negative spike",
        "Digest e-mail:",
        "query --brand \"Acme Coffee\"",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }

    let files: Vec<String> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let count = |kind: &str, ext: &str| {
        files
            .iter()
            .filter(|f| f.contains(&format!("-{kind}-")) && f.ends_with(ext))
            .count()
    };
    assert_eq!(count("alert", ".eml"), 1, "{files:?}");
    assert_eq!(count("alert", ".html"), 1, "{files:?}");
    assert_eq!(count("digest", ".eml"), 1, "{files:?}");
    assert_eq!(count("digest", ".html"), 1, "{files:?}");
    assert_eq!(files.len(), 4, "{files:?}");

    let store = mentiond::store::Store::open_sqlite(&dir.join("mentiond.db"))
        .await
        .unwrap();
    let alerts = store
        .alerts_between(
            "2000-01-01T00:00:00Z".parse().unwrap(),
            "2100-01-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].brand, "Acme Coffee", "the storm, not the launch");
    let sent = store.messages(Some("sent")).await.unwrap();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].subject.starts_with("[mentiond] Negative spike"),
        "{}",
        sent[0].subject
    );
    assert!(
        sent[1].subject.contains("demo digest"),
        "{}",
        sent[1].subject
    );
    // Every simulated platform delivered mentions for both brands.
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT b.name, m.source, count(*) FROM mention_brands mb JOIN mentions m ON m.id = mb.mention_id \
         JOIN brands b ON b.id = mb.brand_id GROUP BY 1, 2",
    )
    .fetch_all(store.reader())
    .await
    .unwrap();
    for brand in ["Acme Coffee", "Caffè Aurora"] {
        for source in ["mastodon", "bluesky", "reddit", "rss"] {
            assert!(
                rows.iter()
                    .any(|(b, s, n)| b == brand && s == source && *n > 0),
                "no {source} mention of {brand}: {rows:?}"
            );
        }
    }
    // The Italian brand's launch was scored positive: its negatives stayed ordinary.
    let launch_negative: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM brand_mentions WHERE brand = 'Caffè Aurora' AND text LIKE '%Aurora Oro%' AND label = 'negative'",
    )
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(launch_negative, 0);
    store.close().await;

    // The config it wrote works for the commands it suggests.
    let q = run_with_stdin(
        &dir.join("config.toml"),
        &[
            "query",
            "--brand",
            "Acme Coffee",
            "--label",
            "negative",
            "--limit",
            "5",
        ],
        None,
    );
    assert!(q.status.success(), "{}", stderr(&q));
    assert!(stdout(&q).contains("Acme Coffee"), "{}", stdout(&q));
}

#[test]
fn the_demo_never_wipes_a_folder_it_did_not_create() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("precious");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("thesis.tex"), "years of work").unwrap();
    let o = demo(&dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a mentiond demo folder"),
        "{}",
        stderr(&o)
    );
    assert!(dir.join("thesis.tex").exists());
}
