//! Parity of the English engine with Python vaderSentiment 3.3.2 on VADER's human-rated
//! ground truth (`tests/data/vader_ground_truth/`, MIT, reference scores in `tests/data/vader_reference/`,
//! made by `tools/vader_reference.py`), the hand-written edge cases, the Italian golden
//! sentences, and `mentiond sentiment` on stdin.

use std::collections::HashMap;
use std::path::PathBuf;

use mentiond::sentiment::Scorer;

use crate::helpers::*;

const FILES: &[&str] = &[
    "tweets_GroundTruth",
    "amazonReviewSnippets_GroundTruth",
    "movieReviewSnippets_GroundTruth",
    "nytEditorialSnippets_GroundTruth",
];

fn data_dir() -> PathBuf {
    match std::env::var_os("MENTIOND_SENTIMENT_DATA") {
        Some(d) => PathBuf::from(d),
        None => repo().join("tests/data/vader_ground_truth"),
    }
}

/// `id -> (human mean, text)` of a ground-truth file.
fn ground_truth(name: &str) -> Vec<(String, f64, String)> {
    let path = data_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let id = f.next().unwrap().to_string();
            let mean: f64 = f.next().unwrap().parse().unwrap();
            (id, mean, f.next().unwrap_or_default().to_string())
        })
        .collect()
}

