//! Did we answer? Response rate and first-response time of a brand's mentions (issue 17).
//!
//! A mention is answered when one of the brand's own accounts (its `handles`) posted a reply
//! to it on the same platform (`reply_to` = the mention's id) after it; the first such reply
//! gives the first-response time. Replies by anyone else are not responses. The figures are
//! pure functions of the rows the store returns, so they are tested on exact counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::ResponseRow;

/// The response figures of a set of mentions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub mentions: u64,
    pub answered: u64,
    /// answered / mentions; `None` without mentions.
    pub response_rate: Option<f64>,
    /// Median of the first-response times of the answered mentions, in seconds (the mean of
    /// the two middle ones for an even count); `None` when none was answered.
    pub median_first_response_s: Option<f64>,
    /// 90th percentile (nearest rank: the smallest time at or above 90 % of them).
    pub p90_first_response_s: Option<f64>,
}

/// `mentiond responses --format json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseReport {
    pub brand: String,
    pub since: String,
    pub until: String,
    #[serde(flatten)]
    pub overall: Stats,
    /// `negative`, `neutral`, `positive` always; `unscored` when some are.
    pub by_label: BTreeMap<String, Stats>,
    pub by_source: BTreeMap<String, Stats>,
    /// The oldest negative mentions still unanswered (`source:external_id`), oldest first.
    pub unanswered_negative: Vec<String>,
}

/// At most this many unanswered complaints are listed.
pub const UNANSWERED_LISTED: usize = 20;

fn stats<'a>(rows: impl Iterator<Item = &'a ResponseRow>) -> Stats {
    let mut mentions = 0u64;
    let mut delays: Vec<f64> = Vec::new();
    for r in rows {
        mentions += 1;
        if let Some(reply) = r.first_reply_at {
            delays.push((reply - r.created_at).num_milliseconds().max(0) as f64 / 1000.0);
        }
    }
    delays.sort_by(f64::total_cmp);
    let n = delays.len();
    let median = match n {
        0 => None,
        _ if n % 2 == 1 => Some(delays[n / 2]),
        _ => Some((delays[n / 2 - 1] + delays[n / 2]) / 2.0),
    };
    let p90 = (n > 0).then(|| delays[(n * 9).div_ceil(10).max(1) - 1]);
    Stats {
        mentions,
        answered: n as u64,
        response_rate: (mentions > 0).then(|| n as f64 / mentions as f64),
        median_first_response_s: median,
        p90_first_response_s: p90,
    }
}

/// The report of `brand`'s mentions in [since, until).
pub fn report(
    brand: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    rows: &[ResponseRow],
) -> ResponseReport {
    let mut by_label = BTreeMap::new();
    for label in ["negative", "neutral", "positive"] {
        by_label.insert(
            label.to_string(),
            stats(rows.iter().filter(|r| r.label.as_deref() == Some(label))),
        );
    }
    if rows.iter().any(|r| r.label.is_none()) {
        by_label.insert(
            "unscored".into(),
            stats(rows.iter().filter(|r| r.label.is_none())),
        );
    }
    let mut by_source = BTreeMap::new();
    let sources: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.source.as_str()).collect();
    for s in sources {
        by_source.insert(s.to_string(), stats(rows.iter().filter(|r| r.source == s)));
    }
    let mut unanswered: Vec<&ResponseRow> = rows
        .iter()
        .filter(|r| r.label.as_deref() == Some("negative") && r.first_reply_at.is_none())
        .collect();
    unanswered.sort_by_key(|r| r.created_at);
    ResponseReport {
        brand: brand.to_string(),
        since: crate::mention::format_time(&since),
        until: crate::mention::format_time(&until),
        overall: stats(rows.iter()),
        by_label,
        by_source,
        unanswered_negative: unanswered
            .iter()
            .take(UNANSWERED_LISTED)
            .map(|r| format!("{}:{}", r.source, r.external_id))
            .collect(),
    }
}

/// A duration for people: `42 s`, `17 min`, `3 h 05 min`, `2 d 4 h`.
pub fn human(secs: Option<f64>) -> String {
    let Some(s) = secs else {
        return "-".into();
    };
    let s = s.round() as i64;
    match s {
        ..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: &str, label: Option<&str>, at: i64, reply_after: Option<i64>) -> ResponseRow {
        let created_at = DateTime::from_timestamp(1_772_000_000 + at, 0).unwrap();
        ResponseRow {
            source: source.into(),
            external_id: format!("{source}-{at}"),
            url: None,
            text: String::new(),
            label: label.map(str::to_string),
            created_at,
            first_reply_at: reply_after.map(|d| created_at + chrono::Duration::seconds(d)),
        }
    }

    #[test]
    fn rates_medians_and_percentiles_are_exact() {
        let rows = vec![
            row("x", Some("negative"), 0, Some(60)),
            row("x", Some("negative"), 10, Some(600)),
            row("reddit", Some("negative"), 20, None),
            row("x", Some("positive"), 30, Some(120)),
            row("reddit", Some("neutral"), 40, None),
            row("x", Some("negative"), 5, None),
        ];
        let t = DateTime::from_timestamp(0, 0).unwrap();
        let r = report("Acme", t, t, &rows);
        assert_eq!((r.overall.mentions, r.overall.answered), (6, 3));
        assert_eq!(r.overall.response_rate, Some(0.5));
        assert_eq!(r.overall.median_first_response_s, Some(120.0));
        assert_eq!(r.overall.p90_first_response_s, Some(600.0));
        let neg = &r.by_label["negative"];
        assert_eq!((neg.mentions, neg.answered), (4, 2));
        assert_eq!(
            neg.median_first_response_s,
            Some(330.0),
            "mean of the middle two"
        );
        assert_eq!(r.by_label["neutral"].median_first_response_s, None);
        assert_eq!(r.by_source["reddit"].response_rate, Some(0.0));
        assert_eq!(
            r.unanswered_negative,
            ["x:x-5", "reddit:reddit-20"],
            "oldest first"
        );
        assert!(!r.by_label.contains_key("unscored"));
        assert_eq!(human(Some(3900.0)), "1 h 05 min");
    }
}
