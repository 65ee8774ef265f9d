//! Did we answer? Response rate and first-response time of a brand's mentions (issue 17).
//!
//! A mention is answered when one of the brand's own accounts (its `handles`) posted a reply
//! to it on the same platform (`reply_to` = the mention's id) after it; the first such reply
//! gives the first-response time. Replies by anyone else are not responses. The figures are
//! pure functions of the rows the store returns, so they are tested on exact counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::responses::BusinessHours;
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
    /// When set, first-response times count business time only.
    pub business_hours: Option<String>,
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

/// An instant of local date `d` at `t` in `tz`: the earlier of two in a repeated hour, the end
/// of the gap for a time that does not exist (clocks going forward).
fn local_instant(d: chrono::NaiveDate, t: chrono::NaiveTime, tz: chrono_tz::Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let mut at = d.and_time(t);
    for _ in 0..=180 {
        match tz.from_local_datetime(&at) {
            chrono::LocalResult::Single(x) => return x.to_utc(),
            chrono::LocalResult::Ambiguous(a, _) => return a.to_utc(),
            chrono::LocalResult::None => at += chrono::Duration::minutes(1),
        }
    }
    at.and_utc()
}

/// Seconds of [from, to) inside the business hours (each open day's range, in its zone's
/// local time, so a day when clocks change counts its real length).
pub fn business_seconds(from: DateTime<Utc>, to: DateTime<Utc>, hours: &BusinessHours) -> i64 {
    use chrono::Datelike;
    if to <= from {
        return 0;
    }
    let tz = hours.timezone;
    let mut day = from.with_timezone(&tz).date_naive() - chrono::Duration::days(1);
    let last = to.with_timezone(&tz).date_naive();
    let mut total = 0;
    while day <= last {
        if hours.days.contains(&day.weekday()) {
            let open = local_instant(day, hours.start, tz);
            let close = match hours.end {
                Some(end) => local_instant(day, end, tz),
                None => local_instant(day + chrono::Duration::days(1), chrono::NaiveTime::MIN, tz),
            };
            let (a, b) = (open.max(from), close.min(to));
            if b > a {
                total += (b - a).num_seconds();
            }
        }
        day += chrono::Duration::days(1);
    }
    total
}

/// How long a reply took: wall-clock time, or business time when hours are set.
fn delay_s(r: &ResponseRow, reply: DateTime<Utc>, hours: Option<&BusinessHours>) -> f64 {
    match hours {
        Some(h) => business_seconds(r.created_at, reply, h) as f64,
        None => (reply - r.created_at).num_milliseconds().max(0) as f64 / 1000.0,
    }
}

fn stats<'a>(rows: impl Iterator<Item = &'a ResponseRow>, hours: Option<&BusinessHours>) -> Stats {
    let mut mentions = 0u64;
    let mut delays: Vec<f64> = Vec::new();
    for r in rows {
        mentions += 1;
        if let Some(reply) = r.first_reply_at {
            delays.push(delay_s(r, reply, hours));
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
    hours: Option<&BusinessHours>,
) -> ResponseReport {
    let mut by_label = BTreeMap::new();
    for label in ["negative", "neutral", "positive"] {
        by_label.insert(
            label.to_string(),
            stats(
                rows.iter().filter(|r| r.label.as_deref() == Some(label)),
                hours,
            ),
        );
    }
    if rows.iter().any(|r| r.label.is_none()) {
        by_label.insert(
            "unscored".into(),
            stats(rows.iter().filter(|r| r.label.is_none()), hours),
        );
    }
    let mut by_source = BTreeMap::new();
    let sources: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.source.as_str()).collect();
    for s in sources {
        by_source.insert(
            s.to_string(),
            stats(rows.iter().filter(|r| r.source == s), hours),
        );
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
        business_hours: hours.map(|h| format!("{} {}", h.text, h.timezone.name())),
        overall: stats(rows.iter(), hours),
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
    human_in(secs, crate::config::Lang::En)
}

/// As [`human`], in `lang` (Italian days are `g`, giorni).
pub fn human_in(secs: Option<f64>, lang: crate::config::Lang) -> String {
    let Some(s) = secs else {
        return "-".into();
    };
    let s = s.round() as i64;
    match s {
        ..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        _ => format!(
            "{} {} {} h",
            s / 86_400,
            if lang == crate::config::Lang::It {
                "g"
            } else {
                "d"
            },
            (s % 86_400) / 3600
        ),
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
        let r = report("Acme", t, t, &rows, None);
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

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn business_time_skips_nights_weekends_and_counts_a_dst_day_as_it_is() {
        let rome = chrono_tz::Europe::Rome;
        let office =
            crate::config::responses::parse_business_hours("Mon-Fri 09:00-18:00", rome).unwrap();
        // Friday 17:30 to Monday 09:30 (Rome, winter): half an hour on each side.
        let s = business_seconds(
            utc("2026-03-06T16:30:00Z"),
            utc("2026-03-09T08:30:00Z"),
            &office,
        );
        assert_eq!(s, 3600);
        // Across the weekend clocks go forward (29 March): Friday 17:00 CET to Monday 10:00
        // CEST is still one hour plus one hour.
        let s = business_seconds(
            utc("2026-03-27T16:00:00Z"),
            utc("2026-03-30T08:00:00Z"),
            &office,
        );
        assert_eq!(s, 7200);
        // Within the day, outside hours: nothing; a whole day: nine hours.
        assert_eq!(
            business_seconds(
                utc("2026-03-09T18:00:00Z"),
                utc("2026-03-09T20:00:00Z"),
                &office
            ),
            0
        );
        assert_eq!(
            business_seconds(
                utc("2026-03-09T00:00:00Z"),
                utc("2026-03-10T00:00:00Z"),
                &office
            ),
            9 * 3600
        );
        // A Sunday night shift on the night clocks go forward lasts three hours, not four.
        let night =
            crate::config::responses::parse_business_hours("Sun 01:00-05:00", rome).unwrap();
        let s = business_seconds(
            utc("2026-03-28T22:00:00Z"),
            utc("2026-03-29T06:00:00Z"),
            &night,
        );
        assert_eq!(s, 3 * 3600);
        // And the one when they go back (25 October) five.
        let s = business_seconds(
            utc("2026-10-24T22:00:00Z"),
            utc("2026-10-25T06:00:00Z"),
            &night,
        );
        assert_eq!(s, 5 * 3600);
        assert!(
            crate::config::responses::parse_business_hours("Mon-Fri 18:00-09:00", rome).is_err()
        );
        assert!(
            crate::config::responses::parse_business_hours("Funday 09:00-18:00", rome).is_err()
        );
    }
}