/// Reference rows: the first column (id or text) -> compound.
fn reference(name: &str) -> HashMap<String, f64> {
    let path = repo().join(format!("tests/data/vader_reference/{name}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| {
            let mut f = l.split('\t');
            (
                f.next().unwrap().to_string(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Why a text may score differently from the reference, on purpose.
fn known_cause(text: &str) -> Option<&'static str> {
    let scorer = mentiond::sentiment::emoji::EmojiTable::new();
    if text.chars().any(|c| {
        scorer.get(c).is_some() || matches!(c, '\u{FE0F}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}')
    }) {
        return Some("emoji: modifiers dropped and descriptions spaced (issue 4: `❤️` counts)");
    }
    None
}

fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[test]
fn english_matches_vader_3_3_2_on_the_ground_truth() {
    let scorer = Scorer::with_engine(mentiond::sentiment::Engine::Vader);
    let mut total = 0usize;
    let mut agree = 0usize;
    let mut unexplained = Vec::new();
    let mut explained = Vec::new();
    for name in FILES {
        let rows = ground_truth(name);
        let refs = reference(name);
        assert_eq!(
            rows.len(),
            refs.len(),
            "{name}: every row has a reference score"
        );
        let mut ours = Vec::new();
        let mut human = Vec::new();
        let mut sign_ok = 0usize;
        let mut signed = 0usize;
        for (id, mean, text) in &rows {
            let expected = refs[id];
            let got = scorer.vader_english(text).compound;
            total += 1;
            if (got - expected).abs() <= 1e-4 {
                agree += 1;
            } else {
                let line = format!("{name} {id}: ours {got:.4}, reference {expected:.4}: {text}");
                match known_cause(text) {
                    Some(cause) => explained.push(format!("{line}\n    cause: {cause}")),
                    None => unexplained.push(line),
                }
            }
            ours.push(got);
            human.push(mean / 4.0);
            if *mean != 0.0 {
                signed += 1;
                if got.signum() == mean.signum() && got != 0.0 {
                    sign_ok += 1;
                }
            }
        }
        eprintln!(
            "{name}: {} texts, Pearson r with the human means {:.3}, sign accuracy {:.1}%",
            rows.len(),
            pearson(&ours, &human),
            100.0 * sign_ok as f64 / signed as f64
        );
    }
    let share = agree as f64 / total as f64;
    eprintln!(
        "parity: {agree} of {total} texts within 1e-4 of vaderSentiment 3.3.2 ({:.3}%)",
        100.0 * share
    );
    for d in &explained {
        eprintln!("difference: {d}");
    }
    for d in &unexplained {
        eprintln!("UNEXPLAINED difference: {d}");
    }
    assert!(
        share >= 0.995,
        "parity {:.3}% is below 99.5%",
        100.0 * share
    );
    assert!(
        unexplained.is_empty(),
        "{} differences without a known cause",
        unexplained.len()
    );
}

#[test]
fn english_edge_cases_match_the_reference() {
    let scorer = Scorer::with_engine(mentiond::sentiment::Engine::Vader);
    let path = repo().join("tests/data/vader_reference/extra_cases.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let mut f = line.split('\t');
        let case = f.next().unwrap();
        let cols: Vec<f64> = f.map(|v| v.parse().unwrap()).collect();
        let got = scorer.vader_english(case);
        n += 1;
        let same = (got.compound - cols[0]).abs() <= 1e-4
            && (got.pos - cols[1]).abs() <= 1e-3
            && (got.neu - cols[2]).abs() <= 1e-3
            && (got.neg - cols[3]).abs() <= 1e-3;
        if !same && known_cause(case).is_none() {
            failures.push(format!(
                "{case:?}: ours {:.4} {:.3} {:.3} {:.3}, reference {:?}",
                got.compound, got.pos, got.neu, got.neg, cols
            ));
        }
    }
    assert!(n >= 40);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn intended_fixes_over_the_reference() {
    let s = Scorer::with_engine(mentiond::sentiment::Engine::Vader);
    assert_eq!(s.vader_english("Hello!").label.as_str(), "neutral");
    assert!(
        s.vader_english("I ❤️ this coffee").compound > 0.5,
        "❤️ counts"
    );
    assert_eq!(
        s.vader_english("👍🏽").compound,
        s.vader_english("👍").compound,
        "skin tones do not change the emoji"
    );
    assert!(s.vader_english("I❤it").compound > 0.5);
}

#[test]
fn italian_golden_sentences() {
    let scorer = Scorer::with_engine(mentiond::sentiment::Engine::Vader);
    let path = repo().join("data/sentiment/it/golden.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut f = line.split('\t');
        let (case, compound, label) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let expected: f64 = compound.parse().unwrap();
        let got = scorer.vader_italian(case);
        n += 1;
        if (got.compound - expected).abs() > 1e-4 || got.label.as_str() != label {
            failures.push(format!(
                "{case:?}: ours {:.4} {}, expected {expected:.4} {label}",
                got.compound, got.label
            ));
        }
    }
    assert!(n >= 30, "{n} golden sentences");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sentiment_command_routes_by_language() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let input = "The support team was wonderful and fast, thank you so much!\n\
                 Servizio pessimo, non lo consiglio a nessuno.\n\
                 Il prodotto è arrivato ieri, davvero ottimo!\n\
                 Der Kundendienst war leider sehr schlecht und unfreundlich.\n";
    let out = ws.run_stdin(&["sentiment", "--lang", "auto"], input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        (lines[0][1].as_str(), lines[0][2].as_str()),
        ("positive", "en")
    );
    assert_eq!(
        (lines[1][1].as_str(), lines[1][2].as_str()),
        ("negative", "it"),
        "Servizio pessimo is negative, not neutral"
    );
    assert_eq!(
        (lines[2][1].as_str(), lines[2][2].as_str()),
        ("positive", "it")
    );
    assert_eq!(
        (lines[3][1].as_str(), lines[3][2].as_str()),
        ("unscored", "de"),
        "no German pack: unscored, never neutral"
    );
    assert!(lines[0][0].parse::<f64>().unwrap() > 0.5);
    assert_eq!(
        lines[0][0].split('.').nth(1).map(str::len),
        Some(4),
        "4 decimals"
    );
    // A forced language scores every line with that pack.
    let out = ws.run_stdin(&["sentiment", "--lang", "it"], "Servizio pessimo\n");
    assert!(stdout(&out).starts_with('-'), "{}", stdout(&out));
}

#[tokio::test]
async fn rescore_recomputes_other_versions_in_resumable_batches() {
    let ws = Workspace::example();
    let out = ws.run(&[
        "ingest",
        "--input",
        repo().join("examples/mentions.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = ws.store().await;
    let version = Scorer::new().version().to_string();
    // Pretend three mentions were scored by an old engine that got them wrong.
    sqlx::query("UPDATE mentions SET scorer_version = 'old', compound = 0.0, label = 'neutral' WHERE id IN (1, 2, 6)")
        .execute(store.writer())
        .await
        .unwrap();
    let created_2: String = sqlx::query_scalar("SELECT created_at FROM mentions WHERE id = 2")
        .fetch_one(store.reader())
        .await
        .unwrap();
    store.close().await;

    // --since limits the work: only mention 6 (the newest of the three) is redone first.
    let out = ws.run(&["rescore", "--since", "2026-03-02T13:00:00Z", "--batch", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("rescored 1, label changed 1"),
        "{}",
        stdout(&out)
    );
    assert!(created_2.as_str() < "2026-03-02T13:00:00Z");

    let out = ws.run(&["rescore", "--batch", "1"]);
    assert!(
        stdout(&out).starts_with("rescored 2, label changed 2"),
        "{}",
        stdout(&out)
    );
    assert!(created_2.as_str() >= "2026-03-02");
    let out = ws.run(&["rescore"]);
    assert!(
        stdout(&out).starts_with("rescored 0, label changed 0"),
        "nothing left: {}",
        stdout(&out)
    );

    let store = ws.store().await;
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, label, scorer_version FROM mentions WHERE id IN (1, 2, 6) ORDER BY id",
    )
    .fetch_all(store.reader())
    .await
    .unwrap();
    store.close().await;
    assert_eq!(
        rows,
        vec![
            (1, "positive".to_string(), version.clone()),
            (2, "negative".to_string(), version.clone()),
            (6, "negative".to_string(), version.clone())
        ],
        "the English complaint (id 2: \"arrived broken and support never answered\") and the \
         Italian one (id 6) are negative with the customer-voice engine"
    );
}

/// Share of `cases` (text, expected label) that the default engine labels as expected.
fn agreement(lang: &str, cases: &[(&str, &str)]) -> (usize, Vec<String>) {
    let scorer = Scorer::new();
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let got = scorer.score(text, Some(lang)).unwrap().label;
        if got.as_str() != *expected {
            wrong.push(format!("{text:?}: {got}, expected {expected}"));
        }
    }
    (cases.len() - wrong.len(), wrong)
}

#[test]
fn customer_voice_reads_complaints_as_customers_mean_them() {
    type Group<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let groups: &[Group] = &[
        (
            "failures told as facts",
            "en",
            &[
                (
                    "order arrived broken and support never answered",
                    "negative",
                ),
                (
                    "@Parcelo marked my package as delivered. It was not delivered.",
                    "negative",
                ),
                ("on hold for 2 hours with @TelcoHelp", "negative"),
                ("charged twice for one order, still no refund", "negative"),
                (
                    "flight cancelled, rebooked for Thursday, no hotel offered",
                    "negative",
                ),
                (
                    "can't log in since the update, app keeps crashing",
                    "negative",
                ),
                ("third outage this week @Zentel", "negative"),
                ("emailed three times, no reply", "negative"),
            ],
        ),
        (
            "sarcasm and politeness",
            "en",
            &[
                ("great, another outage, thanks Zentel 🙃", "negative"),
                ("love spending my Saturday on hold 👏", "negative"),
                ("thanks for nothing @AcmeAir", "negative"),
                (
                    "Honestly expected better... promised a callback within 24h, it's been a week",
                    "negative",
                ),
                ("still waiting for my refund from March, thanks", "negative"),
                // Thanks after a problem put right close a good story, and "never refunded"
                // is still a complaint.
                ("Zentel refunded me within a day, thank you", "positive"),
                ("charged twice and never refunded, thanks", "negative"),
            ],
        ),
        (
            "questions and praise",
            "en",
            &[
                ("Can Parcelo deliver to a PO box?", "neutral"),
                ("what time does the Leeds store open on Sundays?", "neutral"),
                ("No issues at all since I switched", "positive"),
                ("Zero stress, the whole trip went smoothly", "positive"),
                (
                    "thanks @AcmeHelp, refund arrived in two days, quick and painless",
                    "positive",
                ),
                ("never had a problem with them in five years", "positive"),
            ],
        ),
        (
            "Italian",
            "it",
            &[
                (
                    "pacco segnato come consegnato ma non è mai arrivato",
                    "negative",
                ),
                (
                    "addebitato due volte e l'assistenza non risponde",
                    "negative",
                ),
                ("treno in ritardo di 40 minuti, nessun annuncio", "negative"),
                ("in attesa del rimborso da un mese, grazie", "negative"),
                (
                    "complimenti @Fibra, terzo guasto in una settimana 🙃",
                    "negative",
                ),
                ("a che ora apre il negozio di Bologna?", "neutral"),
                (
                    "nessun problema da quando sono passato a loro, zero stress",
                    "positive",
                ),
                (
                    "grazie @Pacchi, rimborso arrivato in due giorni",
                    "positive",
                ),
            ],
        ),
    ];
    for (name, lang, cases) in groups {
        let (right, wrong) = agreement(lang, cases);
        // One miss per group at most: the engine is statistical, the phenomena are not.
        assert!(
            right + 1 >= cases.len(),
            "{name}: {right} of {} right\n{}",
            cases.len(),
            wrong.join("\n")
        );
    }
}

/// Macro-F1 of `scorer` on a `label<TAB>text` file.
fn macro_f1(scorer: &Scorer, path: &str, lang: &str) -> f64 {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    let rows: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('\t')).collect();
    assert!(rows.len() >= 300, "{path}: {} rows", rows.len());
    let mut f1 = 0.0;
    for class in ["negative", "neutral", "positive"] {
        let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
        for (gold, t) in &rows {
            let pred = scorer.score(t, Some(lang)).unwrap().label;
            match (*gold == class, pred.as_str() == class) {
                (true, true) => tp += 1.0,
                (false, true) => fp += 1.0,
                (true, false) => fneg += 1.0,
                _ => {}
            }
        }
        let p: f64 = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let r: f64 = if tp + fneg > 0.0 {
            tp / (tp + fneg)
        } else {
            0.0
        };
        f1 += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    f1 / 3.0
}

#[test]
fn customer_voice_beats_vader_on_the_brand_mention_dev_sets() {
    let cx = Scorer::new();
    let vader = Scorer::with_engine(mentiond::sentiment::Engine::Vader);
    for (path, lang, floor) in [
        ("tests/data/brand-mentions/en-dev.tsv", "en", 0.80),
        ("tests/data/brand-mentions/it-dev.tsv", "it", 0.78),
    ] {
        let (ours, theirs) = (macro_f1(&cx, path, lang), macro_f1(&vader, path, lang));
        eprintln!("{path}: customer voice {ours:.3}, vader {theirs:.3}");
        assert!(ours >= floor, "{path}: macro-F1 {ours:.3} below {floor}");
        assert!(
            ours >= theirs + 0.15,
            "{path}: {ours:.3} vs vader {theirs:.3}"
        );
    }
}

#[test]
fn sentiment_explain_names_what_decided_the_label() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let out = ws.run_stdin(
        &["sentiment", "--explain", "--lang", "en"],
        "support never answered, still waiting for a refund\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    let cols: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!(cols.len(), 4, "{line}");
    assert_eq!(cols[1], "negative", "{line}");
    assert!(cols[3].contains("\"support\": topic, not scored"), "{line}");
    assert!(
        cols[3].contains("cue"),
        "a lexicon cue is among the reasons: {line}"
    );
    // Reasons carry signed weights, strongest first.
    let weights: Vec<f64> = cols[3]
        .split("; ")
        .filter_map(|r| r.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(weights.len() >= 3, "{line}");
    assert!(
        weights.windows(2).all(|w| w[0].abs() >= w[1].abs()),
        "{line}"
    );
}

#[test]
fn sentiment_engine_vader_gives_the_reference_scores() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let out = ws.run_stdin(
        &["sentiment", "--engine", "vader", "--lang", "en"],
        "The book was good.\nA really bad, horrible book.\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "0.4404\tpositive\ten\n-0.8211\tnegative\ten\n"
    );
    let out = ws.run_stdin(&["sentiment", "--engine", "textblob"], "x\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn sentiment_reports_a_bad_line_and_goes_on() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let out = ws.run_stdin_bytes(
        &["sentiment", "--lang", "en"],
        b"great service, thank you!\n\xff\xfe broken\nstill waiting for my refund\n",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "every line keeps its place: {lines:?}");
    assert!(lines[0].contains("\tpositive\t"), "{lines:?}");
    assert_eq!(lines[1], "NaN\tunscored\tund");
    assert!(lines[2].contains("\tnegative\t"), "{lines:?}");
    assert!(
        stderr(&out).contains("line 2: not UTF-8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sentiment_refuses_a_language_it_cannot_score() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let out = ws.run_stdin(&["sentiment", "--lang", "fr"], "Le service est nul\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("\"fr\""), "{}", stderr(&out));
}

#[test]
fn config_chooses_the_engine() {
    let ws = Workspace::new(
        "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n[sentiment]\nengine = \"vedar\"\n",
    );
    let out = ws.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sentiment.engine") && stderr(&out).contains("vader"),
        "{}",
        stderr(&out)
    );
    let ws = Workspace::new(
        "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n[sentiment]\nengine = \"vader\"\n",
    );
    let input = ws.write(
        "in.jsonl",
        r#"{"source":"x","external_id":"1","text":"Acme support never answered","created_at":"2026-03-01T08:00:00Z","lang":"en"}"#,
    );
    let out = ws.run(&["ingest", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = ws.run(&["query", "--format", "ndjson"]);
    let row: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(
        row["label"], "positive",
        "VADER scores `support` as a good word: {row}"
    );
}
