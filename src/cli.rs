//! The command line: argument parsing, exit codes and output formats. Everything else lives in
//! the library modules; errors get their context here.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use crate::pipeline::{Pipeline, ingest_jsonl};
use crate::sentiment::{LanguageDetector, Scorer};
use crate::store::{LabelFilter, MentionQuery, MentionRow, Store};
use crate::text::terminal_safe;

/// Exit status for an invalid configuration file.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status of `ingest` when some lines were rejected (all valid lines were stored).
pub const EXIT_REJECTED: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "mentiond",
    version,
    about = "Self-hosted social listening: brand mentions, sentiment, spike alerts and digests"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, env = "MENTIOND_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print a one-line summary.
    CheckConfig,
    /// Run mentions from a JSONL file (`-` for stdin) through the pipeline and store them.
    Ingest {
        /// JSONL file, one mention per line; `-` reads stdin.
        #[arg(long, short = 'i')]
        input: String,
        /// Longest line accepted, in bytes; longer ones are rejected with their line number
        /// without being held in memory.
        #[arg(long, default_value_t = crate::pipeline::MAX_LINE_BYTES as u64,
              value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
        max_line_bytes: u64,
    },
    /// Query stored mentions, newest first.
    Query(QueryArgs),
    /// Every stored mention matching the filters, oldest first, as CSV or NDJSON, streamed in
    /// constant memory (for spreadsheets, DuckDB, pandas).
    Export(ExportArgs),
    /// Run the daemon: poll the configured sources until SIGTERM or SIGINT.
    Run,
    /// Show the health of every source and query: last success, last error, rate limits,
    /// newest post, mentions stored in the last hour and day.
    Status {
        #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
        format: StatusFormat,
    },
    /// Copy every table from one database to another (SQLite to PostgreSQL, or back), ids
    /// kept; resumable (a second run copies only what is missing) and verified by counts.
    /// Stop the daemon first. PostgreSQL passwords come from PGPASSWORD or ~/.pgpass.
    MigrateStorage {
        /// The database to copy: sqlite://PATH or postgres://user@host/database.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The database to fill (created for SQLite; for PostgreSQL it must exist).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Rows per transaction.
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
    /// Recompute stored sentiment scores after an engine change (only mentions scored by
    /// another version; in batches, resumable).
    Rescore {
        /// Only mentions published at or after: RFC 3339 or YYYY-MM-DD.
        #[arg(long, value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// Mentions per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Run the spike detector with its shipped defaults over a `timestamp,value` CSV and write
    /// `timestamp,value,anomaly_score,is_alert` to stdout.
    Detect {
        /// CSV file (`-` for stdin), e.g. a NAB realTweets series.
        #[arg(long, short = 'i')]
        input: String,
    },
    /// Replay mentions (JSONL) through matching, scoring and the alert rules with a simulated
    /// clock; print each alert that would have fired as one JSON object per line. No e-mail.
    Backtest {
        /// JSONL file of mentions (`-` for stdin), in any order.
        #[arg(long, short = 'i')]
        input: String,
    },
    /// Silence alert e-mails for a brand for a while (a known outage), list or remove silences.
    Silence(SilenceArgs),
    /// Preview a digest as HTML, send one now, or list the digests and their next runs.
    Digest(DigestArgs),
    /// Did we answer? Response rate and first-response time of a brand's mentions: replies by
    /// the brand's own accounts (its `handles`), per label and per source.
    Responses {
        /// The brand (as configured).
        #[arg(long)]
        brand: String,
        /// Mentions published at or after (RFC 3339 or YYYY-MM-DD; default: 30 days ago).
        #[arg(long, value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// Mentions published before (default: now).
        #[arg(long, value_parser = parse_since)]
        until: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
        format: StatusFormat,
    },
    /// Chat and webhook channels: list them with their last delivery, or send a sample alert
    /// to one.
    Channels {
        #[command(subcommand)]
        action: ChannelsAction,
    },
    /// Show the whole product working, offline, in about a minute: a simulated social network,
    /// the real daemon, an alert and a digest written as files.
    Demo {
        /// The demo's folder (wiped and written again at each run; never a folder it did not
        /// create).
        #[arg(long, default_value = "mentiond-demo")]
        dir: PathBuf,
        /// The same story in about twenty seconds.
        #[arg(long)]
        quick: bool,
    },
    /// Write a deterministic stream of generated mentions as JSONL on stdout (for benchmarks
    /// and load tests); the config is not read. Brands: Acme, Caffè Aurora, Brand 3, ...
    Generate {
        #[arg(long, default_value_t = 100_000)]
        mentions: usize,
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=1000))]
        brands: u16,
        /// Days the posts spread over, ending yesterday unless --start is given.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        start: Option<NaiveDate>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write a consistent copy of the live database (safe while the daemon runs).
    Backup {
        /// The copy to write (a SQLite file).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// The database to copy, instead of the one the config names (the config is then not
        /// read: a snapshot job needs neither it nor the service's credentials).
        #[arg(long, value_name = "DB")]
        from: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Score lines read on stdin: prints `compound<TAB>label<TAB>lang` per line (and, with
    /// `--explain`, the phrases that decided the label).
    Sentiment {
        /// Language of the lines: `auto` detects it per line; `en` or `it` scores every line so.
        #[arg(long, default_value = "auto")]
        lang: String,
        /// `customer-voice` (the default) or `vader` (vaderSentiment 3.3.2 parity in English).
        #[arg(long, default_value = "customer-voice")]
        engine: String,
        /// Add a fourth column: what decided each label, strongest first (customer voice).
        #[arg(long)]
        explain: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// Maximum rows (up to 1,000,000,000); 0 for all.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
    pub limit: u64,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// A series instead of rows: one value per hour, day or week, empty buckets included.
    #[arg(long, value_enum)]
    pub group_by: Option<crate::series::Granularity>,
    /// What a series counts: mentions, net sentiment (−100 to 100) or the negative share.
    #[arg(long, value_enum, default_value_t = crate::series::Metric::Count, requires = "group_by")]
    pub metric: crate::series::Metric,
    /// Oldest first (what `export` asks for); `query` shows the newest first.
    #[arg(skip)]
    pub oldest_first: bool,
}

/// The filters `query` and `export` share; they combine with AND.
#[derive(Debug, clap::Args)]
pub struct Filters {
    /// Only mentions of this brand (case-insensitive).
    #[arg(long)]
    pub brand: Option<String>,
    /// Only mentions from this source (mastodon, bluesky, reddit, hackernews, rss, x, ...).
    #[arg(long)]
    pub source: Option<String>,
    /// Published at or after: RFC 3339 or YYYY-MM-DD (midnight UTC, or in --timezone).
    #[arg(long, value_parser = parse_time_arg)]
    pub since: Option<TimeArg>,
    /// Published before: RFC 3339, or YYYY-MM-DD meaning up to the end of that day (UTC, or in
    /// --timezone).
    #[arg(long, value_parser = parse_time_arg)]
    pub until: Option<TimeArg>,
    /// positive, neutral, negative, or unscored.
    #[arg(long, value_parser = parse_label)]
    pub label: Option<LabelFilter>,
    /// ISO 639-1 language code.
    #[arg(long)]
    pub lang: Option<String>,
    /// Full-text search: words and "quoted phrases" must all appear; `word*` for a prefix;
    /// `OR` between two terms.
    #[arg(long, allow_hyphen_values = true)]
    pub search: Option<String>,
    /// Only mentions about this touchpoint (a name from [[touchpoints]], in English or Italian:
    /// delivery, billing, consegna...).
    #[arg(long)]
    pub touchpoint: Option<String>,
    /// IANA time zone of series buckets and of plain dates (Europe/Rome); default UTC.
    #[arg(long, value_parser = parse_tz)]
    pub timezone: Option<chrono_tz::Tz>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filters: Filters,
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
}

/// `--since` / `--until`: an instant, or a date whose midnight depends on the time zone.
#[derive(Debug, Clone, Copy)]
pub enum TimeArg {
    Instant(DateTime<Utc>),
    Date(NaiveDate),
}

impl TimeArg {
    /// The instant meant: a date's start (or, with `end_of_day`, the next day's start) in `tz`.
    pub fn resolve(self, tz: chrono_tz::Tz, end_of_day: bool) -> DateTime<Utc> {
        match self {
            TimeArg::Instant(t) => t,
            TimeArg::Date(d) => {
                let d = if end_of_day {
                    d.succ_opt().unwrap_or(d)
                } else {
                    d
                };
                crate::series::bucket_start(
                    crate::series::Granularity::Day,
                    tz,
                    // Noon is on the right local day whatever the offset.
                    chrono::TimeZone::from_local_datetime(
                        &tz,
                        &d.and_hms_opt(12, 0, 0).expect("noon"),
                    )
                    .earliest()
                    .map(|t| t.to_utc())
                    .unwrap_or_else(|| d.and_hms_opt(12, 0, 0).expect("noon").and_utc()),
                )
                .to_utc()
            }
        }
    }
}

fn parse_time_arg(s: &str) -> Result<TimeArg, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(TimeArg::Instant(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(TimeArg::Date(d));
    }
    Err(format!(
        "{s:?} is neither RFC 3339 (2026-03-01T09:30:00Z) nor a date (2026-03-01)"
    ))
}

fn parse_tz(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IANA time zone (Europe/Rome, America/New_York, UTC)"))
}

#[derive(Debug, clap::Args)]
pub struct SilenceArgs {
    /// The brand to silence (`*` for every brand).
    #[arg(long, required_unless_present_any = ["list", "remove"])]
    pub brand: Option<String>,
    /// How long, from now: 30m, 2h, 1d.
    #[arg(long = "for", value_parser = parse_duration_arg, conflicts_with = "until")]
    pub duration: Option<std::time::Duration>,
    /// Until this time: RFC 3339.
    #[arg(long, value_parser = parse_since)]
    pub until: Option<DateTime<Utc>>,
    /// Why (shown in status, digests and the logs).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// List the silences in force or to come.
    #[arg(long, conflicts_with_all = ["brand", "remove"])]
    pub list: bool,
    /// Remove the silence with this id.
    #[arg(long)]
    pub remove: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum ChannelsAction {
    /// Each channel: kind, endpoint (scheme and host only: the rest of a webhook URL is a
    /// secret), language, routing, and its last delivery.
    List,
    /// Posts a sample alert to one channel now (not through the outbox). Exit 0 when the
    /// endpoint accepted it (2xx), 1 otherwise with its status and the start of its answer.
    Test {
        /// The channel (`name` in [[channels]]).
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["preview", "send", "list"])))]
pub struct DigestArgs {
    /// The digest (`name` in [[digests]]).
    #[arg(long, required_unless_present = "list")]
    pub name: Option<String>,
    /// Write the digest as HTML (charts embedded) to this file and its plain text to stdout;
    /// nothing is sent or recorded.
    #[arg(long, value_name = "FILE.html")]
    pub preview: Option<PathBuf>,
    /// End of the previewed period (default: now): RFC 3339, or a local date and time in the
    /// digest's time zone (2026-11-24T08:00, 2026-11-24). The period starts at the scheduled
    /// run before it.
    #[arg(long, requires = "preview", value_name = "TIME")]
    pub at: Option<String>,
    /// Send the digest now for the period from its last scheduled run until now.
    #[arg(long)]
    pub send: bool,
    /// List the digests, their next runs and their last runs.
    #[arg(long)]
    pub list: bool,
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
}

fn parse_date_or_time(s: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "{s:?} is neither RFC 3339 (2026-03-01T09:30:00Z) nor a date (2026-03-01)"
    ))
}

fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    parse_date_or_time(s, false)
}

fn parse_label(s: &str) -> Result<LabelFilter, String> {
    LabelFilter::parse(s)
        .ok_or_else(|| format!("{s:?} is not one of positive, neutral, negative, unscored"))
}

/// A command line that asks for something impossible (exit status 2, like a bad config).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo tells its own story on stdout; the daemon's routine lines would drown it.
    let default_level = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    init_tracing(cli.log_format, default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Fatal errors are journald's "err" priority, so `journalctl -p err` shows why a unit died.
    let prefix = if stderr_is_journal() { "<3>" } else { "" };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(config_error) = e.downcast_ref::<ConfigError>() {
                eprintln!("{prefix}error: invalid configuration: {config_error}");
                return ExitCode::from(EXIT_CONFIG);
            }
            if let Some(usage) = e.downcast_ref::<UsageError>() {
                eprintln!("{prefix}error: {usage}");
                return ExitCode::from(EXIT_CONFIG);
            }
            eprintln!("{prefix}error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    // Under systemd, stderr goes to the journal, which stamps every line itself: no second
    // timestamp, no colours, and a `<N>` prefix so `journalctl -p warning` works.
    let journald = stderr_is_journal();
    let _ = match format {
        LogFormat::Text if journald => builder
            .with_ansi(false)
            .event_format(JournalPriority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .try_init(),
        // Colours only for a person at a terminal: a file or a pipe gets plain text.
        LogFormat::Text => builder
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Whether stderr is the journal's stream: `JOURNAL_STREAM` names its device and inode (a
/// shell started from a service inherits the variable, not the stream).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let value = value.to_string_lossy();
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
    }
}

/// Prefixes each line with its syslog priority (`<3>` error ... `<7>` debug), which journald
/// reads from a service's stderr.
struct JournalPriority<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority<F>
where
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}

fn load_config(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::CheckConfig => {
            let config = load_config(&cli.config)?;
            println!("{}: {}", config.file.display(), config.summary());
            Ok(0)
        }
        Command::Ingest {
            input,
            max_line_bytes,
        } => ingest(&cli.config, &input, max_line_bytes as usize).await,
        Command::Query(args) => query(&cli.config, args).await,
        Command::Generate {
            mentions,
            brands,
            days,
            start,
            seed,
        } => {
            let start = match start {
                Some(d) => d.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
                None => {
                    let today = Utc::now().date_naive();
                    (today - chrono::Duration::days(i64::from(days)))
                        .and_hms_opt(0, 0, 0)
                        .expect("midnight")
                        .and_utc()
                }
            };
            let spec = crate::generate::Spec {
                mentions,
                brands: usize::from(brands),
                start,
                days,
                seed,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            match crate::generate::write_mentions(&spec, &mut out).and_then(|()| out.flush()) {
                Ok(()) => Ok(0),
                // A closed pipe (`| head`) is the reader's choice, not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
                Err(e) => Err(e.into()),
            }
        }
        Command::Export(args) => {
            let args = QueryArgs {
                filters: args.filters,
                limit: 0,
                format: match args.format {
                    ExportFormat::Csv => OutputFormat::Csv,
                    ExportFormat::Ndjson => OutputFormat::Ndjson,
                },
                group_by: None,
                metric: crate::series::Metric::Count,
                oldest_first: true,
            };
            query(&cli.config, args).await
        }
        Command::Sentiment {
            lang,
            engine,
            explain,
        } => sentiment(&lang, &engine, explain),
        Command::Run => run_daemon(&cli.config).await,
        Command::Detect { input } => detect(&input),
        Command::Backtest { input } => backtest(&cli.config, &input).await,
        Command::Silence(args) => silence(&cli.config, args).await,
        Command::Digest(args) => digest(&cli.config, args).await,
        Command::Channels { action } => channels(&cli.config, action).await,
        Command::Responses {
            brand,
            since,
            until,
            format,
        } => responses(&cli.config, &brand, since, until, format).await,
        Command::Demo { dir, quick } => demo(&dir, quick).await,
        Command::Backup { to, from, force } => {
            backup(&cli.config, from.as_deref(), &to, force).await
        }
        Command::Rescore { since, batch } => rescore(&cli.config, since, batch).await,
        Command::MigrateStorage { from, to, batch } => migrate_storage(&from, &to, batch).await,
        Command::Status { format } => status(&cli.config, format).await,
    }
}

/// For commands that only read (query, status): the database is opened read-only, so analysts
/// need no write access and never take the writer's lock. A missing database is an error, not
/// an empty one: a mistyped path must not print zero rows and leave a new file behind.
async fn open_store_for_reading(config: &Config, config_path: &Path) -> Result<Store> {
    if let crate::config::DatabaseLocation::Sqlite(path) = &config.storage.database {
        if !path.exists() {
            anyhow::bail!(
                "no database at {} ([storage] database in {}); `mentiond run` or `mentiond ingest` \
                 creates it",
                path.display(),
                config_path.display()
            );
        }
    }
    Store::open_for_reading(&config.storage.database)
        .await
        .with_context(|| format!("opening storage {} for reading", config.storage.database))
}

async fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.storage.database)
        .await
        .with_context(|| format!("opening storage {}", config.storage.database))
}

