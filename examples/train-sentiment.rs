//! Trains the customer-voice sentiment model and writes `data/sentiment/cx/model.bin`.
//!
//! ```sh
//! cargo run --release --example train-sentiment -- [--shared ../shared/data] [--dry-run] [--check]
//! ```
//!
//! Training data (see tools/README.md for the discipline):
//! - TweetEval sentiment (SemEval-2017 task 4A): the validation split and three quarters of the
//!   test split (lines whose 0-based number is not 2 mod 4); the other quarter is held out and
//!   only `cargo bench --bench sentiment` scores it.
//! - UCI "Sentiment Labelled Sentences" (Amazon, Yelp, IMDb): positive and negative sentences.
//! - `data/sentiment/train/brand-mentions-*.tsv`: brand mentions written for mentiond.
//!
//! Development sets, never trained on: `tests/data/brand-mentions/{en,it}-dev.tsv` and
//! SENTIPOLC 2016's validation split. The same data and options give the same file, byte for
//! byte.

use std::path::{Path, PathBuf};

use mentiond::mention::Label;
use mentiond::sentiment::Scorer;
use mentiond::sentiment::cx::features::Sink;
use mentiond::sentiment::cx::model::Model;
use mentiond::sentiment::cx::train::{self, Example, Options};
use mentiond::sentiment::cx::{Lang, class_index};

/// TweetEval test lines whose 0-based number has this remainder mod 4 are held out.
const HELD_OUT_QUARTER: usize = 2;

struct Args {
    shared: PathBuf,
    out: PathBuf,
    dry_run: bool,
    check: bool,
    opts: Options,
    brand_weight: f32,
    italian_weight: f32,
    general_weight: f32,
    review_weight: f32,
    offsets: [f32; 3],
    errors: Option<String>,
}

fn parse_args() -> Args {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        shared: repo.join("../shared/data"),
        out: repo.join("data/sentiment/cx/model.bin"),
        dry_run: false,
        check: false,
        opts: Options::default(),
        brand_weight: 3.0,
        italian_weight: 3.0,
        general_weight: 1.0,
        review_weight: 1.0,
        offsets: [0.0; 3],
        errors: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--shared" => a.shared = PathBuf::from(val()),
            "--out" => a.out = PathBuf::from(val()),
            "--dry-run" => a.dry_run = true,
            "--check" => a.check = true,
            "--errors" => a.errors = Some(val()),
            "--bits" => a.opts.bits = val().parse().expect("--bits N"),
            "--c" => a.opts.c = val().parse().expect("--c X"),
            "--iterations" => a.opts.iterations = val().parse().expect("--iterations N"),
            "--min-count" => a.opts.min_count = val().parse().expect("--min-count N"),
            "--brand-weight" => a.brand_weight = val().parse().expect("--brand-weight X"),
            "--italian-weight" => a.italian_weight = val().parse().expect("--italian-weight X"),
            "--general-weight" => a.general_weight = val().parse().expect("--general-weight X"),
            "--review-weight" => a.review_weight = val().parse().expect("--review-weight X"),
            "--negative-offset" => a.offsets[0] = val().parse().expect("--negative-offset X"),
            "--positive-offset" => a.offsets[2] = val().parse().expect("--positive-offset X"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn label_of(code: &str) -> Label {
    match code.trim() {
        "0" | "negative" => Label::Negative,
        "1" | "neutral" => Label::Neutral,
        "2" | "positive" => Label::Positive,
        other => panic!("unknown label {other:?}"),
    }
}

/// TweetEval-style split: one text per line, labels in a parallel file.
fn parallel(dir: &Path, split: &str) -> Vec<(String, Label)> {
    let texts = read(&dir.join(format!("{split}_text.txt")));
    let labels = read(&dir.join(format!("{split}_labels.txt")));
    let labels: Vec<&str> = labels.lines().filter(|l| !l.trim().is_empty()).collect();
    texts
        .lines()
        .take(labels.len())
        .zip(labels)
        .map(|(t, l)| (t.trim().to_string(), label_of(l)))
        .collect()
}

fn uci(dir: &Path) -> Vec<(String, Label)> {
    let mut out = Vec::new();
    for f in ["amazon_cells", "yelp", "imdb"] {
        for line in read(&dir.join(format!("{f}_labelled.txt"))).lines() {
            if let Some((t, l)) = line.rsplit_once('\t') {
                let label = if l.trim() == "1" {
                    Label::Positive
                } else {
                    Label::Negative
                };
                out.push((t.trim().to_string(), label));
            }
        }
    }
    out
}

/// `label<TAB>text` lines.
pub fn labelled_tsv(p: &Path) -> Vec<(String, Label)> {
    read(p)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(l, t)| (t.to_string(), label_of(l)))
        .collect()
}

struct Collect<'m> {
    model: &'m Model,
    out: Vec<(u32, f32)>,
}

impl Sink for Collect<'_> {
    fn feature(&mut self, hash: u64, value: f32, _: &dyn Fn() -> String) {
        self.out.push((self.model.index(hash) as u32, value));
    }
}

