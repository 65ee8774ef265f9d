//! `cargo bench --bench ingest`: the bulk-ingest figures of BENCHMARKS.md ("Ingest").
//!
//! Generates a deterministic file of short mentions (`mentiond generate`: English and Italian,
//! two brands, one line in twenty a repeat), then times, in the same run:
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

/// The deterministic stream of `mentiond generate` (two brands, a year).
fn generate(path: &Path, n: usize) {
    let spec = mentiond::generate::Spec {
        mentions: n,
        brands: 2,
        start: chrono::Utc::now() - chrono::Duration::days(366),
        days: 365,
        seed: 1,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    mentiond::generate::write_mentions(&spec, &mut out).unwrap();
    out.flush().unwrap();
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

/// Ingests `input` into a fresh database on the PostgreSQL server `server`: (seconds, report).
fn ingest_into_postgres(
    server: &str,
    input: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(f64, String), String> {
    use sqlx::Connection;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mut admin = url::Url::parse(server).map_err(|e| e.to_string())?;
    admin.set_path("/postgres");
    let name = format!("mentiond_bench_{}", std::process::id());
    let exec = |sql: String| {
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(admin.as_str())
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .map_err(|e| e.to_string())?;
            c.close().await.map_err(|e| e.to_string())
        })
    };
    exec(format!("CREATE DATABASE \"{name}\""))?;
    let mut url = admin.clone();
    url.set_path(&format!("/{name}"));
    let config = dir.join("pg.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nurl = \"{url}\"\n\n{}",
            mentiond::generate::brands_config(2)
        ),
    )
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mentiond"))
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--input"])
        .arg(input)
        .output()
        .map_err(|e| e.to_string());
    let took = started.elapsed().as_secs_f64();
    let dropped = exec(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    let out = out?;
    dropped?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok((
        took,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
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
        format!(
            "[storage]\nurl = \"sqlite://mentiond.db\"\n\n{}",
            mentiond::generate::brands_config(2)
        ),
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

    // The same file into PostgreSQL, when a server is named (a database made for the run and
    // dropped after it).
    let postgres = std::env::var("MENTIOND_BENCH_POSTGRES_URL")
        .ok()
        .map(|server| ingest_into_postgres(&server, &input, &dir));

    let python = python_reference("python", &input, &dir.join("python.db"));
    let sqlite = python_reference("sqlite", &input, &dir.join("sqlite.db"));
    println!("| job | seconds | mentions/s | mentiond's speed as a share of it |");
    println!("|---|---|---|---|");
    let rate = |s: f64| n as f64 / s;
    println!(
        "| `mentiond ingest` ({report}) | {ours:.2} | {:.0} | 1.00 |",
        rate(ours)
    );
    match postgres {
        Some(Ok((s, report))) => println!(
            "| `mentiond ingest` into PostgreSQL ({report}) | {s:.2} | {:.0} | {:.2} |",
            rate(s),
            s / ours
        ),
        Some(Err(e)) => println!("| `mentiond ingest` into PostgreSQL | skipped: {e} | | |"),
        None => {}
    }
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
