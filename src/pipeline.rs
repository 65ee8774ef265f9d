//! normalise -> match -> detect language -> score: the pure part of the pipeline, shared by
//! `ingest`, the daemon's sources and `backtest`. Storing is the caller's job.

use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::config::BrandConfig;
use crate::matcher::Matcher;
use crate::mention::{LangOrigin, Mention, MentionError, ScoredMention};
use crate::sentiment::{LanguageDetector, Scorer};
use crate::sources::Item;
use crate::store::{InsertOutcome, Store, StoreError};
use crate::text;

/// The result of running one mention through the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    Matched(Box<ScoredMention>),
    /// No brand matched (or every matching brand filtered it out by language).
    Unmatched,
}

pub struct Pipeline {
    matcher: Matcher,
    scorer: Arc<Scorer>,
    detector: LanguageDetector,
}

impl Pipeline {
    pub fn new(brands: &[BrandConfig], scorer: Arc<Scorer>) -> Pipeline {
        let detector = LanguageDetector::new(scorer.languages());
        Pipeline {
            matcher: Matcher::new(brands),
            scorer,
            detector,
        }
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    /// Whether the text of a raw post mentions any brand (used by sources to skip posts
    /// cheaply before full processing).
    pub fn mentions_any_brand(&self, raw_text: &str) -> bool {
        !self
            .matcher
            .candidates(&text::normalise(raw_text))
            .is_empty()
    }

    pub fn process(&self, mention: Mention) -> Processed {
        self.process_for(mention, &[])
    }

    /// A source's item: matched like any post, or attributed to the brands the source is
    /// dedicated to (exclusions and language filters still apply).
    pub fn process_item(&self, item: Item) -> Processed {
        self.process_for(item.mention, &item.brands)
    }

    fn process_for(&self, mut mention: Mention, assigned: &[String]) -> Processed {
        mention.text = text::normalise(&mention.text);
        // The brand's own account: a reply to a customer, kept apart to measure responses,
        // whether or not it names the brand.
        if let Some(brand) = self.matcher.owner_of(mention.author.as_deref()) {
            let brand = brand.to_string();
            return Processed::Matched(Box::new(ScoredMention {
                lang: mention.lang.clone(),
                lang_origin: mention.lang.as_ref().map(|_| LangOrigin::Post),
                mention,
                brands: vec![brand.clone()],
                sentiment: None,
                scorer_version: "own".into(),
                own_by: Some(brand),
            }));
        }
        let candidates = if assigned.is_empty() {
            self.matcher.candidates(&mention.text)
        } else {
            self.matcher.assigned(assigned, &mention.text)
        };
        if candidates.is_empty() {
            return Processed::Unmatched;
        }
        let (lang, origin) = match &mention.lang {
            Some(l) => (Some(l.clone()), Some(LangOrigin::Post)),
            None => match self.detector.detect(&mention.text) {
                Some(d) => (Some(d.lang.to_string()), Some(d.origin)),
                None => (None, None),
            },
        };
        let brands: Vec<String> = candidates
            .into_iter()
            .filter(|&i| self.matcher.accepts_language(i, lang.as_deref(), origin))
            .map(|i| self.matcher.brand_name(i).to_string())
            .collect();
        if brands.is_empty() {
            return Processed::Unmatched;
        }
        let sentiment = self.scorer.score(&mention.text, lang.as_deref());
        Processed::Matched(Box::new(ScoredMention {
            mention,
            brands,
            lang,
            lang_origin: origin,
            sentiment,
            scorer_version: self.scorer.version().to_string(),
            own_by: None,
        }))
    }
}

/// The longest JSONL line `ingest` reads: a post with all its fields is a few kilobytes, so a
/// megabyte is generous, and an endless line (`--input /dev/zero`) cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads one line (up to and including `\n`) into `buf`, keeping at most `cap` bytes: a longer
/// line is consumed to its end but not kept. Returns the bytes consumed and whether the line
/// was too long.
async fn read_line_capped<R: AsyncBufRead + Unpin>(
    input: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<(usize, bool)> {
    let (mut total, mut overlong) = (0usize, false);
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok((total, overlong));
        }
        let (len, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !overlong {
            if buf.len() + len > cap {
                overlong = true;
                buf.clear();
                buf.shrink_to_fit();
            } else {
                buf.extend_from_slice(&available[..len]);
            }
        }
        input.consume(len);
        total += len;
        if done {
            return Ok((total, overlong));
        }
    }
}

/// Totals printed by `mentiond ingest`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestReport {
    /// Non-blank lines read.
    pub read: u64,
    pub stored: u64,
    /// Posts by a brand's own accounts (kept for response figures, not mentions).
    pub own: u64,
    pub duplicates: u64,
    pub unmatched: u64,
    /// Lines that are not a valid mention (reported with their line number).
    pub rejected: u64,
}

impl std::fmt::Display for IngestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "read {}, stored {}, duplicates {}, unmatched {}, rejected {}",
            self.read, self.stored, self.duplicates, self.unmatched, self.rejected
        )?;
        if self.own > 0 {
            write!(f, ", own posts {}", self.own)?;
        }
        Ok(())
    }
}

/// Mentions are stored in transactions of this many posts.
pub const INGEST_BATCH: usize = 2000;

