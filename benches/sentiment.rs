//! `cargo bench --bench sentiment`: the figures behind BENCHMARKS.md ("Sentiment").
//!
//! 1. Labelled sets, both engines side by side: macro-F1 and per-class precision and recall on
//!    the brand mentions written for mentiond (`tests/data/brand-mentions/`, never trained on),
//!    the held-out quarter of TweetEval's test split (lines whose 0-based number is 2 mod 4:
//!    the customer-voice model never saw them, and no choice was made on them) and SENTIPOLC 2016 (val, test).
//! 2. English agreement with the human means of VADER's ground truth (Pearson r, sign and label
//!    agreement), both engines, next to the Python reference's scores committed in
//!    `tests/data/vader_reference/`; EmoITA Pearson r.
//! 3. Speed: texts per second on one core (this process is single-threaded), both engines,
//!    English over the 4,200 tweets and Italian over the SENTIPOLC texts, and Python
//!    vaderSentiment on the same tweets in the same run (`tools/vader_speed.py`, skipped if
//!    vaderSentiment is missing).
//!
//! Data comes from `../shared/data/` (override with `MENTIOND_SHARED_DATA`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mentiond::mention::Label;
use mentiond::sentiment::{Engine, Scorer};

fn shared() -> PathBuf {
    std::env::var_os("MENTIOND_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

fn human_label(mean: f64) -> Label {
    // The human means are on -4..4: the same ±0.05 band on the -1..1 scale.
    Label::from_compound(mean / 4.0)
}

fn label_of(code: &str) -> Label {
    match code.trim() {
        "0" | "negative" => Label::Negative,
        "1" | "neutral" => Label::Neutral,
        "2" | "positive" => Label::Positive,
        other => panic!("unknown label {other:?}"),
    }
}

/// A labelled set: texts and their gold labels.
struct Set {
    name: String,
    lang: &'static str,
    items: Vec<(String, Label)>,
}

fn parallel(dir: PathBuf, split: &str) -> Vec<(String, Label)> {
    let texts = read(dir.join(format!("{split}_text.txt")));
    let labels = read(dir.join(format!("{split}_labels.txt")));
    let labels: Vec<&str> = labels.lines().filter(|l| !l.trim().is_empty()).collect();
    texts
        .lines()
        .take(labels.len())
        .zip(labels)
        .map(|(t, l)| (t.trim().to_string(), label_of(l)))
        .collect()
}

fn tsv(p: PathBuf) -> Vec<(String, Label)> {
    read(p)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(l, t)| (t.to_string(), label_of(l)))
        .collect()
}

fn labelled_sets(scorers: &[(&str, &Scorer)]) {
    let mut sets = vec![
        Set {
            name: "brand mentions, English dev (tests/data)".into(),
            lang: "en",
            items: tsv(repo().join("tests/data/brand-mentions/en-dev.tsv")),
        },
        Set {
            name: "brand mentions, Italian dev (tests/data)".into(),
            lang: "it",
            items: tsv(repo().join("tests/data/brand-mentions/it-dev.tsv")),
        },
    ];
    let te = shared().join("sentiment-en/tweeteval");
    if te.exists() {
        let held: Vec<(String, Label)> = parallel(te, "test")
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == 2)
            .map(|(_, x)| x)
            .collect();
        sets.push(Set {
            name: "TweetEval test, held-out quarter".into(),
            lang: "en",
            items: held,
        });
    }
    let sp = shared().join("sentiment-it/xlmt-sentipolc2016");
    for split in ["val", "test"] {
        if sp.exists() {
            sets.push(Set {
                name: format!("SENTIPOLC 2016 {split}"),
                lang: "it",
                items: parallel(sp.clone(), split),
            });
        }
    }
    println!("## Labelled sets");
    println!();
    println!(
        "| set | texts | engine | macro-F1 | negative P / R | neutral P / R | positive P / R |"
    );
    println!("|---|---|---|---|---|---|---|");
    for set in &sets {
        let gold: Vec<Label> = set.items.iter().map(|(_, l)| *l).collect();
        for (name, scorer) in scorers {
            let pred: Vec<Label> = set
                .items
                .iter()
                .map(|(t, _)| {
                    scorer
                        .score(t, Some(set.lang))
                        .map_or(Label::Neutral, |s| s.label)
                })
                .collect();
            let (f1, per) = mentiond::sentiment::eval::macro_f1(&gold, &pred);
            println!(
                "| {} | {} | {name} | **{f1:.3}** | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} |",
                set.name,
                gold.len(),
                per[0].0,
                per[0].1,
                per[1].0,
                per[1].1,
                per[2].0,
                per[2].1
            );
        }
    }
    println!();
}

