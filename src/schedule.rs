//! When a digest is due: a cron expression (the `cron` crate's syntax, seconds first) read in a
//! time zone.
//!
//! The expression is matched against *local wall-clock times*, and each matching local time is
//! then placed on the real timeline:
//! - a local time that happens once is that instant;
//! - a local time that happens twice (the repeated hour when clocks go back) fires once, at its
//!   first occurrence;
//! - a local time that does not exist (the hour skipped when clocks go forward) fires when the
//!   gap ends, at the first valid minute after it, so a 02:30 digest on the night clocks jump
//!   from 02:00 to 03:00 comes at 03:00 rather than being lost for the day.
//!
//! Two local times that land on the same instant fire once. The resulting sequence of instants
//! is strictly increasing, so "the previous run" and "the next run" of any instant are well
//! defined; the period a digest covers runs from the previous run to this one.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Local times further than this from an instant's own local time cannot map to it: no time
/// zone shifts its offset by more than a couple of hours at once.
const SEARCH_MARGIN_HOURS: i64 = 3;
/// The longest gap searched for the end of a skipped local time.
const MAX_GAP_MINUTES: i64 = 24 * 60;

/// A digest's schedule: a cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: cron::Schedule,
    timezone: Tz,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

impl Schedule {
    /// Parses `expression` (six or seven fields, seconds first, or `@daily`-style shorthands).
    /// The error says what is wrong in words an operator can act on.
    pub fn parse(expression: &str, timezone: Tz) -> Result<Schedule, String> {
        let fields = expression.split_whitespace().count();
        if fields == 5 && !expression.trim_start().starts_with('@') {
            return Err(format!(
                "{expression:?} has 5 fields; this schedule has seconds first (6 fields): did you mean \"0 {}\"? \
                 Write days of the week as names (Mon-Fri): in this syntax 1 is Sunday",
                expression.trim()
            ));
        }
        let cron = cron::Schedule::from_str(expression)
            .map_err(|e| format!("{expression:?} is not a valid schedule: {e}"))?;
        let schedule = Schedule {
            expression: expression.to_string(),
            cron,
            timezone,
        };
        // An expression such as "0 0 0 30 Feb *" parses but never fires.
        let probe: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a valid instant");
        if schedule.next_after(probe).is_none() {
            return Err(format!("{expression:?} never fires"));
        }
        Ok(schedule)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Where a local wall-clock time falls on the timeline (see the module comment).
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => {
                // Inside a gap: the first whole minute after it that exists.
                let start = local
                    .date()
                    .and_hms_opt(
                        chrono::Timelike::hour(&local),
                        chrono::Timelike::minute(&local),
                        0,
                    )
                    .unwrap_or(local);
                (1..=MAX_GAP_MINUTES).find_map(|m| {
                    self.timezone
                        .from_local_datetime(&(start + Duration::minutes(m)))
                        .earliest()
                        .map(|t| t.with_timezone(&Utc))
                })
            }
        }
    }

    /// Whether the zone's offset is the same from `SEARCH_MARGIN_HOURS` before `t` to as long
    /// after: then local times near `t` map to instants one to one, and a search can start at
    /// `t` itself instead of scanning the margin (which matters for dense schedules).
    fn steady_around(&self, t: DateTime<Utc>) -> bool {
        use chrono::Offset;
        let offset = |x: DateTime<Utc>| x.with_timezone(&self.timezone).offset().fix();
        let margin = Duration::hours(SEARCH_MARGIN_HOURS);
        offset(t - margin) == offset(t) && offset(t) == offset(t + margin)
    }

    /// How far from `t`'s local time a search for runs near `t` must start.
    fn search_margin(&self, t: DateTime<Utc>) -> Duration {
        if self.steady_around(t) {
            Duration::seconds(1)
        } else {
            Duration::hours(SEARCH_MARGIN_HOURS)
        }
    }

    /// The first run strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Local times are read on a clock without daylight saving (UTC used as a plain
        // calendar), then placed with `instant`, which never moves a time back.
        let local = t.with_timezone(&self.timezone).naive_local();
        let from = (local - self.search_margin(t)).and_utc();
        self.cron
            .after(&from)
            .map(|naive| naive.naive_utc())
            .filter_map(|naive| self.instant(naive))
            .find(|instant| *instant > t)
    }

    /// The last run at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone).naive_local();
        let from = (local + self.search_margin(t)).and_utc();
        self.cron
            .after(&from)
            .rev()
            .map(|naive| naive.naive_utc())
            .filter_map(|naive| self.instant(naive))
            .find(|instant| *instant <= t)
    }

    /// The last run strictly before `t`.
    pub fn previous_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.last_at_or_before(t - Duration::seconds(1))
            .filter(|p| *p < t)
    }

    /// The period a digest ending at `end` covers: from the run before `end` to `end`. When
    /// the schedule has no earlier run (it cannot happen with the cron crate's open-ended
    /// years), the period is the day before `end`.
    pub fn period_ending(&self, end: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.previous_before(end).unwrap_or(end - Duration::days(1));
        (start, end)
    }

    /// The longest gap between two runs over a year of them (from a fixed date, so the answer
    /// does not depend on today): a monthly digest gives 31 days, a Mon-Fri one 3 days.
    pub fn longest_period(&self) -> std::time::Duration {
        let probe: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a valid instant");
        let year = probe + Duration::days(366);
        let mut longest = Duration::zero();
        let mut previous = match self.next_after(probe) {
            Some(t) => t,
            None => return std::time::Duration::ZERO,
        };
        // Dense schedules: a sample is enough (their gaps are regular).
        for _ in 0..400 {
            let Some(next) = self.next_after(previous) else {
                break;
            };
            longest = longest.max(next - previous);
            if next > year {
                break;
            }
            previous = next;
        }
        longest.to_std().unwrap_or_default()
    }

    /// The next `n` runs after `t`, for `check-config` and `digest --list`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn rome(expr: &str) -> Schedule {
        Schedule::parse(expr, chrono_tz::Europe::Rome).unwrap()
    }

    #[test]
    fn weekday_mornings_in_rome() {
        let s = rome("0 0 8 * * Mon-Fri");
        // Friday 2026-11-20 09:00 Rome (CET) -> Monday 08:00 Rome = 07:00 UTC.
        assert_eq!(
            s.next_after(utc("2026-11-20T08:00:00Z")),
            Some(utc("2026-11-23T07:00:00Z"))
        );
        // In summer (CEST, UTC+2) 08:00 is 06:00 UTC.
        assert_eq!(
            s.next_after(utc("2026-07-01T12:00:00Z")),
            Some(utc("2026-07-02T06:00:00Z"))
        );
        // A run time itself: next is strictly after, last is that time.
        let run = utc("2026-11-23T07:00:00Z");
        assert_eq!(s.next_after(run), Some(utc("2026-11-24T07:00:00Z")));
        assert_eq!(s.last_at_or_before(run), Some(run));
        assert_eq!(
            s.previous_before(run),
            Some(utc("2026-11-20T07:00:00Z")),
            "Monday's period starts on Friday"
        );
    }

    #[test]
    fn spring_forward_2026_in_rome() {
        // 2026-03-29: at 02:00 CET clocks jump to 03:00 CEST (01:00 UTC).
        let daily8 = rome("0 0 8 * * *");
        assert_eq!(
            daily8.next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T06:00:00Z")),
            "08:00 CEST"
        );
        let (start, end) = daily8.period_ending(utc("2026-03-29T06:00:00Z"));
        assert_eq!(start, utc("2026-03-28T07:00:00Z"));
        assert_eq!((end - start).num_hours(), 23, "the short day has 23 hours");

        // A time in the skipped hour fires when the gap ends, once.
        let s = rome("0 30 2 * * *");
        assert_eq!(
            s.next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z")),
            "02:30 does not exist on 29 March: sent at 03:00 CEST"
        );
        assert_eq!(
            s.next_after(utc("2026-03-29T01:00:00Z")),
            Some(utc("2026-03-30T00:30:00Z"))
        );
        assert_eq!(
            s.last_at_or_before(utc("2026-03-29T05:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );

        // Hourly: 01:00 CET, then 03:00 CEST (02:00 never happens), never twice at once.
        let hourly = rome("0 0 * * * *");
        let runs = hourly.upcoming(utc("2026-03-28T23:30:00Z"), 4);
        assert_eq!(
            runs,
            vec![
                utc("2026-03-29T00:00:00Z"),
                utc("2026-03-29T01:00:00Z"),
                utc("2026-03-29T02:00:00Z"),
                utc("2026-03-29T03:00:00Z")
            ]
        );
    }

    #[test]
    fn fall_back_2026_in_rome() {
        // 2026-10-25: at 03:00 CEST clocks go back to 02:00 CET (01:00 UTC); 02:00-02:59 twice.
        let s = rome("0 30 2 * * *");
        assert_eq!(
            s.next_after(utc("2026-10-24T12:00:00Z")),
            Some(utc("2026-10-25T00:30:00Z")),
            "the first 02:30 (CEST)"
        );
        assert_eq!(
            s.next_after(utc("2026-10-25T00:30:00Z")),
            Some(utc("2026-10-26T01:30:00Z")),
            "not again at the second 02:30 (CET)"
        );
        // Asked during the second 02:30, the last run is still the first one.
        assert_eq!(
            s.last_at_or_before(utc("2026-10-25T01:45:00Z")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        let daily8 = rome("0 0 8 * * *");
        let (start, end) = daily8.period_ending(utc("2026-10-25T07:00:00Z"));
        assert_eq!(start, utc("2026-10-24T06:00:00Z"));
        assert_eq!((end - start).num_hours(), 25, "the long day has 25 hours");

        // Hourly across the repeated hour: each local hour once; 02:00 CEST covers two hours.
        let hourly = rome("0 0 * * * *");
        assert_eq!(
            hourly.upcoming(utc("2026-10-24T23:30:00Z"), 3),
            vec![
                utc("2026-10-25T00:00:00Z"),
                utc("2026-10-25T02:00:00Z"),
                utc("2026-10-25T03:00:00Z")
            ]
        );
    }

    #[test]
    fn weekly_schedule() {
        let s = rome("0 0 9 * * Mon");
        let runs = s.upcoming(utc("2026-10-20T00:00:00Z"), 3);
        assert_eq!(
            runs,
            vec![
                utc("2026-10-26T08:00:00Z"), // after the change: 09:00 CET
                utc("2026-11-02T08:00:00Z"),
                utc("2026-11-09T08:00:00Z"),
            ]
        );
        let (start, end) = s.period_ending(runs[0]);
        assert_eq!(
            start,
            utc("2026-10-19T07:00:00Z"),
            "09:00 CEST a week before"
        );
        assert_eq!((end - start).num_hours(), 7 * 24 + 1);
        // New York too: a weekly Sunday report at 18:00 across its 2026-11-01 change.
        let ny = Schedule::parse("0 0 18 * * Sun", chrono_tz::America::New_York).unwrap();
        assert_eq!(
            ny.upcoming(utc("2026-10-26T00:00:00Z"), 2),
            vec![utc("2026-11-01T23:00:00Z"), utc("2026-11-08T23:00:00Z")]
        );
    }

    #[test]
    fn dense_schedules_are_cheap_and_exact() {
        let s = rome("*/2 * * * * *");
        let t = utc("2026-11-24T10:00:01Z");
        assert_eq!(s.next_after(t), Some(utc("2026-11-24T10:00:02Z")));
        assert_eq!(s.last_at_or_before(t), Some(utc("2026-11-24T10:00:00Z")));
        assert_eq!(
            s.previous_before(utc("2026-11-24T10:00:00Z")),
            Some(utc("2026-11-24T09:59:58Z"))
        );
        // Near a change the careful path is taken: after 02:59:58 CEST the local times 02:00 to
        // 02:59 come again (CET) and do not fire twice; the next is 03:00 CET.
        let near = utc("2026-10-25T00:59:59Z");
        assert_eq!(s.next_after(near), Some(utc("2026-10-25T02:00:00Z")));
        assert_eq!(s.last_at_or_before(near), Some(utc("2026-10-25T00:59:58Z")));
    }

    #[test]
    fn longest_periods() {
        let days = |s: &Schedule| s.longest_period().as_secs() / 86_400;
        assert_eq!(days(&rome("0 0 8 * * Mon-Fri")), 3);
        assert_eq!(days(&rome("0 0 9 1 * *")), 31);
        assert_eq!(days(&rome("0 0 9 * * Mon")), 7);
    }

    #[test]
    fn bad_expressions_are_explained() {
        let e = Schedule::parse("0 8 * * 1-5", chrono_tz::UTC).unwrap_err();
        assert!(e.contains("seconds first") && e.contains("Mon-Fri"), "{e}");
        assert!(Schedule::parse("0 0 8 * * Funday", chrono_tz::UTC).is_err());
        let e = Schedule::parse("0 0 0 30 Feb *", chrono_tz::UTC).unwrap_err();
        assert!(e.contains("never fires"), "{e}");
        assert!(Schedule::parse("@daily", chrono_tz::UTC).is_ok());
    }
}