/// Reads JSONL mentions, runs them through the pipeline and stores them in batches. A
/// malformed line is handed to `on_reject` with its 1-based line number and skipped; the rest
/// is kept. Lines longer than `max_line` bytes (`ingest`'s default: [`MAX_LINE_BYTES`]) are
/// skipped without being held in memory, and mentions dated before 2000 or more than a day
/// ahead of `now` are refused.
///
/// Batches are stored by a task of their own while the next lines are read and scored, so
/// scoring and SQLite work on two cores at once; a batch is stored whole or not at all, as
/// before.
pub async fn ingest_jsonl<R, F>(
    pipeline: &Pipeline,
    store: &Arc<Store>,
    input: R,
    max_line: usize,
    on_reject: F,
) -> Result<IngestReport, IngestError>
where
    R: AsyncBufRead + Unpin,
    F: FnMut(u64, &str),
{
    // Two batches in flight at most: memory stays bounded whatever the input's size.
    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Vec<ScoredMention>>(2);
    let writer_store = store.clone();
    let writer = tokio::spawn(async move {
        let mut total = InsertOutcome::default();
        while let Some(batch) = incoming.recv().await {
            total += writer_store.insert_batch(&batch).await?;
        }
        Ok::<_, StoreError>(total)
    });
    let read = read_and_score(pipeline, input, max_line, on_reject, batches).await;
    // The writer ends once the reader has dropped its sender: what was read is stored (or
    // the store's error is returned) before a read error is.
    let written = writer
        .await
        .expect("the ingest writer task does not panic")?;
    let mut report = read?;
    add(&mut report, written);
    Ok(report)
}

async fn read_and_score<R, F>(
    pipeline: &Pipeline,
    mut input: R,
    max_line: usize,
    mut on_reject: F,
    batches: tokio::sync::mpsc::Sender<Vec<ScoredMention>>,
) -> Result<IngestReport, IngestError>
where
    R: AsyncBufRead + Unpin,
    F: FnMut(u64, &str),
{
    let mut report = IngestReport::default();
    let mut batch: Vec<ScoredMention> = Vec::with_capacity(INGEST_BATCH);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let (n, overlong) = read_line_capped(&mut input, &mut buf, max_line)
            .await
            .map_err(IngestError::Read)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if overlong {
            report.read += 1;
            report.rejected += 1;
            on_reject(
                line_no,
                &format!("line longer than {max_line} bytes ({n} bytes), skipped"),
            );
            continue;
        }
        let line = match std::str::from_utf8(&buf) {
            Ok(l) => l
                .trim_end_matches(['\n', '\r'])
                .trim_start_matches('\u{feff}'),
            Err(e) => {
                report.read += 1;
                report.rejected += 1;
                on_reject(line_no, &format!("not valid UTF-8: {e}"));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        report.read += 1;
        let mention = match Mention::from_json_line(line).and_then(|m| {
            crate::mention::check_created_at(&m.created_at, chrono::Utc::now())
                .map(|()| m)
                .map_err(MentionError::Time)
        }) {
            Ok(m) => m,
            Err(e) => {
                report.rejected += 1;
                on_reject(line_no, &e.to_string());
                continue;
            }
        };
        match pipeline.process(mention) {
            Processed::Matched(sm) => batch.push(*sm),
            Processed::Unmatched => report.unmatched += 1,
        }
        if batch.len() >= INGEST_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(INGEST_BATCH));
            // A closed channel means the writer failed: its error is the answer.
            if batches.send(full).await.is_err() {
                return Ok(report);
            }
        }
    }
    if !batch.is_empty() {
        let _ = batches.send(batch).await;
    }
    Ok(report)
}

fn add(report: &mut IngestReport, outcome: InsertOutcome) {
    report.stored += outcome.stored;
    report.own += outcome.own;
    report.duplicates += outcome.duplicates;
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read input: {0}")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `mentiond rescore` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RescoreReport {
    pub rescored: u64,
    /// Mentions whose label changed (e.g. neutral to negative).
    pub relabelled: u64,
}

impl std::fmt::Display for RescoreReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rescored {}, label changed {}",
            self.rescored, self.relabelled
        )
    }
}

/// Recomputes the scores of every stored mention scored by another engine version, in
/// batches of `batch`, each committed on its own: an interrupted run resumes where it stopped
/// (rescored rows carry the new version and are not selected again).
pub async fn rescore(
    scorer: &Scorer,
    store: &Store,
    since: Option<chrono::DateTime<chrono::Utc>>,
    batch: usize,
    mut progress: impl FnMut(&RescoreReport),
) -> Result<RescoreReport, StoreError> {
    let mut report = RescoreReport::default();
    let mut after = 0i64;
    loop {
        let rows = store
            .mentions_to_rescore(scorer.version(), since, after, batch as i64)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let mut scores = Vec::with_capacity(rows.len());
        for row in &rows {
            let s = scorer.score(&row.text, row.lang.as_deref());
            if s.map(|s| s.label.as_str()) != row.label.as_deref() {
                report.relabelled += 1;
            }
            scores.push((row.id, s));
        }
        store.update_scores(scorer.version(), &scores).await?;
        report.rescored += rows.len() as u64;
        progress(&report);
    }
    Ok(report)
}