fn english(scorers: &[(&str, &Scorer)]) -> Vec<String> {
    println!("## English: agreement with human ratings (VADER's ground truth)");
    println!();
    println!(
        "| file | texts | engine | Pearson r | Pearson r (vaderSentiment 3.3.2) | label agreement | sign agreement |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut tweets = Vec::new();
    for name in [
        "tweets_GroundTruth",
        "amazonReviewSnippets_GroundTruth",
        "movieReviewSnippets_GroundTruth",
        "nytEditorialSnippets_GroundTruth",
    ] {
        let text = read(repo().join(format!("tests/data/vader_ground_truth/{name}.txt")));
        let refs: HashMap<String, f64> =
            read(repo().join(format!("tests/data/vader_reference/{name}.tsv")))
                .lines()
                .filter(|l| !l.starts_with('#'))
                .skip(1)
                .map(|l| {
                    let mut f = l.split('\t');
                    (
                        f.next().unwrap().to_string(),
                        f.next().unwrap().parse().unwrap(),
                    )
                })
                .collect();
        let rows: Vec<(String, f64, String)> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
            .map(|line| {
                let mut f = line.splitn(3, '\t');
                let id = f.next().unwrap().to_string();
                let mean: f64 = f.next().unwrap().parse().unwrap();
                (id, mean, f.next().unwrap_or_default().to_string())
            })
            .collect();
        if name.starts_with("tweets") {
            tweets = rows.iter().map(|r| r.2.clone()).collect();
        }
        let theirs: Vec<f64> = rows.iter().map(|r| refs[&r.0]).collect();
        let human: Vec<f64> = rows.iter().map(|r| r.1 / 4.0).collect();
        for (engine, scorer) in scorers {
            let (mut ours, mut labels, mut signs, mut signed) =
                (Vec::new(), 0usize, 0usize, 0usize);
            for (_, mean, t) in &rows {
                let s = scorer.score(t, Some("en")).expect("English is scored");
                if s.label == human_label(*mean) {
                    labels += 1;
                }
                if *mean != 0.0 {
                    signed += 1;
                    if s.compound != 0.0 && s.compound.signum() == mean.signum() {
                        signs += 1;
                    }
                }
                ours.push(s.compound);
            }
            println!(
                "| {name} | {} | {engine} | {:.3} | {:.3} | {:.1}% | {:.1}% |",
                ours.len(),
                pearson(&ours, &human),
                pearson(&theirs, &human),
                100.0 * labels as f64 / ours.len() as f64,
                100.0 * signs as f64 / signed as f64
            );
        }
    }
    println!();
    tweets
}

fn italian_texts() -> Vec<String> {
    let mut all = Vec::new();
    for split in ["train", "val", "test"] {
        let dir = shared().join("sentiment-it/xlmt-sentipolc2016");
        all.extend(
            read(dir.join(format!("{split}_text.txt")))
                .lines()
                .map(String::from),
        );
    }
    all
}

fn emoita(scorers: &[(&str, &Scorer)]) {
    let csv = read(shared().join("sentiment-it/emoita/emotivita_test_gold.csv"));
    for (engine, scorer) in scorers {
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let (mut ours, mut human) = (Vec::new(), Vec::new());
        for rec in reader.records() {
            let rec = rec.unwrap();
            ours.push(scorer.score(&rec[1], Some("it")).expect("Italian").compound);
            human.push((rec[2].parse::<f64>().unwrap() - 3.0) / 2.0);
        }
        println!(
            "EmoITA (emotivita_test_gold.csv, {} sentences), {engine}: Pearson r of compound with (V-3)/2 = {:.3}",
            ours.len(),
            pearson(&ours, &human)
        );
    }
    println!();
}

/// Texts per second over `texts`, repeated for at least `min` wall time.
fn speed(texts: &[String], min: Duration, score: impl Fn(&str) -> f64) -> f64 {
    let mut sink = 0.0;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < min {
        for t in texts {
            sink += score(t);
        }
        n += texts.len();
    }
    std::hint::black_box(sink);
    n as f64 / start.elapsed().as_secs_f64()
}

fn python_speed() -> Option<f64> {
    let script = repo().join("tools/vader_speed.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("python_vader_texts_per_sec="))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run either way.
    let started = Instant::now();
    let cx = Scorer::new();
    let cx_load = started.elapsed();
    let vader = Scorer::with_engine(Engine::Vader);
    let scorers = [("customer-voice", &cx), ("vader", &vader)];
    // `MENTIOND_BENCH_ONLY=it` (or `en`) runs just the customer-voice speed loop, for a profiler.
    if let Ok(only) = std::env::var("MENTIOND_BENCH_ONLY") {
        let texts: Vec<String> = if only == "it" {
            italian_texts()
        } else {
            read(repo().join("tests/data/vader_ground_truth/tweets_GroundTruth.txt"))
                .lines()
                .filter_map(|l| {
                    l.trim_end_matches('\r')
                        .splitn(3, '\t')
                        .nth(2)
                        .map(String::from)
                })
                .collect()
        };
        let rate = speed(&texts, Duration::from_secs(3), |t| {
            cx.score(t, Some(&only)).map_or(0.0, |s| s.compound)
        });
        println!("{only}: {rate:.0} texts/s");
        return;
    }
    println!("scorers: {} / {}", cx.version(), vader.version());
    println!(
        "customer-voice load time: {:.0} ms",
        cx_load.as_secs_f64() * 1000.0
    );
    println!();
    labelled_sets(&scorers);
    let tweets = english(&scorers);
    let italian_texts = italian_texts();
    emoita(&scorers);
    println!("## Speed (one core)");
    println!();
    // The machine's speed drifts (a shared VM): the four loops take turns in five rounds and
    // each reports its median, so a slow spell hits every engine alike.
    let min = Duration::from_millis(400);
    let configs: [(&Scorer, &[String], &str); 4] = [
        (&cx, &tweets, "en"),
        (&cx, &italian_texts, "it"),
        (&vader, &tweets, "en"),
        (&vader, &italian_texts, "it"),
    ];
    let mut rates = vec![Vec::new(); configs.len()];
    for _ in 0..5 {
        for (k, (scorer, texts, lang)) in configs.iter().enumerate() {
            rates[k].push(speed(texts, min, |t| {
                scorer.score(t, Some(lang)).map_or(0.0, |s| s.compound)
            }));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let mut m = rates.into_iter().map(median);
    let (cx_en, cx_it, v_en, v_it) = (
        m.next().unwrap(),
        m.next().unwrap(),
        m.next().unwrap(),
        m.next().unwrap(),
    );
    println!("| engine | language (texts) | texts/s | ratio to VADER engine |");
    println!("|---|---|---|---|");
    println!(
        "| customer-voice | English (tweets_GroundTruth, {}) | {cx_en:.0} | {:.2}x |",
        tweets.len(),
        cx_en / v_en
    );
    println!(
        "| customer-voice | Italian (SENTIPOLC, {}) | {cx_it:.0} | {:.2}x |",
        italian_texts.len(),
        cx_it / v_it
    );
    println!("| vader | English | {v_en:.0} | 1x |");
    println!("| vader | Italian | {v_it:.0} | 1x |");
    if let Some(py) = python_speed() {
        println!(
            "| Python vaderSentiment 3.3.2 | English (tweets_GroundTruth, {}) | {py:.0} | {:.2}x |",
            tweets.len(),
            py / v_en
        );
    }
    println!();
    println!(
        "customer-voice Italian / English: {:.2}x; VADER engine English / Python: {}",
        cx_it / cx_en,
        python_speed()
            .map(|py| format!("{:.1}x", v_en / py))
            .unwrap_or_else(|| "not measured (pip install vaderSentiment==3.3.2)".into())
    );
}
