//! `mentiond demo`: the whole product working offline in about a minute.
//!
//! A simulated social network (see [`crate::simulator`]) serves a bundled story
//! (`data/demo/story.toml`) about two fictional brands: days of ordinary chatter already on the
//! platforms, then the next stretch of the story replayed fast: a product launch by the Italian
//! brand (a burst of happy posts, which must not alert) and a complaint storm about the English
//! brand (which must). The real daemon polls the simulator's Mastodon, Bluesky, Reddit and RSS
//! endpoints, stores into SQLite under the demo folder, and writes its e-mails as files; at the
//! end the demo writes a digest and prints where everything is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::simulator::{Platform, SimPost, Simulator, World};

/// The bundled story.
pub const STORY_TOML: &str = include_str!("../data/demo/story.toml");

/// Marks a folder as the demo's, so a second run may wipe it (and nothing else).
const MARKER: &str = ".mentiond-demo";

#[derive(Debug, Clone, Deserialize)]
struct BrandStory {
    lang: String,
    hashtag: String,
    neutral: Vec<String>,
    positive: Vec<String>,
    negative: Vec<String>,
    #[serde(default)]
    storm: Vec<String>,
    #[serde(default)]
    launch: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Story {
    acme: BrandStory,
    aurora: BrandStory,
}

/// How the story is paced.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Days of chatter already on the platforms when the demo starts.
    pub history_days: i64,
    /// When the launch burst starts and ends, after the start.
    pub launch: (Duration, Duration),
    /// When the complaint storm starts and ends.
    pub storm: (Duration, Duration),
    /// When the story is over.
    pub end: Duration,
    /// Poll interval of every simulated platform.
    pub poll: Duration,
}

impl Pace {
    /// About a minute.
    pub fn normal() -> Pace {
        Pace {
            history_days: 3,
            launch: (Duration::from_secs(10), Duration::from_secs(25)),
            storm: (Duration::from_secs(30), Duration::from_secs(45)),
            end: Duration::from_secs(55),
            poll: Duration::from_secs(3),
        }
    }

    /// For tests: the same story in about twenty seconds.
    pub fn quick() -> Pace {
        Pace {
            history_days: 2,
            launch: (Duration::from_secs(3), Duration::from_secs(7)),
            storm: (Duration::from_secs(9), Duration::from_secs(13)),
            end: Duration::from_secs(18),
            poll: Duration::from_secs(1),
        }
    }
}

/// What the demo produced, for the summary and the tests.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub dir: PathBuf,
    /// Subjects of the e-mails written, oldest first.
    pub subjects: Vec<String>,
    /// (brand, source) -> mentions stored.
    pub stored: BTreeMap<(String, String), i64>,
    pub alert_emails: Vec<PathBuf>,
    pub digest_emails: Vec<PathBuf>,
    pub digest_text: String,
    pub stopped_early: bool,
}

fn secs(d: Duration) -> chrono::Duration {
    chrono::Duration::milliseconds(d.as_millis() as i64)
}

