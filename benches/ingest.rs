//! `cargo bench --bench ingest`: the bulk-ingest figures of BENCHMARKS.md ("Ingest").
//!
//! Generates a deterministic file of short mentions (English and Italian, two brands, one line
//! in twenty a repeat), then times, in the same run:
//! 1. `mentiond ingest` (the release binary: parse, normalise, match, detect the language,
//!    score, store with full-text index);
//! 2. the same job as a short Python program (`tools/ingest_reference.py python`: json,
//!    vaderSentiment, sqlite3 executemany, an FTS5 rebuild);
//! 3. SQLite's own cost of storing those rows (`tools/ingest_reference.py sqlite`: executemany
//!    of rows parsed beforehand, and the FTS5 build).
//!
//! `MENTIOND_BENCH_MENTIONS` sets the count (default 100,000). The references need python3
//! (and `pip install vaderSentiment==3.3.2` for the second); a missing one is reported and
//! skipped.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const EN: &[&str] = &[
    "my order from {b} arrived late again and support never answered",
    "{b} charged me twice this month, still waiting for the refund",
    "loving the new {b} blend, best coffee in town",
    "is {b} open on sundays? asking for a friend",
    "the {b} app keeps crashing when I pay",
    "great service at {b} today, thanks to the staff",
    "picked up a bag of {b} beans on the way home",
    "{b} support was quick and friendly, problem solved",
];
const IT: &[&str] = &[
    "ordine {b} arrivato in ritardo, nessuna risposta dal servizio clienti",
    "il nuovo caffè di {b} è buonissimo, lo consiglio",
    "{b} mi ha addebitato due volte, aspetto ancora il rimborso",
    "oggi da {b} servizio gentile e veloce, grazie",
    "l'app di {b} non funziona più dopo l'aggiornamento",
];
const TAILS: &[&str] = &[
    "",
    " #coffee",
    " (third time this week)",
    " really",
    " 🙄",
    " ☕",
    " @friend",
    " https://example.org/p/1",
];

/// A deterministic stream of `n` mention lines.
fn generate(path: &Path, n: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .to_utc();
    for i in 0..n {
        let r = next();
        // One line in twenty repeats an earlier post (a re-export, an overlapping query).
        let id = if i > 100 && r % 20 == 0 {
            (r >> 8) as usize % i
        } else {
            i
        };
        let (texts, lang, brand) = if r % 3 == 0 {
            (IT, "it", "Caffè Aurora")
        } else {
            (EN, "en", "Acme")
        };
        let text = texts[(r >> 16) as usize % texts.len()].replace("{b}", brand)
            + TAILS[(r >> 24) as usize % TAILS.len()]
            + &format!(" {}", i % 997);
        let at = start + chrono::Duration::seconds(id as i64 * 7);
        let source = ["mastodon", "bluesky", "reddit"][id % 3];
        let line = serde_json::json!({
            "source": source,
            "external_id": format!("post-{id}"),
            "text": text,
            "author": format!("user{}", (r >> 32) % 5000),
            "lang": lang,
            "created_at": at.to_rfc3339(),
        });
        writeln!(out, "{line}").unwrap();
    }
}

fn python_reference(mode: &str, input: &Path, db: &Path) -> Result<f64, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/ingest_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(mode)
        .arg(input)
        .arg(db)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_string());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("{e}"))
}

fn main() {
    let n: usize = std::env::var("MENTIOND_BENCH_MENTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("mentiond-ingest-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("mentions.jsonl");
    generate(&input, n);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[storage]\nurl = \"sqlite://mentiond.db\"\n\n\
         [[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n\n\
         [[brands]]\nname = \"Caffè Aurora\"\nkeywords = [\"caffè aurora\"]\n",
    )
    .unwrap();

    println!("## Ingest: {n} generated mentions (cargo bench --bench ingest)");
    println!();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mentiond"))
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    let ours = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let python = python_reference("python", &input, &dir.join("python.db"));
    let sqlite = python_reference("sqlite", &input, &dir.join("sqlite.db"));
    println!("| job | seconds | mentions/s | mentiond's speed as a share of it |");
    println!("|---|---|---|---|");
    let rate = |s: f64| n as f64 / s;
    println!(
        "| `mentiond ingest` ({report}) | {ours:.2} | {:.0} | 1.00 |",
        rate(ours)
    );
    for (name, r) in [
        (
            "Python: json + vaderSentiment + sqlite3 executemany + FTS5 rebuild",
            python,
        ),
        (
            "SQLite alone: executemany of parsed rows + FTS5 rebuild",
            sqlite,
        ),
    ] {
        match r {
            Ok(s) => println!("| {name} | {s:.2} | {:.0} | {:.2} |", rate(s), s / ours),
            Err(e) => println!("| {name} | skipped: {e} | | |"),
        }
    }
    if std::env::var_os("MENTIOND_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("\n(kept {})", dir.display());
    }
}
