//! `[responses]`: business hours for first-response times, globally and per brand
//! (`[responses.brands."Name"]`). Time outside them does not count, as response-time reports
//! of social-care tools count it: a complaint posted on Friday evening and answered on Monday
//! at 09:30 waited half an hour of business time.

use std::collections::BTreeMap;

use chrono::{NaiveTime, Weekday};
use serde::Deserialize;

use super::{BrandConfig, ConfigError, Seg, Validator};

/// Opening hours: the same time range on some days of the week, in a time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    /// As written, for reports.
    pub text: String,
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    /// `None`: until midnight.
    pub end: Option<NaiveTime>,
    pub timezone: chrono_tz::Tz,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponsesConfig {
    pub defaults: Option<BusinessHours>,
    /// Brand name (as configured) -> its hours (`None`: around the clock).
    pub brands: BTreeMap<String, Option<BusinessHours>>,
}

impl ResponsesConfig {
    /// A brand's business hours, if first responses are counted in business time.
    pub fn hours(&self, brand: &str) -> Option<&BusinessHours> {
        match self.brands.get(brand) {
            Some(h) => h.as_ref(),
            None => self.defaults.as_ref(),
        }
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHours {
    business_hours: Option<String>,
    timezone: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResponses {
    #[serde(flatten)]
    defaults: RawHours,
    #[serde(default)]
    brands: BTreeMap<String, RawHours>,
}

/// `Mon-Fri 09:00-18:00`, `Mon,Wed,Fri 08:30-12:30`, `Sat-Sun 10:00-24:00`.
pub fn parse_business_hours(s: &str, timezone: chrono_tz::Tz) -> Result<BusinessHours, String> {
    let bad = || format!("{s:?}: expected days and hours such as \"Mon-Fri 09:00-18:00\"");
    let (days_part, hours_part) = s.trim().split_once(' ').ok_or_else(bad)?;
    let day = |d: &str| -> Result<Weekday, String> {
        d.trim()
            .parse::<Weekday>()
            .map_err(|_| format!("{d:?} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
    };
    let mut days = Vec::new();
    for part in days_part.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (mut d, last) = (day(a)?, day(b)?);
                loop {
                    if !days.contains(&d) {
                        days.push(d);
                    }
                    if d == last {
                        break;
                    }
                    d = d.succ();
                }
            }
            None => {
                let d = day(part)?;
                if !days.contains(&d) {
                    days.push(d);
                }
            }
        }
    }
    let (a, b) = hours_part.trim().split_once('-').ok_or_else(bad)?;
    let time = |t: &str| {
        NaiveTime::parse_from_str(t.trim(), "%H:%M")
            .map_err(|_| format!("{t:?} is not a time of day HH:MM"))
    };
    let start = time(a)?;
    let end = if b.trim() == "24:00" {
        None
    } else {
        Some(time(b)?)
    };
    if end.is_some_and(|e| e <= start) {
        return Err(format!(
            "{s:?}: the hours end before they start (overnight hours are not supported)"
        ));
    }
    Ok(BusinessHours {
        text: s.trim().to_string(),
        days,
        start,
        end,
        timezone,
    })
}

impl Validator<'_> {
    pub(super) fn responses(
        &self,
        raw: RawResponses,
        brands: &[BrandConfig],
    ) -> Result<ResponsesConfig, ConfigError> {
        let hours = |at: Vec<Seg>, r: &RawHours, inherited: Option<&BusinessHours>| {
            let tz = match &r.timezone {
                Some(tz) => tz.parse::<chrono_tz::Tz>().map_err(|_| {
                    let mut p = at.clone();
                    p.push(Seg::from("timezone"));
                    self.err(
                        p,
                        format!("{tz:?} is not an IANA time zone (e.g. \"Europe/Rome\")"),
                    )
                })?,
                None => inherited.map_or(chrono_tz::UTC, |h| h.timezone),
            };
            match &r.business_hours {
                Some(text) if text.trim().eq_ignore_ascii_case("always") => Ok(None),
                Some(text) => parse_business_hours(text, tz).map(Some).map_err(|e| {
                    let mut p = at.clone();
                    p.push(Seg::from("business_hours"));
                    self.err(p, e)
                }),
                None => Ok(inherited.map(|h| BusinessHours {
                    timezone: tz,
                    ..h.clone()
                })),
            }
        };
        let defaults = hours(vec![Seg::from("responses")], &raw.defaults, None)?;
        let mut out = BTreeMap::new();
        for (name, r) in &raw.brands {
            let Some(brand) = brands.iter().find(|b| b.name.eq_ignore_ascii_case(name)) else {
                return Err(self.err(
                    p!["responses", "brands", name.as_str()],
                    format!("no brand named {name:?} is configured"),
                ));
            };
            let at = p!["responses", "brands", name.as_str()];
            out.insert(brand.name.clone(), hours(at, r, defaults.as_ref())?);
        }
        Ok(ResponsesConfig {
            defaults,
            brands: out,
        })
    }
}