/// The posts of the story, with times relative to `start`.
fn story_posts(story: &Story, start: DateTime<Utc>, pace: &Pace) -> Vec<SimPost> {
    let mut rng = fastrand::Rng::with_seed(20261124);
    let mut posts = Vec::new();
    let mut add = |rng: &mut fastrand::Rng,
                   b: &BrandStory,
                   platform: Platform,
                   at: DateTime<Utc>,
                   text: &str,
                   feed: Option<&str>,
                   n: usize| {
        let text = match platform {
            // Mastodon is searched by hashtag, so posts there carry one; on Bluesky some do.
            Platform::Mastodon => format!("{text} {}", b.hashtag),
            Platform::Bluesky if rng.bool() => format!("{text} {}", b.hashtag),
            _ => text.to_string(),
        };
        posts.push(SimPost {
            platform,
            created_at: at,
            author: format!("{}{}", author_name(rng, &b.lang), n),
            followers: rng.u64(20..5000),
            text,
            lang: Some(b.lang.clone()),
            likes: rng.u64(0..40),
            reposts: rng.u64(0..8),
            replies: rng.u64(0..6),
            feed: feed.map(str::to_string),
            seq: 0,
        });
    };
    let pick = |rng: &mut fastrand::Rng, list: &[String]| -> String {
        list[rng.usize(0..list.len())].clone()
    };
    let platform_for = |rng: &mut fastrand::Rng, b: &BrandStory| -> (Platform, Option<String>) {
        let r = rng.f64();
        let feed = if b.lang == "it" {
            "aurora-recensioni"
        } else {
            "acme-reviews"
        };
        match r {
            r if r < 0.45 => (Platform::Mastodon, None),
            r if r < 0.75 => (Platform::Bluesky, None),
            r if r < 0.9 => (Platform::Reddit, None),
            _ => (Platform::Rss, Some(feed.to_string())),
        }
    };
    let mut n = 0;
    // Chatter: a few posts an hour, more in the day than at night, 70 % neutral or positive.
    for (b, per_hour) in [(&story.acme, 5.0), (&story.aurora, 4.0)] {
        let from = start - chrono::Duration::days(pace.history_days);
        let mut t = from;
        while t < start + secs(pace.end) {
            let hour = t.format("%H").to_string().parse::<f64>().unwrap_or(12.0);
            let day = 0.35 + 0.65 * (std::f64::consts::PI * (hour - 3.0) / 24.0).sin().powi(2);
            let rate = per_hour * day * 2.0;
            let live = t >= start;
            // The live stretch is the story replayed fast: a post every couple of seconds.
            let gap = if live {
                chrono::Duration::milliseconds(rng.i64(1500..3500))
            } else {
                chrono::Duration::seconds((3600.0 / rate * (0.5 + rng.f64())) as i64)
            };
            t += gap;
            let r = rng.f64();
            let text = if r < 0.55 {
                pick(&mut rng, &b.neutral)
            } else if r < 0.9 {
                pick(&mut rng, &b.positive)
            } else {
                pick(&mut rng, &b.negative)
            };
            let (platform, feed) = platform_for(&mut rng, b);
            n += 1;
            add(&mut rng, b, platform, t, &text, feed.as_deref(), n);
        }
    }
    // The launch (Caffè Aurora's new blend: happy posts) and the storm (Acme Coffee
    // double-charges its customers and loses their parcels), each spread evenly over its span.
    for (b, texts, (from, to), count) in [
        (&story.aurora, &story.aurora.launch, pace.launch, 30),
        (&story.acme, &story.acme.storm, pace.storm, 36),
    ] {
        let (a, z) = (start + secs(from), start + secs(to));
        for i in 0..count {
            let at = a + (z - a) * i / count;
            let (platform, feed) = platform_for(&mut rng, b);
            let text = pick(&mut rng, texts);
            n += 1;
            add(&mut rng, b, platform, at, &text, feed.as_deref(), n);
        }
    }
    posts
}

fn author_name(rng: &mut fastrand::Rng, lang: &str) -> String {
    const EN: &[&str] = &[
        "sam", "alex", "jo", "morgan", "chris", "pat", "robin", "taylor",
    ];
    const IT: &[&str] = &[
        "giulia", "marco", "chiara", "luca", "sara", "paolo", "elena", "davide",
    ];
    let list = if lang == "it" { IT } else { EN };
    list[rng.usize(0..list.len())].to_string()
}