async fn ingest(config_path: &Path, input: &str, max_line: usize) -> Result<u8> {
    let config = load_config(config_path)?;
    let store = Arc::new(open_store(&config).await?);
    let pipeline = Pipeline::new(
        &config.brands,
        Arc::new(Scorer::with_engine(config.sentiment.engine)),
    );
    let on_reject = |line: u64, reason: &str| eprintln!("line {line}: rejected: {reason}");
    let report = if input == "-" {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        ingest_jsonl(&pipeline, &store, stdin, max_line, on_reject).await
    } else {
        let file = tokio::fs::File::open(input)
            .await
            .with_context(|| format!("cannot open input {input}"))?;
        ingest_jsonl(
            &pipeline,
            &store,
            tokio::io::BufReader::new(file),
            max_line,
            on_reject,
        )
        .await
    }
    .with_context(|| format!("ingesting {input}"))?;
    store.close().await;
    println!("{report}");
    Ok(if report.rejected > 0 {
        EXIT_REJECTED
    } else {
        0
    })
}

async fn query(config_path: &Path, args: QueryArgs) -> Result<u8> {
    let filters = args.filters;
    let config = load_config(config_path)?;
    if let Some(brand) = &filters.brand {
        if !config
            .brands
            .iter()
            .any(|b| b.name.eq_ignore_ascii_case(brand))
        {
            eprintln!(
                "note: brand {brand:?} is not in the configuration; searching stored mentions anyway"
            );
        }
    }
    // A touchpoint is found by its keywords, in mentiond, as the digests find it: the rows are
    // filtered as they stream (and a series is summed from them).
    let touchpoint = match &filters.touchpoint {
        None => None,
        Some(name) => {
            let found = config.touchpoints.iter().find(|t| {
                t.name.eq_ignore_ascii_case(name)
                    || t.name_it
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            match found {
                Some(t) => Some(crate::digest::touchpoints::TouchpointMatcher::new(
                    std::slice::from_ref(t),
                )),
                None => {
                    let known: Vec<&str> =
                        config.touchpoints.iter().map(|t| t.name.as_str()).collect();
                    eprintln!(
                        "error: no touchpoint {name:?} in {}; known: {}",
                        config_path.display(),
                        if known.is_empty() {
                            "none (touchpoints = [])".to_string()
                        } else {
                            known.join(", ")
                        }
                    );
                    return Ok(2);
                }
            }
        }
    };
    let tz = filters.timezone.unwrap_or(chrono_tz::UTC);
    let since = filters.since.map(|t| t.resolve(tz, false));
    let until = filters.until.map(|t| t.resolve(tz, true));
    if let (Some(since), Some(until)) = (since, until) {
        if since >= until {
            eprintln!(
                "note: --since {} is not before --until {}: no mention can match",
                crate::mention::format_time(&since),
                crate::mention::format_time(&until)
            );
        }
    }
    let store = open_store_for_reading(&config, config_path).await?;
    let limit = (args.limit > 0).then_some(args.limit);
    // With a touchpoint the database cannot count or cut: every row of the other filters is
    // read and the limit applied here.
    let sql_limit = if touchpoint.is_some() { None } else { limit };
    let q = MentionQuery {
        brand: filters.brand,
        source: filters.source,
        since,
        until,
        oldest_first: args.oldest_first,
        label: filters.label,
        lang: filters.lang,
        search: filters.search,
        // One row more than asked tells whether the output was cut.
        limit: sql_limit.map(|l| l + 1),
    };
    if let Some(granularity) = args.group_by {
        let quarters = match &touchpoint {
            None => store.quarter_hour_counts(&q).await?,
            Some(matcher) => touchpoint_quarters(&store, &q, matcher).await?,
        };
        store.close().await;
        let series = crate::series::build(&quarters, granularity, args.metric, tz, since, until)?;
        write_series(&series, args.metric, args.format)?;
        return Ok(0);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut writer = RowWriter::new(args.format, &mut out)?;
    let mut shown = 0u64;
    let mut truncated = false;
    store
        .query_each(&q, |row| {
            if touchpoint
                .as_ref()
                .is_some_and(|m| m.classify(&row.text) == 0)
            {
                return Ok(());
            }
            if limit.is_some_and(|l| shown >= l) {
                truncated = true;
                return Ok(());
            }
            shown += 1;
            writer.row(&row)
        })
        .await?;
    writer.finish()?;
    out.flush()?;
    store.close().await;
    if truncated {
        eprintln!(
            "note: showing the newest {shown} matching rows; more match (use --limit 0 for all)"
        );
    }
    Ok(0)
}

/// Counts per quarter hour of the mentions about a touchpoint (each post once, as the store's
/// own counts).
async fn touchpoint_quarters(
    store: &crate::store::Store,
    q: &MentionQuery,
    matcher: &crate::digest::touchpoints::TouchpointMatcher,
) -> Result<Vec<crate::store::QuarterCounts>> {
    let mut seen = std::collections::HashSet::new();
    let mut quarters: std::collections::BTreeMap<DateTime<Utc>, crate::store::QuarterCounts> =
        Default::default();
    store
        .query_each(q, |row| {
            if matcher.classify(&row.text) == 0
                || !seen.insert((row.source.clone(), row.external_id.clone()))
            {
                return Ok(());
            }
            let Ok(at) = DateTime::parse_from_rfc3339(&row.created_at) else {
                return Ok(());
            };
            use chrono::Timelike;
            let at = at.to_utc();
            let start = at
                - chrono::Duration::minutes(i64::from(at.minute() % 15))
                - chrono::Duration::seconds(i64::from(at.second()))
                - chrono::Duration::nanoseconds(i64::from(at.nanosecond()));
            let c = quarters
                .entry(start)
                .or_insert(crate::store::QuarterCounts {
                    start,
                    total: 0,
                    positive: 0,
                    neutral: 0,
                    negative: 0,
                });
            c.total += 1;
            match row.label.as_deref() {
                Some("positive") => c.positive += 1,
                Some("neutral") => c.neutral += 1,
                Some("negative") => c.negative += 1,
                _ => {}
            }
            Ok(())
        })
        .await?;
    Ok(quarters.into_values().collect())
}

/// Writes a series: `bucket,<metric>` in CSV, `{"bucket": ..., "<metric>": ...}` objects in
/// JSON and NDJSON, two columns in a table. An undefined value (a share of nothing) is an empty
/// cell, `null` in JSON.
fn write_series(
    series: &[crate::series::Bucket],
    metric: crate::series::Metric,
    format: OutputFormat,
) -> Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let name = metric.name();
    let number = |v: Option<f64>| match (v, metric) {
        (None, _) => String::new(),
        (Some(v), crate::series::Metric::Count) => format!("{v:.0}"),
        (Some(v), crate::series::Metric::Net) => format!("{v:.1}"),
        (Some(v), crate::series::Metric::NegativeShare) => format!("{v:.4}"),
    };
    let json_value = |v: Option<f64>| match v {
        None => serde_json::Value::Null,
        Some(v) if metric == crate::series::Metric::Count => serde_json::json!(v as u64),
        Some(v) => serde_json::json!(v),
    };
    match format {
        OutputFormat::Table => {
            writeln!(out, "{:<26} {name}", "BUCKET")?;
            for b in series {
                writeln!(out, "{:<26} {}", b.label(), number(b.value))?;
            }
        }
        OutputFormat::Csv => {
            writeln!(out, "bucket,{name}")?;
            for b in series {
                writeln!(out, "{},{}", b.label(), number(b.value))?;
            }
        }
        OutputFormat::Json => {
            let rows: Vec<serde_json::Value> = series
                .iter()
                .map(|b| serde_json::json!({"bucket": b.label(), name: json_value(b.value)}))
                .collect();
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            for b in series {
                let row = serde_json::json!({"bucket": b.label(), name: json_value(b.value)});
                writeln!(out, "{row}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes rows in one of the output formats as they stream from the database.
struct RowWriter<'w, W: Write> {
    format: OutputFormat,
    out: &'w mut W,
    count: u64,
}

const CSV_HEADER: [&str; 18] = [
    "source",
    "external_id",
    "brand",
    "url",
    "author",
    "text",
    "lang",
    "created_at",
    "compound",
    "label",
    "pos",
    "neu",
    "neg",
    "author_followers",
    "reply_to",
    "engagement",
    "lang_origin",
    "scorer_version",
];

impl<'w, W: Write> RowWriter<'w, W> {
    fn new(format: OutputFormat, out: &'w mut W) -> io::Result<Self> {
        let w = RowWriter {
            format,
            out,
            count: 0,
        };
        match format {
            OutputFormat::Csv => w.out.write_all(&csv_line(&CSV_HEADER)?)?,
            OutputFormat::Json => w.out.write_all(b"[")?,
            OutputFormat::Table => writeln!(
                w.out,
                "{:<17} {:<10} {:<14} {:<8} {:>7}  {:<18} TEXT",
                "CREATED (UTC)", "SOURCE", "BRAND", "LABEL", "SCORE", "AUTHOR"
            )?,
            OutputFormat::Ndjson => {}
        }
        Ok(w)
    }

    fn row(&mut self, row: &MentionRow) -> io::Result<()> {
        self.count += 1;
        match self.format {
            OutputFormat::Ndjson => {
                serde_json::to_writer(&mut *self.out, row)?;
                self.out.write_all(b"\n")
            }
            OutputFormat::Json => {
                if self.count > 1 {
                    self.out.write_all(b",")?;
                }
                self.out.write_all(b"\n")?;
                serde_json::to_writer(&mut *self.out, row)?;
                Ok(())
            }
            OutputFormat::Csv => {
                // Text that came from posts and platforms is guarded against spreadsheet
                // formulas; the numbers and times mentiond wrote are not.
                let opt = |v: &Option<String>| csv_cell(v.as_deref().unwrap_or_default());
                let num = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
                let record = [
                    csv_cell(&row.source),
                    csv_cell(&row.external_id),
                    csv_cell(&row.brand),
                    opt(&row.url),
                    opt(&row.author),
                    csv_cell(&row.text),
                    opt(&row.lang),
                    row.created_at.clone(),
                    num(row.compound),
                    opt(&row.label),
                    num(row.pos),
                    num(row.neu),
                    num(row.neg),
                    row.author_followers
                        .map(|f| f.to_string())
                        .unwrap_or_default(),
                    opt(&row.reply_to),
                    row.engagement
                        .as_ref()
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                    opt(&row.lang_origin),
                    row.scorer_version.clone(),
                ];
                self.out.write_all(&csv_line(&record)?)
            }
            OutputFormat::Table => {
                let created = row
                    .created_at
                    .get(..16)
                    .unwrap_or(&row.created_at)
                    .replace('T', " ");
                let score = row
                    .compound
                    .map(|c| format!("{c:.4}"))
                    .unwrap_or_else(|| "-".into());
                writeln!(
                    self.out,
                    "{:<17} {:<10} {:<14} {:<8} {:>7}  {:<18} {}",
                    created,
                    clip(&terminal_safe(&row.source), 10),
                    clip(&terminal_safe(&row.brand), 14),
                    row.label.as_deref().unwrap_or("unscored"),
                    score,
                    clip(&terminal_safe(row.author.as_deref().unwrap_or("-")), 18),
                    clip(&terminal_safe(&row.text), 80)
                )
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => {
                self.out
                    .write_all(if self.count > 0 { b"\n]\n" } else { b"]\n" })
            }
            _ => Ok(()),
        }
    }
}

/// One CSV record (RFC 4180 quoting), with its line end.
fn csv_line<S: AsRef<[u8]>>(fields: &[S]) -> io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

/// A CSV cell that a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`, a tab or
/// a carriage return gets a leading `'` (OWASP's advice for CSV injection), which spreadsheets
/// show as text and which a reader of the file can strip.
fn csv_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// Shortens to at most `max` characters, marking the cut with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn sentiment(lang: &str, engine: &str, explain: bool) -> Result<u8> {
    let Some(engine) = crate::sentiment::Engine::parse(engine) else {
        return Err(UsageError(format!(
            "--engine must be customer-voice or vader, got {engine:?}"
        ))
        .into());
    };
    if explain && engine == crate::sentiment::Engine::Vader {
        return Err(UsageError("--explain works with the customer-voice engine".into()).into());
    }
    let scorer = Scorer::with_engine(engine);
    let fixed = match lang {
        "auto" => None,
        code => match crate::mention::normalise_lang_tag(code) {
            Some(c) if scorer.supports(&c) => Some(c),
            Some(c) => {
                return Err(UsageError(format!(
                    "no engine scores {c:?}: use --lang auto, {}",
                    scorer.languages().join(" or ")
                ))
                .into());
            }
            None => {
                return Err(UsageError(format!(
                    "--lang must be auto or an ISO 639-1 code, got {code:?}"
                ))
                .into());
            }
        },
    };
    let detector = LanguageDetector::new(scorer.languages());
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut input = stdin.lock();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut bad = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).context("reading stdin")? == 0 {
            break;
        }
        line_no += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        // A line that is not UTF-8 is reported and keeps its place in the output.
        let Ok(line) = std::str::from_utf8(&buf) else {
            bad += 1;
            eprintln!("line {line_no}: not UTF-8, not scored");
            writeln!(out, "NaN\tunscored\tund")?;
            continue;
        };
        let lang = match &fixed {
            Some(c) => Some(c.clone()),
            None => detector.detect(line).map(|d| d.lang.to_string()),
        };
        let lang_out = lang.as_deref().unwrap_or("und");
        if explain {
            match scorer.explain(line, lang.as_deref()) {
                Some(e) => writeln!(
                    out,
                    "{:.4}\t{}\t{}\t{}",
                    e.sentiment.compound,
                    e.sentiment.label,
                    lang_out,
                    crate::text::terminal_safe(&explanation(&e))
                )?,
                None => writeln!(out, "NaN\tunscored\t{lang_out}\t")?,
            }
            continue;
        }
        match scorer.score(line, lang.as_deref()) {
            Some(s) => writeln!(out, "{:.4}\t{}\t{}", s.compound, s.label, lang_out)?,
            None => writeln!(out, "NaN\tunscored\t{lang_out}")?,
        }
    }
    out.flush()?;
    Ok(if bad > 0 { 3 } else { 0 })
}

/// `"still waiting" +1.21; failure cue +0.95; "support": topic, not scored`: what pushed the
/// text towards its label (+) or away from it (−), then the topic words left unscored.
fn explanation(e: &crate::sentiment::cx::Explanation) -> String {
    let mut parts: Vec<String> = e
        .reasons
        .iter()
        .map(|r| {
            if r.weight.is_finite() {
                format!("{} {:+.2}", r.what, r.weight)
            } else {
                r.what.clone()
            }
        })
        .collect();
    for t in &e.topics {
        parts.push(format!("\"{t}\": topic, not scored"));
    }
    parts.join("; ")
}

async fn run_daemon(config_path: &Path) -> Result<u8> {
    let config = load_config(config_path)?;
    tracing::info!(config = %config.file.display(), "{}", config.summary());
    let shutdown = tokio_util::sync::CancellationToken::new();
    crate::daemon::cancel_on_signals(shutdown.clone())?;
    // Installed before the database is opened: a SIGHUP meanwhile is kept for later, not
    // fatal (its default action).
    let hup = Arc::new(tokio::sync::Notify::new());
    crate::daemon::notify_on_sighup(hup.clone())?;
    let daemon = crate::daemon::Daemon::start(config, config_path.to_path_buf()).await?;
    let handle = daemon.spawn_with_shutdown(shutdown);
    handle.reload_on(hup);
    handle.join().await?;
    Ok(0)
}

/// "3m ago", "2h ago", "5d ago" for a stored time.
fn age(stored: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(t) = stored.and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else {
        return "-".into();
    };
    let secs = (now - t.with_timezone(&Utc)).num_seconds();
    let (n, unit) = match secs.unsigned_abs() {
        s if s < 120 => (s, "s"),
        s if s < 7200 => (s / 60, "m"),
        s if s < 172_800 => (s / 3600, "h"),
        s => (s / 86_400, "d"),
    };
    if secs >= 0 {
        format!("{n}{unit} ago")
    } else {
        format!("in {n}{unit}")
    }
}

/// A source whose newest post is this old while polls succeed may have gone silently stale.
const STALE_AFTER_DAYS: i64 = 7;

async fn status(config_path: &Path, format: StatusFormat) -> Result<u8> {
    let config = load_config(config_path)?;
    let store = open_store_for_reading(&config, config_path).await?;
    let now = Utc::now();
    let rows = store.source_statuses(now).await?;
    // Configured sources that never ran show up too: silence must never look like health.
    let mut never: Vec<(String, String)> = Vec::new();
    if let Ok(sources) = crate::sources::build(&config.sources, &config.brands) {
        for s in sources {
            for q in s.queries() {
                if !rows.iter().any(|r| r.source_id == s.id() && r.query == q) {
                    never.push((s.id().to_string(), q));
                }
            }
        }
    }
    let alerts = store
        .alerts_between(
            now - chrono::Duration::days(7),
            now + chrono::Duration::seconds(1),
        )
        .await?;
    let pending = store.messages(Some("pending")).await?;
    let failed = store.messages(Some("failed")).await?;
    let silences = store.silences(now).await?;
    let digest_runs = store.digest_runs(1000).await?;
    // Which instance does what, when several share a PostgreSQL database.
    let leases = store.leases().await?;
    let digests: Vec<serde_json::Value> = config
        .digests
        .iter()
        .map(|d| {
            serde_json::json!({
                "name": d.name,
                "schedule": d.schedule.expression(),
                "timezone": d.timezone().name(),
                "next": d.schedule.next_after(now).map(|t| crate::mention::format_time(&t)),
                "last": digest_runs.iter().find(|r| r.name == d.name),
            })
        })
        .collect();
    let x_budget = match &config.sources.x {
        Some(x) => Some((store.billed_in_month("x", now).await?, x.monthly_budget)),
        None => None,
    };
    store.close().await;
    let next_month = {
        use chrono::Datelike;
        let (y, m) = if now.month() == 12 {
            (now.year() + 1, 1)
        } else {
            (now.year(), now.month() + 1)
        };
        format!("{y:04}-{m:02}-01")
    };
    let stale = |newest: Option<&str>| {
        newest
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .is_some_and(|t| now - t.with_timezone(&Utc) > chrono::Duration::days(STALE_AFTER_DAYS))
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match format {
        StatusFormat::Json => {
            let mut list: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["stale"] = serde_json::Value::Bool(stale(r.newest_post_at.as_deref()));
                    v
                })
                .collect();
            for (source, query) in &never {
                list.push(serde_json::json!({"source_id": source, "query": query, "state": "never_polled"}));
            }
            let outbox: Vec<serde_json::Value> = pending
                .iter()
                .chain(failed.iter())
                .map(|m| serde_json::json!({"id": m.id, "kind": m.kind, "channel": m.channel, "state": m.state, "subject": m.subject,
                    "attempts": m.attempts, "last_error": m.last_error, "next_attempt_at": m.next_attempt_at}))
                .collect();
            let mut doc = serde_json::json!({ "sources": list, "alerts": alerts, "outbox": outbox, "silences": silences, "digests": digests, "leases": leases });
            if let Some((used, budget)) = x_budget {
                doc["x_budget"] =
                    serde_json::json!({"used": used, "budget": budget, "resets": next_month});
            }
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        StatusFormat::Table => {
            writeln!(
                out,
                "{:<28} {:<24} {:<12} {:>9} {:>9} {:>5} {:>11} {:>7} {:>7}  LAST ERROR / NOTE",
                "SOURCE", "QUERY", "STATE", "LAST OK", "NEXT", "FAILS", "NEWEST POST", "1H", "24H"
            )?;
            for r in &rows {
                let mut remark = String::new();
                if let Some(e) = &r.last_error {
                    if r.state != "ok" || r.consecutive_failures > 0 {
                        remark = format!("{} ({})", e, age(r.last_error_at.as_deref(), now));
                    }
                }
                if stale(r.newest_post_at.as_deref()) {
                    remark = format!(
                        "STALE: newest post {}; {remark}",
                        age(r.newest_post_at.as_deref(), now)
                    );
                }
                if let Some(note) = r.note.as_deref().filter(|_| remark.is_empty()) {
                    remark = note.to_string();
                }
                if let (Some(rem), Some(reset)) = (r.rate_remaining, r.rate_reset_at.as_deref()) {
                    if rem < 1.0 {
                        remark = format!(
                            "rate limit used up, resets {}; {remark}",
                            age(Some(reset), now)
                        );
                    }
                }
                writeln!(
                    out,
                    "{:<28} {:<24} {:<12} {:>9} {:>9} {:>5} {:>11} {:>7} {:>7}  {}",
                    clip(&r.source_id, 28),
                    clip(&r.query, 24),
                    r.state,
                    age(r.last_success_at.as_deref(), now),
                    age(r.next_poll_at.as_deref(), now),
                    r.consecutive_failures,
                    age(r.newest_post_at.as_deref(), now),
                    r.stored_last_hour,
                    r.stored_last_day,
                    remark.trim_end_matches("; ")
                )?;
            }
            for (source, query) in &never {
                writeln!(
                    out,
                    "{:<28} {:<24} {:<12}",
                    clip(source, 28),
                    clip(query, 24),
                    "never polled"
                )?;
            }
            if rows.is_empty() && never.is_empty() {
                writeln!(out, "no source configured and nothing polled yet")?;
            }
            if let Some((used, budget)) = x_budget {
                writeln!(out)?;
                writeln!(
                    out,
                    "X budget: {used} of {budget} posts read this month; resets {next_month}"
                )?;
            }
            writeln!(out)?;
            if alerts.is_empty() {
                writeln!(out, "Alerts: none in the last 7 days")?;
            } else {
                writeln!(out, "Alerts (last 7 days):")?;
                for a in &alerts {
                    writeln!(
                        out,
                        "  #{} {} {}: {} negative vs {:.1} expected, p={:.1e}, {}{}",
                        a.id,
                        a.fired_at
                            .get(..16)
                            .unwrap_or(&a.fired_at)
                            .replace('T', " "),
                        a.brand,
                        a.observed,
                        a.expected,
                        a.p_value,
                        a.state,
                        a.silenced
                            .as_deref()
                            .map(|r| format!(", silenced: {r}"))
                            .unwrap_or_default()
                    )?;
                }
            }
            for s in &silences {
                writeln!(
                    out,
                    "Silence #{}: {} until {} ({})",
                    s.id, s.brand, s.ends_at, s.reason
                )?;
            }
            for l in &leases {
                writeln!(
                    out,
                    "Lease {}: {} (expires {})",
                    clip(&l.name, 60),
                    clip(&l.holder, 60),
                    age(Some(&l.expires_at), now)
                )?;
            }
            for d in &config.digests {
                let tz = d.timezone();
                let next = d
                    .schedule
                    .next_after(now)
                    .map(|t| {
                        t.with_timezone(&tz)
                            .format("%a %Y-%m-%d %H:%M %Z")
                            .to_string()
                    })
                    .unwrap_or_else(|| "-".into());
                let last = match digest_runs.iter().find(|r| r.name == d.name) {
                    Some(r) => format!(
                        "last {} {}{}",
                        r.scheduled_at
                            .get(..16)
                            .unwrap_or(&r.scheduled_at)
                            .replace('T', " "),
                        r.state,
                        r.email_state
                            .as_deref()
                            .map(|e| format!(", e-mail {e}"))
                            .unwrap_or_default()
                    ),
                    None => "never sent".into(),
                };
                writeln!(out, "Digest {}: next {next}; {last}", d.name)?;
            }
            writeln!(
                out,
                "Outbox: {} pending, {} failed",
                pending.len(),
                failed.len()
            )?;
            for m in pending
                .iter()
                .filter(|m| m.attempts > 0)
                .chain(failed.iter())
            {
                writeln!(
                    out,
                    "  {} #{} {:?}: {} attempt(s), last error: {}{}",
                    m.state.to_uppercase(),
                    m.id,
                    m.subject,
                    m.attempts,
                    m.last_error.as_deref().unwrap_or("-"),
                    if m.state == "pending" {
                        format!(", next try {}", age(Some(&m.next_attempt_at), now))
                    } else {
                        String::new()
                    }
                )?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}

/// `mentiond responses`.
async fn responses(
    config_path: &Path,
    brand: &str,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    format: StatusFormat,
) -> Result<u8> {
    let config = load_config(config_path)?;
    let Some(b) = config
        .brands
        .iter()
        .find(|b| b.name.eq_ignore_ascii_case(brand))
    else {
        bail!("no brand named {brand:?} is configured");
    };
    if b.handles.is_empty() {
        eprintln!(
            "note: brand {:?} has no `handles`: no post is recognised as its own reply",
            b.name
        );
    }
    let until = until.unwrap_or_else(Utc::now);
    let since = since.unwrap_or(until - chrono::Duration::days(30));
    let store = open_store_for_reading(&config, config_path).await?;
    let rows = store.response_rows(&b.name, since, until).await?;
    store.close().await;
    let report = crate::responses::report(
        &b.name,
        since,
        until,
        &rows,
        config.responses.hours(&b.name),
    );
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match format {
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        StatusFormat::Table => {
            use crate::responses::human;
            writeln!(
                out,
                "{} · {} → {}{}",
                crate::notify::render::clean(&report.brand),
                report.since,
                report.until,
                report
                    .business_hours
                    .as_deref()
                    .map(|h| format!(" · business hours {h}"))
                    .unwrap_or_default()
            )?;
            writeln!(
                out,
                "{:<12} {:>9} {:>9} {:>7} {:>14} {:>14}",
                "", "MENTIONS", "ANSWERED", "RATE", "MEDIAN FIRST", "90% WITHIN"
            )?;
            let line = |name: &str, s: &crate::responses::Stats| {
                format!(
                    "{:<12} {:>9} {:>9} {:>7} {:>14} {:>14}",
                    name,
                    s.mentions,
                    s.answered,
                    s.response_rate
                        .map(|r| format!("{:.0}%", r * 100.0))
                        .unwrap_or_else(|| "-".into()),
                    human(s.median_first_response_s),
                    human(s.p90_first_response_s)
                )
            };
            writeln!(out, "{}", line("all", &report.overall))?;
            for (label, s) in &report.by_label {
                writeln!(out, "{}", line(label, s))?;
            }
            for (source, s) in &report.by_source {
                writeln!(out, "{}", line(&crate::notify::render::clean(source), s))?;
            }
            if !report.unanswered_negative.is_empty() {
                writeln!(out, "oldest unanswered complaints:")?;
                for id in &report.unanswered_negative {
                    writeln!(out, "  {}", crate::notify::render::clean(id))?;
                }
            }
        }
    }
    out.flush()?;
    Ok(0)
}

/// `mentiond channels list|test`.
async fn channels(config_path: &Path, action: ChannelsAction) -> Result<u8> {
    let config = load_config(config_path)?;
    match action {
        ChannelsAction::List => {
            let messages = match &config.storage.database {
                crate::config::DatabaseLocation::Sqlite(p) if !p.exists() => Vec::new(),
                _ => {
                    let store = open_store_for_reading(&config, config_path).await?;
                    let m = store.messages(None).await?;
                    store.close().await;
                    m
                }
            };
            if config.channels.is_empty() {
                println!("no channel configured (add a [[channels]] section)");
                return Ok(0);
            }
            for c in &config.channels {
                let mut routes: Vec<String> = Vec::new();
                if config.alerts.defaults.channels.contains(&c.name) {
                    routes.push("alerts".into());
                }
                for (brand, rule) in &config.alerts.brands {
                    if rule.channels.contains(&c.name)
                        && !config.alerts.defaults.channels.contains(&c.name)
                    {
                        routes.push(format!("alerts of {brand}"));
                    }
                }
                for d in config
                    .digests
                    .iter()
                    .filter(|d| d.channels.contains(&c.name))
                {
                    routes.push(format!("digest {}", d.name));
                }
                let last = messages
                    .iter()
                    .filter(|m| m.channel.as_deref() == Some(c.name.as_str()))
                    .max_by_key(|m| m.id);
                let last = match last {
                    None => "no delivery yet".to_string(),
                    Some(m) => match (m.state.as_str(), &m.sent_at, &m.last_error) {
                        ("sent", Some(at), _) => format!("last delivered {at} ({})", m.kind),
                        (state, _, Some(e)) => format!(
                            "last message {state} after {} attempt(s): {}",
                            m.attempts,
                            crate::notify::render::clean(e)
                        ),
                        (state, _, None) => format!("last message {state}"),
                    },
                };
                println!(
                    "{}  {}  {}{}  language {}  {}  routed: {}  {}",
                    c.name,
                    c.kind.as_str(),
                    c.endpoint(),
                    c.topic
                        .as_deref()
                        .map(|t| format!(" topic {t}"))
                        .unwrap_or_default(),
                    c.language.unwrap_or(config.alerts.defaults.language).code(),
                    if c.critical_only {
                        "critical only"
                    } else {
                        "all severities"
                    },
                    if routes.is_empty() {
                        "nothing".to_string()
                    } else {
                        routes.join(", ")
                    },
                    last
                );
            }
            Ok(0)
        }
        ChannelsAction::Test { name } => {
            let Some(channel) = config
                .channels
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&name))
            else {
                let known: Vec<&str> = config.channels.iter().map(|c| c.name.as_str()).collect();
                bail!(
                    "no channel named {name:?} (configured: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            };
            let now = Utc::now();
            let brand = config
                .brands
                .first()
                .map(|b| b.name.clone())
                .unwrap_or_else(|| "Acme".into());
            let rule = config.alerts.rule(&brand);
            let view = crate::notify::channels::sample_alert(
                &brand,
                channel.language.unwrap_or(rule.language),
                rule.timezone,
                now,
            );
            let notice = crate::notify::channels::fired(&view);
            let body = crate::notify::channels::payload(
                channel.kind,
                &notice,
                channel.topic.as_deref(),
                view.language,
                now,
            );
            let body = serde_json::to_vec(&body)?;
            let http = crate::sources::http::Http::new(
                concat!("mentiond/", env!("CARGO_PKG_VERSION")),
                std::time::Duration::from_secs(15),
                1 << 20,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let id = format!("msg_test-{}", now.timestamp_millis());
            match crate::notify::channels::post(http.client(), channel, &id, &body, now).await {
                crate::notify::channels::Outcome::Delivered(code) => {
                    println!(
                        "channel {} ({}, {}): sample alert accepted (HTTP {code})",
                        channel.name,
                        channel.kind.as_str(),
                        channel.endpoint()
                    );
                    Ok(0)
                }
                crate::notify::channels::Outcome::Refused(e)
                | crate::notify::channels::Outcome::Retry { error: e, .. } => {
                    eprintln!(
                        "channel {} ({}, {}): not accepted: {}",
                        channel.name,
                        channel.kind.as_str(),
                        channel.endpoint(),
                        crate::notify::render::clean(&e)
                    );
                    Ok(1)
                }
            }
        }
    }
}

/// `mentiond migrate-storage`: exit 0 when every table holds as many rows on both sides.
async fn migrate_storage(from: &str, to: &str, batch: usize) -> Result<u8> {
    let here = Path::new("./migrate-storage");
    let source =
        crate::config::database_location(from, here).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let dest =
        crate::config::database_location(to, here).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if source == dest {
        bail!("--from and --to name the same database");
    }
    if let crate::config::DatabaseLocation::Sqlite(path) = &source {
        if !path.exists() {
            bail!("--from: no database at {}", path.display());
        }
    }
    let source_store = Store::open_for_reading(&source)
        .await
        .with_context(|| format!("opening {source} to read"))?;
    let dest_store = Store::open(&dest)
        .await
        .with_context(|| format!("opening {dest} to write"))?;
    eprintln!("copying {source} into {dest}");
    let started = std::time::Instant::now();
    let mut last_report = std::time::Instant::now();
    // The source's name in the destination's mark: a SQLite file by its full path.
    let source_name = match &source {
        crate::config::DatabaseLocation::Sqlite(p) => format!(
            "sqlite://{}",
            p.canonicalize().unwrap_or_else(|_| p.clone()).display()
        ),
        other => other.to_string(),
    };
    let report = source_store
        .copy_into(&dest_store, &source_name, batch, |table, n| {
            if last_report.elapsed() >= std::time::Duration::from_secs(5) {
                eprintln!("  {table}: {n} rows copied");
                last_report = std::time::Instant::now();
            }
        })
        .await
        .context("copying (run the same command again to resume)");
    source_store.close().await;
    dest_store.close().await;
    let report = report?;
    println!(
        "{:<18} {:>12} {:>12} {:>12}",
        "table", "source", "copied", "destination"
    );
    for t in &report {
        println!(
            "{:<18} {:>12} {:>12} {:>12}{}",
            t.table,
            t.source_rows,
            t.copied,
            t.destination_rows,
            if t.matches() { "" } else { "  MISMATCH" }
        );
    }
    let bad: Vec<&str> = report
        .iter()
        .filter(|t| !t.matches())
        .map(|t| t.table)
        .collect();
    if bad.is_empty() {
        eprintln!(
            "verified: every table holds the same number of rows on both sides ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        Ok(0)
    } else {
        eprintln!(
            "the counts differ for {}: the destination held other rows, or the source changed during the copy \
             (stop the daemon and run the command again)",
            bad.join(", ")
        );
        Ok(1)
    }
}

async fn rescore(config_path: &Path, since: Option<DateTime<Utc>>, batch: usize) -> Result<u8> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    let scorer = Scorer::with_engine(config.sentiment.engine);
    let report = crate::pipeline::rescore(&scorer, &store, since, batch.max(1), |r| {
        tracing::info!(
            rescored = r.rescored,
            relabelled = r.relabelled,
            "rescoring"
        );
    })
    .await
    .context("rescoring stored mentions")?;
    store.close().await;
    println!("{report} (scorer {})", scorer.version());
    Ok(0)
}

fn detect(input: &str) -> Result<u8> {
    let stdout = io::stdout();
    let out = io::BufWriter::new(stdout.lock());
    let params = crate::detect::DetectorParams::for_counts_only();
    let rows = if input == "-" {
        crate::detect::detect_csv(io::stdin().lock(), out, params)
    } else {
        let file = std::fs::File::open(input).with_context(|| format!("cannot open {input}"))?;
        crate::detect::detect_csv(io::BufReader::new(file), out, params)
    }
    .with_context(|| format!("reading {input}"))?;
    tracing::debug!(rows, "detect done");
    Ok(0)
}

async fn backtest(config_path: &Path, input: &str) -> Result<u8> {
    let config = load_config(config_path)?;
    let pipeline = Pipeline::new(
        &config.brands,
        Arc::new(Scorer::with_engine(config.sentiment.engine)),
    );
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(io::BufReader::new(io::stdin()))
    } else {
        Box::new(io::BufReader::new(
            std::fs::File::open(input).with_context(|| format!("cannot open {input}"))?,
        ))
    };
    let mut mentions = Vec::new();
    let mut rejected = 0u64;
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {input}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match crate::mention::Mention::from_json_line(&line) {
            Ok(m) => {
                if let crate::pipeline::Processed::Matched(sm) = pipeline.process(m) {
                    mentions.push(*sm);
                }
            }
            Err(e) => {
                rejected += 1;
                eprintln!("line {}: rejected: {e}", i + 1);
            }
        }
    }
    let alerts = crate::alerts::backtest(&config, &mentions);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for a in &alerts {
        serde_json::to_writer(&mut out, a)?;
        writeln!(out)?;
    }
    out.flush()?;
    eprintln!(
        "{} mentions matched, {} alert(s)",
        mentions.len(),
        alerts.len()
    );
    Ok(if rejected > 0 { EXIT_REJECTED } else { 0 })
}

async fn silence(config_path: &Path, args: SilenceArgs) -> Result<u8> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    let now = Utc::now();
    if let Some(id) = args.remove {
        let removed = store.remove_silence(id).await?;
        store.close().await;
        if !removed {
            bail!("no silence with id {id} (see mentiond silence --list)");
        }
        println!("silence {id} removed");
        return Ok(0);
    }
    if args.list {
        let list = store.silences(now).await?;
        store.close().await;
        if list.is_empty() {
            println!("no silence in force");
        }
        for s in list {
            println!(
                "{:>4}  {:<20} {} .. {}  {}",
                s.id, s.brand, s.starts_at, s.ends_at, s.reason
            );
        }
        return Ok(0);
    }
    let brand = args.brand.unwrap_or_default();
    let brand = if brand == "*" {
        brand
    } else {
        match config
            .brands
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(&brand))
        {
            Some(b) => b.name.clone(),
            None => bail!("no brand named {brand:?} in the configuration"),
        }
    };
    let until = match (args.duration, args.until) {
        (Some(d), _) => now + crate::sources::retry::chrono_dur(d),
        (None, Some(t)) => t,
        (None, None) => bail!("say how long: --for 2h or --until 2026-03-01T18:00:00Z"),
    };
    if until <= now {
        bail!("the silence would end before it starts");
    }
    let id = store
        .add_silence(&brand, now, until, &args.reason, now)
        .await?;
    store.close().await;
    println!(
        "silence {id}: no alert e-mail for {brand} until {}",
        crate::mention::format_time(&until)
    );
    Ok(0)
}

/// A time for `digest --at`: RFC 3339, or a local date and time in the digest's time zone.
fn parse_local_time(s: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    let Some(naive) = naive else {
        bail!(
            "{s:?} is neither RFC 3339 (2026-11-24T08:00:00+01:00) nor a local time (2026-11-24T08:00, 2026-11-24)"
        );
    };
    naive
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!(
                "{s} does not exist in {} (a daylight-saving gap)",
                tz.name()
            )
        })
}

async fn digest(config_path: &Path, args: DigestArgs) -> Result<u8> {
    let config = Arc::new(load_config(config_path)?);
    if config.digests.is_empty() {
        bail!(
            "no digest configured in {}: add a [[digests]] table",
            config.file.display()
        );
    }
    let store = Arc::new(open_store(&config).await?);
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let runner = crate::digest::DigestRunner::new(store.clone(), config.clone(), clock.clone());
    let now = Utc::now();
    if args.list {
        let runs = store.digest_runs(1000).await?;
        for d in &config.digests {
            let tz = d.timezone();
            let local = |t: DateTime<Utc>| {
                t.with_timezone(&tz)
                    .format("%a %Y-%m-%d %H:%M %Z")
                    .to_string()
            };
            println!(
                "{}: {:?} in {} ({}), to {}; brands {}",
                d.name,
                d.schedule.expression(),
                tz.name(),
                d.language.code(),
                d.to.join(", "),
                d.brands.join(", ")
            );
            let next: Vec<String> = d.schedule.upcoming(now, 3).into_iter().map(local).collect();
            println!("  next: {}", next.join("; "));
            match runs.iter().find(|r| r.name == d.name) {
                Some(r) => println!(
                    "  last: {} ({}), {}{}{}",
                    r.scheduled_at,
                    r.trigger,
                    r.state,
                    r.email_state
                        .as_deref()
                        .map(|s| format!(", e-mail {s}"))
                        .unwrap_or_default(),
                    r.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                ),
                None => println!("  last: never"),
            }
        }
        store.close().await;
        return Ok(0);
    }
    let name = args.name.as_deref().unwrap_or_default();
    let Some(digest) = runner.digest(name).cloned() else {
        let names: Vec<&str> = config.digests.iter().map(|d| d.name.as_str()).collect();
        bail!("no digest named {name:?}; configured: {}", names.join(", "));
    };
    if let Some(file) = &args.preview {
        let end = match &args.at {
            Some(at) => parse_local_time(at, digest.timezone())?,
            None => now,
        };
        let report = runner.report(&digest, end).await?;
        let rendered = crate::notify::digest::render(&report);
        std::fs::write(file, rendered.html_with_data_images())
            .with_context(|| format!("writing {}", file.display()))?;
        print!("{}", rendered.text);
        eprintln!(
            "preview of digest {:?} ({} mention(s), {} alert(s)) written to {}; subject: {}",
            digest.name,
            report.mentions(),
            report.alerts.len(),
            file.display(),
            rendered.subject
        );
        store.close().await;
        return Ok(0);
    }
    // --send
    let outcome = runner.queue_now(&digest).await?;
    let (message, messages) = match outcome {
        Some(crate::digest::RunOutcome::Queued {
            message, messages, ..
        }) => (message, messages),
        Some(_) => {
            store.close().await;
            eprintln!(
                "digest {:?}: nothing to report since its last run (skip_empty): no e-mail sent",
                digest.name
            );
            return Ok(0);
        }
        None => {
            store.close().await;
            bail!("the digest could not be composed (see the log)");
        }
    };
    let mailer =
        crate::notify::Mailer::from_config(&config.email).context("setting up e-mail delivery")?;
    let sender = crate::notify::Sender::new(store.clone(), mailer, clock)
        .owned_by("cli")
        .with_channels(&config.channels);
    // The chat channels' summaries first; the e-mail's outcome decides the exit status.
    for &other in messages.iter().filter(|&&m| m != message) {
        let r = sender.send_one(other).await?;
        if let Some(m) = store.message(other).await? {
            let channel = m.channel.as_deref().unwrap_or("e-mail");
            if r.sent == 1 {
                eprintln!("digest {:?} posted to channel {channel}", digest.name);
            } else {
                eprintln!(
                    "digest {:?} not posted to channel {channel}: {}",
                    digest.name,
                    m.last_error.unwrap_or_default()
                );
            }
        }
    }
    let report = sender.send_one(message).await?;
    let msg = store.message(message).await?;
    store.close().await;
    let channel = msg.as_ref().and_then(|m| m.channel.clone());
    if report.sent == 1 {
        match channel {
            Some(c) => eprintln!("digest {:?} posted to channel {c}", digest.name),
            None => eprintln!("digest {:?} sent to {}", digest.name, digest.to.join(", ")),
        }
        return Ok(0);
    }
    let error = msg.and_then(|m| m.last_error).unwrap_or_default();
    if report.retrying == 1 {
        eprintln!(
            "digest {:?} not delivered yet ({error}); it stays in the outbox and `mentiond run` retries it",
            digest.name
        );
    } else {
        eprintln!("digest {:?} not delivered: {error}", digest.name);
    }
    Ok(1)
}

async fn backup(config_path: &Path, from: Option<&Path>, to: &Path, force: bool) -> Result<u8> {
    let (store, name) = match from {
        Some(db) => {
            if !db.exists() {
                bail!("no database at {}", db.display());
            }
            // Read-only: a backup never migrates or locks the database it copies.
            let store = Store::open_read_only(db)
                .await
                .with_context(|| format!("opening {}", db.display()))?;
            (store, format!("sqlite://{}", db.display()))
        }
        None => {
            let config = load_config(config_path)?;
            let crate::config::DatabaseLocation::Sqlite(db) = &config.storage.database else {
                bail!(
                    "`mentiond backup` copies SQLite databases; back up {} with pg_dump",
                    config.storage.database
                );
            };
            if !db.exists() {
                bail!("no database at {} yet", db.display());
            }
            let store = Store::open_read_only(db)
                .await
                .with_context(|| format!("opening {}", config.storage.database))?;
            (store, config.storage.database.to_string())
        }
    };
    let started = std::time::Instant::now();
    let result = store.backup_to(to, force).await;
    store.close().await;
    let size = result.with_context(|| format!("backing up {name}"))?;
    eprintln!(
        "backup of {name} written to {} ({:.1} MB in {:.1} s)",
        to.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

async fn demo(dir: &Path, quick: bool) -> Result<u8> {
    let shutdown = tokio_util::sync::CancellationToken::new();
    crate::daemon::cancel_on_signals(shutdown.clone())?;
    let pace = if quick {
        crate::demo::Pace::quick()
    } else {
        crate::demo::Pace::normal()
    };
    let report = crate::demo::run(dir, pace, shutdown).await?;
    print!("{}", crate::demo::summary(&report));
    Ok(0)
}
