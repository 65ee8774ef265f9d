//! `cargo bench --bench alerts`: the figures behind BENCHMARKS.md ("Spike detection").
//!
//! 1. NAB realTweets with the shipped defaults and a fixed threshold (`is_alert`), scored by
//!    `../shared/tools/nab_score.py` (standard, low-FP and low-FN profiles).
//! 2. Synthetic incident streams replayed through `backtest` (matching, scoring, alert rules):
//!    detection delay, missed incidents, false alerts per 30 days, alerts during launches.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use mentiond::alerts::backtest;
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
            DetectorParams::default(),
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

struct Rng(u64);

impl Rng {
    fn f(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn poisson(&mut self, mean: f64) -> u64 {
        let l = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.f();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

const NEUTRAL: &[&str] = &[
    "Acme store opens at nine",
    "picked up my Acme order",
    "Acme has a new location",
    "is Acme open today",
];
const POSITIVE: &[&str] = &[
    "I love the new Acme blend, wonderful",
    "Acme support was great",
    "Acme coffee is excellent",
];
const NEGATIVE: &[&str] = &[
    "Acme app is broken again, terrible",
    "worst experience with Acme, awful support",
    "Acme charged me twice, a disgrace",
];

struct Scenario {
    name: &'static str,
    per_hour: f64,
    /// (day, hour, duration in hours, extra negative mentions per hour)
    incidents: Vec<(i64, i64, i64, f64)>,
    /// (day, hour, duration in hours, volume multiplied by, mostly positive)
    launches: Vec<(i64, i64, i64, f64)>,
}

struct Outcome {
    detected: usize,
    missed: usize,
    delays_min: Vec<i64>,
    false_alerts: usize,
    launch_alerts: usize,
    days: f64,
}

fn run(s: &Scenario, seed: u64, pipeline: &Pipeline, config: &Config) -> Outcome {
    let days = 28;
    let start: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
    let mut rng = Rng(seed * 7919 + 17);
    let mut mentions = Vec::new();
    let mut seq = 0u64;
    let mut t = start;
    let end = start + Duration::days(days);
    let in_span = |t: DateTime<Utc>, spans: &[(i64, i64, i64, f64)]| -> Option<f64> {
        spans
            .iter()
            .find(|(d, h, dur, _)| {
                let a = start + Duration::days(*d) + Duration::hours(*h);
                t >= a && t < a + Duration::hours(*dur)
            })
            .map(|x| x.3)
    };
    while t < end {
        let hour = t.format("%H").to_string().parse::<f64>().unwrap();
        let weekday = t.format("%u").to_string().parse::<u32>().unwrap();
        let shape = (1.0 + 0.7 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin())
            * if weekday >= 6 { 0.7 } else { 1.0 };
        let base = s.per_hour / 12.0 * shape;
        let extra = in_span(t, &s.incidents).unwrap_or(0.0);
        let vol_k = in_span(t, &s.launches).unwrap_or(1.0);
        let counts = [
            (
                NEUTRAL,
                rng.poisson(base * 0.6 * if vol_k > 1.0 { 1.5 } else { 1.0 }),
            ),
            (POSITIVE, rng.poisson(base * 0.3 * vol_k)),
            (NEGATIVE, rng.poisson(base * 0.1 + extra / 12.0)),
        ];
        for (texts, n) in counts {
            for _ in 0..n {
                seq += 1;
                let text = texts[(rng.f() * texts.len() as f64) as usize % texts.len()];
                let m = Mention {
                    source: "x".into(),
                    external_id: seq.to_string(),
                    text: text.into(),
                    created_at: t + Duration::seconds((rng.f() * 300.0) as i64),
                    url: None,
                    author: None,
                    author_followers: Some((rng.f() * 1000.0) as u64),
                    lang: Some("en".into()),
                    reply_to: None,
                    engagement: Default::default(),
                };
                if let Processed::Matched(sm) = pipeline.process(m) {
                    mentions.push(*sm);
                }
            }
        }
        t += Duration::minutes(5);
    }
    let alerts = backtest(config, &mentions);
    let mut out = Outcome {
        detected: 0,
        missed: 0,
        delays_min: Vec::new(),
        false_alerts: 0,
        launch_alerts: 0,
        days: days as f64 - 1.0,
    };
    let fired: Vec<DateTime<Utc>> = alerts.iter().map(|a| a.fired_at.parse().unwrap()).collect();
    for (d, h, dur, _) in &s.incidents {
        let a = start + Duration::days(*d) + Duration::hours(*h);
        match fired
            .iter()
            .find(|f| **f >= a && **f <= a + Duration::hours(*dur))
        {
            Some(f) => {
                out.detected += 1;
                out.delays_min.push((*f - a).num_minutes());
            }
            None => out.missed += 1,
        }
    }
    for f in &fired {
        let in_incident = s.incidents.iter().any(|(d, h, dur, _)| {
            let a = start + Duration::days(*d) + Duration::hours(*h);
            *f >= a && *f <= a + Duration::hours(*dur + 3)
        });
        let in_launch = s.launches.iter().any(|(d, h, dur, _)| {
            let a = start + Duration::days(*d) + Duration::hours(*h);
            *f >= a && *f <= a + Duration::hours(*dur + 3)
        });
        if in_launch && !in_incident {
            out.launch_alerts += 1;
        } else if !in_incident {
            out.false_alerts += 1;
        }
    }
    out
}

fn synthetic() {
    println!("## Synthetic incident streams (mentiond backtest, default rules)");
    println!();
    let config = Config::parse(
        std::path::Path::new("/tmp/bench.toml"),
        "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n",
    )
    .unwrap();
    let pipeline = Pipeline::new(&config.brands, std::sync::Arc::new(Scorer::new()));
    let scenarios = vec![
        Scenario {
            name: "quiet brand (2/h), no incident",
            per_hour: 2.0,
            incidents: vec![],
            launches: vec![],
        },
        Scenario {
            name: "busy brand (60/h), no incident",
            per_hour: 60.0,
            incidents: vec![],
            launches: vec![],
        },
        Scenario {
            name: "quiet brand (4/h), storms of +10 complaints/h for 2 h",
            per_hour: 4.0,
            incidents: vec![(10, 10, 2, 10.0), (17, 15, 2, 10.0), (24, 20, 2, 10.0)],
            launches: vec![],
        },
        Scenario {
            name: "24/h, storms of +20 complaints/h for 1 h",
            per_hour: 24.0,
            incidents: vec![(10, 10, 1, 20.0), (17, 15, 1, 20.0), (24, 20, 1, 20.0)],
            launches: vec![],
        },
        Scenario {
            name: "24/h, small storms of +8 complaints/h for 2 h",
            per_hour: 24.0,
            incidents: vec![(10, 10, 2, 8.0), (17, 15, 2, 8.0), (24, 20, 2, 8.0)],
            launches: vec![],
        },
        Scenario {
            name: "24/h, slow burn of +5 complaints/h for 6 h",
            per_hour: 24.0,
            incidents: vec![(12, 9, 6, 5.0), (22, 9, 6, 5.0)],
            launches: vec![],
        },
        Scenario {
            name: "60/h, storm of +40 complaints/h for 1 h",
            per_hour: 60.0,
            incidents: vec![(14, 12, 1, 40.0), (21, 18, 1, 40.0)],
            launches: vec![],
        },
        Scenario {
            name: "24/h, launches (volume x4, positive) and a storm of +20/h",
            per_hour: 24.0,
            incidents: vec![(20, 11, 1, 20.0)],
            launches: vec![(9, 14, 4, 4.0), (15, 14, 4, 4.0)],
        },
    ];
    println!(
        "| scenario (28 days, 5 seeds each) | incidents detected | median delay | max delay | false alerts / 30 days | alerts during launches |"
    );
    println!("|---|---|---|---|---|---|");
    for s in &scenarios {
        let (mut det, mut miss, mut delays, mut fa, mut la, mut days) =
            (0, 0, Vec::new(), 0, 0, 0.0);
        for seed in 1..=5 {
            let o = run(s, seed, &pipeline, &config);
            det += o.detected;
            miss += o.missed;
            delays.extend(o.delays_min);
            fa += o.false_alerts;
            la += o.launch_alerts;
            days += o.days;
        }
        delays.sort();
        let med = delays
            .get(delays.len() / 2)
            .map(|d| format!("{d} min"))
            .unwrap_or("-".into());
        let max = delays
            .last()
            .map(|d| format!("{d} min"))
            .unwrap_or("-".into());
        let total = det + miss;
        println!(
            "| {} | {} | {med} | {max} | {:.2} | {la} |",
            s.name,
            if total == 0 {
                "-".to_string()
            } else {
                format!("{det}/{total}")
            },
            fa as f64 / days * 30.0
        );
    }
    println!();
}

/// How long one alert evaluation (the evaluator replays 28 days per brand) and one daily
/// digest take on a store of `n` mentions of one brand spread over 28 days.
fn evaluation_cost() {
    println!("## Evaluation cost on a large store");
    println!();
    println!(
        "| mentions (one brand, 28 days) | store size | alert evaluation | daily digest (report + render) |"
    );
    println!("|---|---|---|---|");
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
        let (cost, digest) = rt.block_on(async {
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
                    store.insert_batch(&batch).await.unwrap();
                    batch.clear();
                }
            }
            store.insert_batch(&batch).await.unwrap();
            let clock = std::sync::Arc::new(mentiond::clock::ManualClock::new(end));
            let evaluator =
                mentiond::alerts::Evaluator::new(store.clone(), config.clone(), clock.clone());
            evaluator.evaluate_once().await.unwrap();
            let runs = 3;
            let t0 = std::time::Instant::now();
            for _ in 0..runs {
                evaluator.evaluate_once().await.unwrap();
            }
            let cost = t0.elapsed() / runs;
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
            (cost, digest)
        });
        let size = std::fs::metadata(dir.path().join("m.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "| {n} | {:.0} MB | {:.0} ms | {:.0} ms |",
            size as f64 / 1e6,
            cost.as_secs_f64() * 1000.0,
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
            synthetic();
            evaluation_cost();
        }
    }
}
