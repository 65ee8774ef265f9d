//! `cargo bench --bench alerts`: the figures behind BENCHMARKS.md ("Spike detection").
//!
//! 1. NAB realTweets with the shipped defaults and a fixed threshold (`is_alert`), scored by
//!    `../shared/tools/nab_score.py` (standard, low-FP and low-FN profiles).
//! 2. The cost of one alert evaluation on a large store, rebuilding and incremental, and of a
//!    daily digest. (Generated incident streams: `cargo bench --bench detection`.)

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use mentiond::config::Config;
use mentiond::detect::{DetectorParams, detect_csv};
use mentiond::mention::Mention;
use mentiond::pipeline::{Pipeline, Processed};
use mentiond::sentiment::Scorer;

fn shared() -> PathBuf {
    std::env::var_os("MENTIOND_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

fn nab() {
    println!("## NAB realTweets (shipped defaults, is_alert)");
    println!();
    let data = shared().join("nab-realtweets/data/realTweets");
    let out = std::env::temp_dir().join(format!("mentiond-nab-{}", std::process::id()));
    let results = out.join("mentiond/realTweets");
    std::fs::create_dir_all(&results).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let input = std::fs::File::open(f).unwrap();
        let output = std::fs::File::create(results.join(format!(
            "mentiond_{}",
            f.file_name().unwrap().to_string_lossy()
        )))
        .unwrap();
        detect_csv(
            std::io::BufReader::new(input),
            output,
            // What `mentiond detect` runs.
            DetectorParams::for_counts_only(),
        )
        .unwrap();
    }
    let scorer = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/nab_score.py");
    let res = std::process::Command::new("python3")
        .arg(scorer)
        .arg("--results")
        .arg(&out)
        .arg("--column")
        .arg("is_alert")
        .output();
    match res {
        Ok(o) => {
            println!("```");
            print!("{}", String::from_utf8_lossy(&o.stdout));
            println!("```");
        }
        Err(e) => println!("nab_score.py not run: {e}"),
    }
    let _ = std::fs::remove_dir_all(&out);
    println!();
}

/// How long one alert evaluation takes on a store of `n` mentions of one brand spread over 28
/// days: the first (which rebuilds the brand's state from four weeks, as every evaluation did
/// before issue 13) and the following ones a minute apart (incremental); and one daily digest.
fn evaluation_cost() {
    println!("## Evaluation cost on a large store");
    println!();
    println!(
        "| mentions (one brand, 28 days) | store size | evaluation, rebuilding from 28 days | evaluation, incremental (median of 10, a minute apart) | ratio | daily digest (report + render) |"
    );
    println!("|---|---|---|---|---|---|");
    let rt = tokio::runtime::Runtime::new().unwrap();
    for n in [100_000usize, 500_000] {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[storage]\nurl = \"sqlite://{}\"\n[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n[[digests]]\nname = \"daily\"\nschedule = \"0 0 8 * * *\"\nto = [\"a@example.org\"]\n",
            dir.path().join("m.db").display()
        );
        let config = std::sync::Arc::new(Config::parse(&dir.path().join("c.toml"), &text).unwrap());
        let end: DateTime<Utc> = "2026-03-29T07:00:00Z".parse().unwrap();
        let start = end - Duration::days(28);
        let pipeline = Pipeline::new(&config.brands, std::sync::Arc::new(Scorer::new()));
        let texts = [
            "Acme coffee is great, love it",
            "picked up my Acme order today",
            "Acme delivery was late again, awful",
            "is Acme open on Sundays",
        ];
        let (rebuild, cost, digest) = rt.block_on(async {
            let store = std::sync::Arc::new(
                mentiond::store::Store::open(&config.storage.database)
                    .await
                    .unwrap(),
            );
            let step = (end - start).num_milliseconds() / n as i64;
            let mut batch = Vec::with_capacity(5000);
            for i in 0..n {
                let t = start + Duration::milliseconds(step * i as i64);
                let m = Mention {
                    source: "mastodon".into(),
                    external_id: format!("m{i}"),
                    text: texts[i % texts.len()].into(),
                    created_at: t,
                    url: None,
                    author: None,
                    author_followers: None,
                    lang: Some("en".into()),
                    reply_to: None,
                    engagement: Default::default(),
                };
                if let Processed::Matched(s) = pipeline.process(m) {
                    batch.push(*s);
                }
                if batch.len() == 5000 {
                    store.insert_batch_at(&batch, end).await.unwrap();
                    batch.clear();
                }
            }
            store.insert_batch_at(&batch, end).await.unwrap();
            let clock = std::sync::Arc::new(mentiond::clock::ManualClock::new(
                end + Duration::minutes(2),
            ));
            let evaluator =
                mentiond::alerts::Evaluator::new(store.clone(), config.clone(), clock.clone());
            let t0 = std::time::Instant::now();
            let first = evaluator.evaluate_once().await.unwrap();
            let rebuild = t0.elapsed();
            assert_eq!(first.rebuilt, vec!["Acme".to_string()]);
            let mut times = Vec::new();
            for _ in 0..10 {
                clock.advance(Duration::minutes(1));
                let t0 = std::time::Instant::now();
                let e = evaluator.evaluate_once().await.unwrap();
                times.push(t0.elapsed());
                assert!(e.rebuilt.is_empty(), "incremental");
            }
            times.sort();
            let cost = times[times.len() / 2];
            let runner = mentiond::digest::DigestRunner::new(store.clone(), config.clone(), clock);
            let t0 = std::time::Instant::now();
            let report = runner.report(&config.digests[0], end).await.unwrap();
            let _ = mentiond::notify::digest::render(&report);
            let digest = t0.elapsed();
            assert!(
                report.mentions() as usize >= n / 28 * 9 / 10,
                "{}",
                report.mentions()
            );
            store.close().await;
            (rebuild, cost, digest)
        });
        let size = std::fs::metadata(dir.path().join("m.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "| {n} | {:.0} MB | {:.0} ms | {:.1} ms | {:.0}x | {:.0} ms |",
            size as f64 / 1e6,
            rebuild.as_secs_f64() * 1000.0,
            cost.as_secs_f64() * 1000.0,
            rebuild.as_secs_f64() / cost.as_secs_f64().max(1e-9),
            digest.as_secs_f64() * 1000.0
        );
    }
    println!();
}

fn main() {
    match std::env::var("MENTIOND_BENCH_ONLY").as_deref() {
        Ok("evaluation") => evaluation_cost(),
        _ => {
            nab();
            evaluation_cost();
        }
    }
}
