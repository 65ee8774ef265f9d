//! Analysts' series: mentions per hour, day or week, in any time zone, with empty buckets
//! included, from the store's counts per quarter hour ([`crate::store::QuarterCounts`]).
//!
//! A bucket is a span of real time labelled by its start in the chosen zone: a day is local
//! midnight to local midnight (23 or 25 hours when the clocks change), a week starts on Monday,
//! and an hour repeated when the clocks go back is two buckets with two offsets.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::store::QuarterCounts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Granularity {
    Hour,
    Day,
    Week,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Mentions.
    Count,
    /// Net sentiment: (positive − negative) / scored mentions × 100, from −100 to 100.
    Net,
    /// Negative mentions / scored mentions, from 0 to 1.
    #[value(name = "negative_share")]
    NegativeShare,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Count => "count",
            Metric::Net => "net",
            Metric::NegativeShare => "negative_share",
        }
    }
}

/// One bucket of a series. `value` is `None` where the metric is undefined (a share of no
/// scored mention).
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub start: DateTime<Tz>,
    pub value: Option<f64>,
}

impl Bucket {
    /// The start as RFC 3339: `Z` in UTC, the zone's offset elsewhere.
    pub fn label(&self) -> String {
        self.start
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// The most buckets a series may have (an hourly series over about 11 years).
pub const MAX_BUCKETS: usize = 100_000;

/// The local midnight starting `date` (or the first instant of that day where midnight does
/// not exist because the clocks moved forward at midnight).
fn local_day_start(tz: Tz, date: NaiveDate) -> DateTime<Tz> {
    let mut t = date.and_hms_opt(0, 0, 0).expect("midnight");
    for _ in 0..4 {
        if let Some(s) = tz.from_local_datetime(&t).earliest() {
            return s;
        }
        t += Duration::minutes(30);
    }
    tz.from_utc_datetime(&t)
}

/// The start of the bucket holding `t`.
pub fn bucket_start(g: Granularity, tz: Tz, t: DateTime<Utc>) -> DateTime<Tz> {
    let local = t.with_timezone(&tz);
    match g {
        Granularity::Hour => {
            local
                - Duration::minutes(local.minute() as i64)
                - Duration::seconds(local.second() as i64)
                - Duration::nanoseconds(local.nanosecond() as i64)
        }
        Granularity::Day => local_day_start(tz, local.date_naive()),
        Granularity::Week => {
            let monday =
                local.date_naive() - Duration::days(local.weekday().num_days_from_monday() as i64);
            local_day_start(tz, monday)
        }
    }
}

/// The start of the bucket after the one starting at `start`.
fn next_start(g: Granularity, tz: Tz, start: DateTime<Tz>) -> DateTime<Tz> {
    match g {
        Granularity::Hour => start + Duration::hours(1),
        Granularity::Day => local_day_start(tz, start.date_naive() + Duration::days(1)),
        Granularity::Week => local_day_start(tz, start.date_naive() + Duration::days(7)),
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    total: u64,
    positive: u64,
    neutral: u64,
    negative: u64,
}

impl Sums {
    fn value(&self, metric: Metric) -> Option<f64> {
        let scored = self.positive + self.neutral + self.negative;
        match metric {
            Metric::Count => Some(self.total as f64),
            Metric::Net => (scored > 0)
                .then(|| (self.positive as f64 - self.negative as f64) / scored as f64 * 100.0),
            Metric::NegativeShare => (scored > 0).then(|| self.negative as f64 / scored as f64),
        }
    }
}

/// Why a series cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error(
        "the series would have more than {MAX_BUCKETS} buckets: narrow it with --since and --until or group by a longer period"
    )]
    TooLong,
}