fn demo_config(sim: &str, pace: &Pace) -> String {
    let poll = format!("{}ms", pace.poll.as_millis());
    format!(
        r##"# Written by `mentiond demo`: the daemon's configuration against the simulated network.
# Reuse it: mentiond --config mentiond-demo/config.toml query --brand "Acme Coffee"

[storage]
url = "sqlite://mentiond.db"

[[brands]]
name = "Acme Coffee"
keywords = ["acme coffee"]
hashtags = ["#acmecoffee"]

[[brands]]
name = "Caffè Aurora"
keywords = ["caffè aurora"]
hashtags = ["#caffeaurora"]

[email]
transport = "file"
dir = "outbox"
from = "mentiond demo <demo@mentiond.invalid>"
to = ["marketing@example.org"]

[sources]
backfill = "{backfill}h"
max_pages_per_poll = 50

[sources.mastodon]
base_url = "{sim}"
interval = "{poll}"
search = false
notifications = false

[sources.bluesky]
service = "{sim}"
identifier = "demo.bsky.social"
app_password_file = "bluesky-app-password"
interval = "{poll}"

[sources.reddit]
www_url = "{sim}"
api_url = "{sim}"
public_interval = "{poll}"

[[sources.rss]]
name = "acme-reviews"
url = "{sim}/feeds/acme-reviews"
brands = ["Acme Coffee"]
interval = "{poll}"

[[sources.rss]]
name = "aurora-recensioni"
url = "{sim}/feeds/aurora-recensioni"
brands = ["Caffè Aurora"]
interval = "{poll}"

[alerts]
timezone = "Europe/Rome"

[alerts.brands."Caffè Aurora"]
language = "it"

# The demo writes this digest itself at the end of the story (for the last hour); a running
# daemon would send it every morning.
[[digests]]
name = "demo"
schedule = "0 0 8 * * *"
timezone = "Europe/Rome"
language = "en"
"##,
        backfill = pace.history_days * 24 + 2,
    )
}

