//! `cargo bench --bench sentiment`: the figures behind BENCHMARKS.md ("Sentiment").
//!
//! 1. English accuracy against the human means of VADER's ground truth (Pearson r, sign and
//!    label agreement), next to the Python reference's scores committed in
//!    `tests/data/vader_reference/`.
//! 2. Italian: SENTIPOLC 2016 (train, val, test) accuracy and macro-F1, EmoITA Pearson r.
//! 3. Speed: texts per second on one core (this process is single-threaded), English over the
//!    4,200 tweets and Italian over the SENTIPOLC texts, and Python vaderSentiment on the same
//!    tweets in the same run (`tools/vader_speed.py`, skipped if vaderSentiment is missing).
//!
//! Data comes from `../shared/data/` (override with `MENTIOND_SHARED_DATA`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mentiond::mention::Label;
use mentiond::sentiment::Scorer;

fn shared() -> PathBuf {
    std::env::var_os("MENTIOND_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
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

fn english(scorer: &Scorer) -> Vec<String> {
    println!("## English: agreement with human ratings");
    println!();
    println!(
        "| file | texts | Pearson r (mentiond) | Pearson r (vaderSentiment 3.3.2) | label agreement | sign agreement |"
    );
    println!("|---|---|---|---|---|---|");
    let mut tweets = Vec::new();
    for name in [
        "tweets_GroundTruth",
        "amazonReviewSnippets_GroundTruth",
        "movieReviewSnippets_GroundTruth",
        "nytEditorialSnippets_GroundTruth",
    ] {
        let text = read(shared().join(format!("sentiment/{name}.txt")));
        let refs: HashMap<String, f64> = read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/data/vader_reference/{name}.tsv")),
        )
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
        let (mut ours, mut theirs, mut human) = (Vec::new(), Vec::new(), Vec::new());
        let (mut labels, mut signs, mut signed) = (0usize, 0usize, 0usize);
        for line in text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
        {
            let mut f = line.splitn(3, '\t');
            let id = f.next().unwrap();
            let mean: f64 = f.next().unwrap().parse().unwrap();
            let t = f.next().unwrap_or_default();
            let s = scorer.english(t);
            if s.label == human_label(mean) {
                labels += 1;
            }
            if mean != 0.0 {
                signed += 1;
                if s.compound != 0.0 && s.compound.signum() == mean.signum() {
                    signs += 1;
                }
            }
            ours.push(s.compound);
            theirs.push(refs[id]);
            human.push(mean / 4.0);
            if name.starts_with("tweets") {
                tweets.push(t.to_string());
            }
        }
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.1}% | {:.1}% |",
            ours.len(),
            pearson(&ours, &human),
            pearson(&theirs, &human),
            100.0 * labels as f64 / ours.len() as f64,
            100.0 * signs as f64 / signed as f64
        );
    }
    println!();
    tweets
}

fn macro_f1(gold: &[usize], pred: &[usize]) -> (f64, f64) {
    let mut f1s = Vec::new();
    for c in 0..3 {
        let tp = gold
            .iter()
            .zip(pred)
            .filter(|(g, p)| **g == c && **p == c)
            .count() as f64;
        let fp = gold
            .iter()
            .zip(pred)
            .filter(|(g, p)| **g != c && **p == c)
            .count() as f64;
        let fneg = gold
            .iter()
            .zip(pred)
            .filter(|(g, p)| **g == c && **p != c)
            .count() as f64;
        let prec = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let rec = if tp + fneg > 0.0 {
            tp / (tp + fneg)
        } else {
            0.0
        };
        f1s.push(if prec + rec > 0.0 {
            2.0 * prec * rec / (prec + rec)
        } else {
            0.0
        });
    }
    let acc = gold.iter().zip(pred).filter(|(g, p)| g == p).count() as f64 / gold.len() as f64;
    (100.0 * acc, 100.0 * f1s.iter().sum::<f64>() / 3.0)
}