/// The series from `since` (or the first mention) to `until` (or the last mention), every
/// bucket present, empty ones included.
pub fn build(
    quarters: &[QuarterCounts],
    g: Granularity,
    metric: Metric,
    tz: Tz,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<Vec<Bucket>, SeriesError> {
    let first = since.or_else(|| quarters.first().map(|q| q.start));
    // `until` is exclusive: the last bucket is the one holding the instant before it.
    let last = until
        .map(|u| u - Duration::nanoseconds(1))
        .or_else(|| quarters.last().map(|q| q.start));
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(Vec::new());
    };
    if last < first {
        return Ok(Vec::new());
    }
    let mut out: Vec<(DateTime<Tz>, Sums)> = Vec::new();
    let mut start = bucket_start(g, tz, first);
    let end = bucket_start(g, tz, last);
    loop {
        out.push((start, Sums::default()));
        if out.len() > MAX_BUCKETS {
            return Err(SeriesError::TooLong);
        }
        if start >= end {
            break;
        }
        start = next_start(g, tz, start);
    }
    // Quarters come oldest first, buckets too: one pass.
    let mut i = 0;
    for q in quarters {
        let at = q.start.with_timezone(&tz);
        while i + 1 < out.len() && out[i + 1].0 <= at {
            i += 1;
        }
        if at < out[i].0 || (i + 1 == out.len() && at >= next_start(g, tz, out[i].0)) {
            continue;
        }
        let s = &mut out[i].1;
        s.total += q.total;
        s.positive += q.positive;
        s.neutral += q.neutral;
        s.negative += q.negative;
    }
    Ok(out
        .into_iter()
        .map(|(start, sums)| Bucket {
            start,
            value: sums.value(metric),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn q(at: &str, positive: u64, neutral: u64, negative: u64) -> QuarterCounts {
        QuarterCounts {
            start: t(at),
            total: positive + neutral + negative,
            positive,
            neutral,
            negative,
        }
    }

    #[test]
    fn days_in_rome_follow_local_midnight_and_empty_days_are_kept() {
        let rome: Tz = "Europe/Rome".parse().unwrap();
        let quarters = [
            // 23:30 UTC on 1 March is 00:30 on 2 March in Rome.
            q("2026-03-01T23:30:00Z", 1, 0, 1),
            q("2026-03-04T10:00:00Z", 0, 0, 3),
        ];
        let s = build(&quarters, Granularity::Day, Metric::Count, rome, None, None).unwrap();
        let labels: Vec<String> = s.iter().map(Bucket::label).collect();
        assert_eq!(
            labels,
            [
                "2026-03-02T00:00:00+01:00",
                "2026-03-03T00:00:00+01:00",
                "2026-03-04T00:00:00+01:00"
            ]
        );
        let values: Vec<Option<f64>> = s.iter().map(|b| b.value).collect();
        assert_eq!(values, [Some(2.0), Some(0.0), Some(3.0)]);
        let share = build(
            &quarters,
            Granularity::Day,
            Metric::NegativeShare,
            rome,
            None,
            None,
        )
        .unwrap();
        assert_eq!(share[0].value, Some(0.5));
        assert_eq!(share[1].value, None, "no scored mention: no share");
        let net = build(&quarters, Granularity::Day, Metric::Net, rome, None, None).unwrap();
        assert_eq!(net[2].value, Some(-100.0));
    }

    #[test]
    fn the_day_the_clocks_go_back_lasts_25_hours_and_its_repeated_hour_is_two_buckets() {
        let rome: Tz = "Europe/Rome".parse().unwrap();
        let since = t("2026-10-24T22:00:00Z"); // 25 October, 00:00 in Rome (UTC+2)
        let until = t("2026-10-25T23:00:00Z"); // 26 October, 00:00 in Rome (UTC+1)
        let quarters = [q("2026-10-25T22:45:00Z", 1, 0, 0)]; // 23:45 on 25 October
        let days = build(
            &quarters,
            Granularity::Day,
            Metric::Count,
            rome,
            Some(since),
            Some(until),
        )
        .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].value, Some(1.0));
        let hours = build(
            &quarters,
            Granularity::Hour,
            Metric::Count,
            rome,
            Some(since),
            Some(until),
        )
        .unwrap();
        assert_eq!(hours.len(), 25);
        assert_eq!(hours[2].label(), "2026-10-25T02:00:00+02:00");
        assert_eq!(hours[3].label(), "2026-10-25T02:00:00+01:00");
        assert_eq!(hours[24].value, Some(1.0));
    }

    #[test]
    fn weeks_start_on_monday_and_huge_series_are_refused() {
        let utc: Tz = "UTC".parse().unwrap();
        // 2026-03-04 is a Wednesday.
        let w = bucket_start(Granularity::Week, utc, t("2026-03-04T12:00:00Z"));
        assert_eq!(
            w.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "2026-03-02T00:00:00Z"
        );
        let err = build(
            &[],
            Granularity::Hour,
            Metric::Count,
            utc,
            Some(t("2000-01-01T00:00:00Z")),
            Some(t("2026-01-01T00:00:00Z")),
        );
        assert!(matches!(err, Err(SeriesError::TooLong)));
    }
}