/// Prepares the demo folder: removes a previous demo's, refuses to touch anything else.
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !is_demo && !empty {
            bail!(
                "{} exists and is not a mentiond demo folder: choose another with --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "a folder written by `mentiond demo`\n")?;
    Ok(())
}

fn emails(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("outbox"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    name.ends_with(".eml") && name.contains(&format!("-{kind}-"))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn stored(store: &crate::store::Store) -> BTreeMap<(String, String), i64> {
    store
        .mentions_per_brand_and_source()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(b, s, n)| ((b, s), n))
        .collect()
}

fn say(start: Instant, what: &str) {
    println!("[{:>3}s] {what}", start.elapsed().as_secs());
}

/// Runs the demo in `dir` and prints what happens; `shutdown` (Ctrl-C) ends it early.
pub async fn run(dir: &Path, pace: Pace, shutdown: CancellationToken) -> Result<DemoReport> {
    let story: Story = toml::from_str(STORY_TOML).context("the bundled story")?;
    fresh_dir(dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let world = World::new(clock.clone());
    let start_time = clock.now();
    world.add_posts(story_posts(&story, start_time, &pace));
    let sim = Simulator::start(world.clone())
        .await
        .context("starting the simulated network on 127.0.0.1")?;
    std::fs::write(dir.join("config.toml"), demo_config(&sim.url(), &pace))?;
    std::fs::write(dir.join("bluesky-app-password"), "demo-app-password\n")?;
    let config_path = dir.join("config.toml");
    let config = Config::load(&config_path)?;

    println!(
        "mentiond demo: a simulated social network on {} (Mastodon, Bluesky, Reddit, RSS feeds),",
        sim.url()
    );
    println!(
        "two fictional brands: Acme Coffee (English) and Caffè Aurora (Italian). No account, no key, no network."
    );
    println!(
        "Working folder: {} (config.toml, mentiond.db, outbox/)\n",
        dir.display()
    );
    let started = Instant::now();
    say(
        started,
        &format!(
            "{} days of ordinary chatter are on the platforms; mentiond starts polling them",
            pace.history_days
        ),
    );

    let daemon = crate::daemon::Daemon::start(config.clone(), config_path.clone()).await?;
    let store = daemon.store.clone();
    let daemon = daemon.spawn();

    let mut report = DemoReport {
        dir: dir.to_path_buf(),
        ..DemoReport::default()
    };
    let mut told = (false, false, false);
    let mut last_count = 0i64;
    let mut last_said = Duration::ZERO;
    loop {
        let elapsed = started.elapsed();
        let count: i64 = stored(&store).await.values().sum();
        if count != last_count && (last_count == 0 || elapsed >= last_said + Duration::from_secs(5))
        {
            say(started, &format!("{count} mentions stored"));
            last_count = count;
            last_said = elapsed;
        }
        if !told.0 && elapsed >= pace.launch.0 {
            say(
                started,
                "Caffè Aurora launches its Aurora Oro blend: a burst of happy posts (this must not alert)",
            );
            told.0 = true;
        }
        if !told.1 && elapsed >= pace.storm.0 {
            say(
                started,
                "Acme Coffee double-charges customers and loses parcels: the complaints pour in",
            );
            told.1 = true;
        }
        let alerts = emails(dir, "alert");
        if !told.2 && !alerts.is_empty() {
            say(
                started,
                &format!("ALERT e-mail written: {}", alerts[0].display()),
            );
            told.2 = true;
        }
        // The story is over, and the storm has had its chance to alert.
        // (A slow machine may need a while to score and store the storm.)
        if elapsed >= pace.end && (told.2 || elapsed >= pace.end + Duration::from_secs(60)) {
            break;
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                report.stopped_early = true;
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }

    if !report.stopped_early {
        say(started, "the story is over; writing the digest");
        let config = Arc::new(config);
        let runner = crate::digest::DigestRunner::new(store.clone(), config.clone(), clock.clone());
        let digest = config.digests[0].clone();
        // The story's digest: the last hour, whatever the time of day.
        let now = clock.now();
        let period = crate::digest::Period {
            start: now - chrono::Duration::hours(1),
            end: now,
        };
        let (outcome, digest_report) = runner.queue_period(&digest, period).await?;
        if let Some(crate::digest::RunOutcome::Queued { message, .. }) = outcome {
            let mailer = crate::notify::Mailer::from_config(&config.email)?;
            let sender =
                crate::notify::Sender::new(store.clone(), mailer, clock.clone()).owned_by("cli");
            sender.send_one(message).await?;
            report.digest_text = crate::notify::digest::render(&digest_report).text;
        }
    } else {
        println!("\nstopped early (Ctrl-C)");
    }
    report.stored = stored(&store).await;
    report.subjects = store
        .messages(None)
        .await
        .map(|m| m.into_iter().map(|m| m.subject).collect())
        .unwrap_or_default();
    daemon.shutdown();
    match tokio::time::timeout(Duration::from_secs(30), daemon.join()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.context("the daemon")),
        Err(_) => bail!("the daemon did not stop in time"),
    }
    sim.stop();
    report.alert_emails = emails(dir, "alert");
    report.digest_emails = emails(dir, "digest");
    Ok(report)
}

/// The summary printed at the end.
pub fn summary(report: &DemoReport) -> String {
    let mut out = String::new();
    let dir = report.dir.display();
    out.push_str("\nMentions stored (brand, source):\n");
    for ((brand, source), n) in &report.stored {
        out.push_str(&format!("  {brand:<14} {source:<11} {n:>5}\n"));
    }
    let total: i64 = report.stored.values().sum();
    out.push_str(&format!("  {:<26} {total:>5}\n", "total"));
    out.push('\n');
    match report.alert_emails.as_slice() {
        [] => out.push_str("No alert e-mail was written.\n"),
        list => {
            let alert_subjects: Vec<&String> = report
                .subjects
                .iter()
                .filter(|s| s.contains("Negative spike") || s.contains("Picco"))
                .collect();
            for (i, eml) in list.iter().enumerate() {
                let subject = alert_subjects.get(i).map(|s| s.as_str()).unwrap_or("");
                out.push_str(&format!(
                    "Alert e-mail: {}\n  {}\n  open in a browser: {}\n",
                    subject,
                    eml.display(),
                    eml.with_extension("html").display()
                ));
            }
        }
    }
    if let Some(eml) = report.digest_emails.first() {
        out.push_str(&format!(
            "\nDigest e-mail: {}\n  open in a browser: {}\n",
            eml.display(),
            eml.with_extension("html").display()
        ));
        let preview: Vec<&str> = report.digest_text.lines().take(14).collect();
        for l in preview {
            out.push_str(&format!("  | {l}\n"));
        }
        out.push_str("  | ...\n");
    }
    out.push_str(&format!(
        "\nTry next (from the source tree, put `cargo run --release --` in place of `mentiond`):\n\
         \x20 mentiond --config {dir}/config.toml query --brand \"Acme Coffee\" --label negative --limit 5\n\
         \x20 mentiond --config {dir}/config.toml query --search 'refund OR parcel' --format csv\n\
         \x20 mentiond --config {dir}/config.toml digest --name demo --preview digest.html\n"
    ));
    out
}