fn italian(scorer: &Scorer) -> Vec<String> {
    println!("## Italian: SENTIPOLC 2016 (UMSAB split) and EmoITA");
    println!();
    println!("| split | tweets | accuracy | macro-F1 |");
    println!("|---|---|---|---|");
    let mut all = Vec::new();
    for split in ["train", "val", "test"] {
        let dir = shared().join("sentiment-it/xlmt-sentipolc2016");
        let texts = read(dir.join(format!("{split}_text.txt")));
        let labels = read(dir.join(format!("{split}_labels.txt")));
        let gold: Vec<usize> = labels.lines().map(|l| l.trim().parse().unwrap()).collect();
        let pred: Vec<usize> = texts
            .lines()
            .map(|t| match scorer.italian(t).label {
                Label::Negative => 0,
                Label::Neutral => 1,
                Label::Positive => 2,
            })
            .collect();
        assert_eq!(gold.len(), pred.len());
        let (acc, f1) = macro_f1(&gold, &pred);
        println!("| {split} | {} | {acc:.2} | {f1:.2} |", gold.len());
        all.extend(texts.lines().map(String::from));
    }
    println!();
    let csv = read(shared().join("sentiment-it/emoita/emotivita_test_gold.csv"));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let (mut ours, mut human) = (Vec::new(), Vec::new());
    for rec in reader.records() {
        let rec = rec.unwrap();
        ours.push(scorer.italian(&rec[1]).compound);
        human.push((rec[2].parse::<f64>().unwrap() - 3.0) / 2.0);
    }
    println!(
        "EmoITA (emotivita_test_gold.csv, {} sentences): Pearson r of compound with (V-3)/2 = {:.3}",
        ours.len(),
        pearson(&ours, &human)
    );
    println!();
    all
}

/// Texts per second over `texts`, repeated for at least `min` wall time; the median of 3 runs.
fn speed(texts: &[String], min: Duration, score: impl Fn(&str) -> f64) -> f64 {
    let mut rates = Vec::new();
    let mut sink = 0.0;
    for _ in 0..3 {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < min {
            for t in texts {
                sink += score(t);
            }
            n += texts.len();
        }
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    rates[1]
}

fn python_speed() -> Option<f64> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/vader_speed.py");
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
    let scorer = Scorer::new();
    // `MENTIOND_BENCH_ONLY=it` (or `en`) runs just that speed loop, for a profiler.
    if let Ok(only) = std::env::var("MENTIOND_BENCH_ONLY") {
        let texts: Vec<String> = if only == "it" {
            let dir = shared().join("sentiment-it/xlmt-sentipolc2016");
            read(dir.join("train_text.txt"))
                .lines()
                .map(String::from)
                .collect()
        } else {
            read(shared().join("sentiment/tweets_GroundTruth.txt"))
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
            scorer.score(t, Some(&only)).map_or(0.0, |s| s.compound)
        });
        println!("{only}: {rate:.0} texts/s");
        return;
    }
    println!("scorer: {}", scorer.version());
    println!(
        "load time: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    println!();
    let tweets = english(&scorer);
    let italian_texts = italian(&scorer);
    println!("## Speed (one core)");
    println!();
    let en = speed(&tweets, Duration::from_secs(2), |t| {
        scorer.english(t).compound
    });
    let it = speed(&italian_texts, Duration::from_secs(2), |t| {
        scorer.italian(t).compound
    });
    println!("| engine | texts | texts/s |");
    println!("|---|---|---|");
    println!(
        "| mentiond English (tweets_GroundTruth) | {} | {en:.0} |",
        tweets.len()
    );
    println!(
        "| mentiond Italian (SENTIPOLC train+val+test) | {} | {it:.0} |",
        italian_texts.len()
    );
    match python_speed() {
        Some(py) => {
            println!(
                "| Python vaderSentiment 3.3.2 (tweets_GroundTruth) | {} | {py:.0} |",
                tweets.len()
            );
            println!();
            println!(
                "English / Python: {:.1}x; Italian / English: {:.2}x",
                en / py,
                it / en
            );
        }
        None => {
            println!();
            println!(
                "Python reference not measured (pip install vaderSentiment==3.3.2 to include it)."
            );
            println!("Italian / English: {:.2}x", it / en);
        }
    }
}
