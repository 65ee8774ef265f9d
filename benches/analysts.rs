//! `cargo bench --bench analysts`: the analysts' figures of BENCHMARKS.md ("Analysts' queries").
//!
//! Generates `MENTIOND_BENCH_MENTIONS` mentions (default 1,000,000; issue 15 asks for
//! 10,000,000) over 20 brands and a year with `mentiond generate`, ingests them with the
//! release binary, then times the commands an analyst runs, each the median of 5 runs of the
//! whole process (start-up included):
//! a 90-day daily series of one brand, a phrase search returning the newest 100 hits, and an
//! export of one brand's rows.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mentiond");

fn run(config: &Path, args: &[&str]) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, out.stdout)
}

fn median(config: &Path, args: &[&str]) -> (Duration, Vec<u8>) {
    let mut runs: Vec<(Duration, Vec<u8>)> = (0..5).map(|_| run(config, args)).collect();
    runs.sort_by_key(|r| r.0);
    runs.swap_remove(2)
}

fn main() {
    let n: usize = std::env::var("MENTIOND_BENCH_MENTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("mentiond-analysts-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("mentions.jsonl");
    let spec = mentiond::generate::Spec {
        mentions: n,
        brands: 20,
        start: chrono::Utc::now() - chrono::Duration::days(366),
        days: 365,
        seed: 7,
    };
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        mentiond::generate::write_mentions(&spec, &mut out).unwrap();
        out.flush().unwrap();
    }
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nurl = \"sqlite://mentiond.db\"\n\n{}",
            mentiond::generate::brands_config(20)
        ),
    )
    .unwrap();
    let (ingest, report) = run(&config, &["ingest", "--input", input.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&report).trim().to_string();
    let db_size = std::fs::metadata(dir.join("mentiond.db")).map_or(0, |m| m.len());

    let since = (chrono::Utc::now() - chrono::Duration::days(91))
        .date_naive()
        .to_string();
    let until = (chrono::Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let series_args = [
        "query",
        "--brand",
        "Brand 7",
        "--group-by",
        "day",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "csv",
    ];
    let (series, out) = median(&config, &series_args);
    let buckets = out.iter().filter(|&&b| b == b'\n').count() - 1;
    let (search, out) = median(
        &config,
        &[
            "query",
            "--search",
            "\"still waiting for the refund\"",
            "--limit",
            "100",
            "--format",
            "ndjson",
        ],
    );
    let hits = out.iter().filter(|&&b| b == b'\n').count();
    let (export, out) = median(&config, &["export", "--brand", "Acme", "--format", "csv"]);
    let rows = out.iter().filter(|&&b| b == b'\n').count() - 1;

    println!(
        "## Analysts' queries: {n} generated mentions, 20 brands, a year (cargo bench --bench analysts)"
    );
    println!();
    println!(
        "Ingest: {report} in {:.1} s ({:.0} mentions/s); database {:.0} MB.",
        ingest.as_secs_f64(),
        n as f64 / ingest.as_secs_f64(),
        db_size as f64 / 1e6
    );
    println!();
    println!("| command (median of 5, whole process) | result | time |");
    println!("|---|---|---|");
    println!(
        "| 90-day daily series of one brand (`query --brand ... --group-by day --since --until`) | {buckets} buckets | {:.0} ms |",
        series.as_secs_f64() * 1e3
    );
    println!(
        "| phrase search, newest 100 (`query --search '\"still waiting for the refund\"'`) | {hits} rows | {:.0} ms |",
        search.as_secs_f64() * 1e3
    );
    println!(
        "| export of one brand (`export --brand Acme --format csv`) | {rows} rows | {:.2} s ({:.0} rows/s) |",
        export.as_secs_f64(),
        rows as f64 / export.as_secs_f64()
    );
    if std::env::var_os("MENTIOND_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("\n(kept {})", dir.display());
    }
}