fn report(name: &str, scorer: &Scorer, data: &[(String, Label)], lang: &str) {
    let gold: Vec<Label> = data.iter().map(|(_, l)| *l).collect();
    let pred: Vec<Label> = data
        .iter()
        .map(|(t, _)| {
            scorer
                .score(t, Some(lang))
                .expect("en and it are scored")
                .label
        })
        .collect();
    let (m, per) = mentiond::sentiment::eval::macro_f1(&gold, &pred);
    println!(
        "{name:<22} n={:<6} macro-F1 {m:.3}  neg P {:.2} R {:.2}  neu P {:.2} R {:.2}  pos P {:.2} R {:.2}",
        data.len(),
        per[0].0,
        per[0].1,
        per[1].0,
        per[1].1,
        per[2].0,
        per[2].1
    );
}

fn main() {
    let args = parse_args();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let te = args.shared.join("sentiment-en/tweeteval");
    let val = parallel(&te, "val");
    let test = parallel(&te, "test");
    let (test_train, test_held): (Vec<_>, Vec<_>) = test
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 4 != HELD_OUT_QUARTER);
    let test_train: Vec<_> = test_train.into_iter().map(|(_, x)| x).collect();
    // Never scored here: the held-out quarter is reported only by the bench.
    drop(test_held);
    let reviews = uci(&args.shared.join("sentiment-en/uci-reviews"));
    let train_dir = repo.join("data/sentiment/train");
    let mut brand_en = Vec::new();
    let mut brand_it = Vec::new();
    let mut general_it = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&train_dir)
        .expect("data/sentiment/train")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("brand-mentions-en") {
            brand_en.extend(labelled_tsv(&f));
        } else if name.starts_with("brand-mentions-it") {
            brand_it.extend(labelled_tsv(&f));
        } else if name.starts_with("general-it") {
            general_it.extend(labelled_tsv(&f));
        }
    }

    let base = Scorer::with_cx_model(Model::zeros(args.opts.bits));
    let cv = base.customer_voice().expect("customer voice");
    let zero = Model::zeros(args.opts.bits);
    let mut examples = Vec::new();
    let mut add = |data: &[(String, Label)], lang: Lang, weight: f32| {
        for (text, label) in data {
            let mut c = Collect {
                model: &zero,
                out: Vec::new(),
            };
            cv.features(text, lang, base.emoji(), &mut c);
            examples.push(Example {
                features: c.out,
                class: class_index(*label),
                weight,
            });
        }
    };
    add(&val, Lang::En, 1.0);
    add(&test_train, Lang::En, 1.0);
    add(&reviews, Lang::En, args.review_weight);
    add(&brand_en, Lang::En, args.brand_weight);
    add(&brand_it, Lang::It, args.italian_weight);
    add(&general_it, Lang::It, args.general_weight);
    println!(
        "training on {} texts: TweetEval {} + {}, reviews {}, brand mentions en {} it {}, general it {}",
        examples.len(),
        val.len(),
        test_train.len(),
        reviews.len(),
        brand_en.len(),
        brand_it.len(),
        general_it.len()
    );
    train::prune(&mut examples, args.opts.bits, args.opts.min_count);
    let mut model = train::train(&examples, &args.opts, |it, loss| {
        if it % 50 == 0 {
            eprintln!("iteration {it}: loss {loss:.2}");
        }
    });
    model.offsets = args.offsets;
    let bytes = model.to_bytes();
    // Score with the weights as stored (rounded), so the figures are the shipped model's.
    let stored = Model::from_bytes(&bytes).expect("round trip");
    let scorer = Scorer::with_cx_model(stored);

    report(
        "brand mentions en dev",
        &scorer,
        &labelled_tsv(&repo.join("tests/data/brand-mentions/en-dev.tsv")),
        "en",
    );
    report(
        "brand mentions it dev",
        &scorer,
        &labelled_tsv(&repo.join("tests/data/brand-mentions/it-dev.tsv")),
        "it",
    );
    let sp = args.shared.join("sentiment-it/xlmt-sentipolc2016");
    if sp.exists() {
        report("SENTIPOLC val", &scorer, &parallel(&sp, "val"), "it");
    }
    if let Some(lang) = &args.errors {
        let (dev, lang) = if lang == "sentipolc" {
            (parallel(&sp, "val"), "it")
        } else {
            (
                labelled_tsv(&repo.join(format!("tests/data/brand-mentions/{lang}-dev.tsv"))),
                lang.as_str(),
            )
        };
        for (t, gold) in &dev {
            let e = scorer.explain(t, Some(lang)).expect("explained");
            if e.sentiment.label != *gold {
                let why: Vec<String> = e
                    .reasons
                    .iter()
                    .take(5)
                    .map(|r| format!("{} {:+.2}", r.what, r.weight))
                    .collect();
                println!(
                    "{gold} -> {}: {t}\n    {}",
                    e.sentiment.label,
                    why.join(", ")
                );
            }
        }
    }
    if args.check {
        let committed = std::fs::read(&args.out).expect("read the committed model");
        if committed == bytes {
            println!("{} is reproduced byte for byte", args.out.display());
        } else {
            println!("{} differs from this training run", args.out.display());
            std::process::exit(1);
        }
    } else if args.dry_run {
        println!("dry run: {} bytes not written", bytes.len());
    } else {
        std::fs::write(&args.out, &bytes).expect("write the model");
        println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    }
}
