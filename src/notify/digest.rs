//! The digest e-mail, in English and Italian: subject, plain text and HTML with one trend chart
//! per brand. Text from posts is untrusted and goes through the same cleaning and escaping as
//! in alerts ([`super::render`]).

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

use super::chart::{TrendBar, trend_chart};
use super::render::{
    InlineImage, PAGE_CLOSE, Rendered, clean, esc, excerpt, group_thousands, page_open, post_link,
    safe_url,
};
use crate::config::Lang;
use crate::digest::{
    BrandReport, DigestReport, HealthProblem, Highlight, Split, TopMention, TrendUnit,
};

struct Words {
    digest: &'static str,
    period: &'static str,
    compared: &'static str,
    mentions: &'static str,
    mention: &'static str,
    positive: &'static str,
    neutral: &'static str,
    negative: &'static str,
    not_scored: &'static str,
    net: &'static str,
    previous: &'static str,
    points: &'static str,
    what_changed: &'static str,
    no_mentions: &'static str,
    trend_five: &'static str,
    trend_hour: &'static str,
    trend_day: &'static str,
    trend_week: &'static str,
    chart_caption: &'static str,
    by_source: &'static str,
    source: &'static str,
    by_touchpoint: &'static str,
    touchpoint: &'static str,
    before: &'static str,
    change: &'static str,
    top_positive: &'static str,
    top_negative: &'static str,
    none: &'static str,
    interactions: &'static str,
    followers: &'static str,
    open: &'static str,
    alerts: &'static str,
    no_alerts: &'static str,
    negative_in: &'static str,
    expected: &'static str,
    emailed: &'static str,
    email_pending: &'static str,
    email_failed: &'static str,
    silenced: &'static str,
    resolved: &'static str,
    still_open: &'static str,
    health: &'static str,
    health_ok: &'static str,
    health_none: &'static str,
    footer: &'static str,
    next: &'static str,
    brands: &'static str,
    alert_word: &'static str,
    alerts_word: &'static str,
    new: &'static str,
    days: [&'static str; 7],
    months: [&'static str; 12],
}

const EN: Words = Words {
    digest: "digest",
    period: "Period",
    compared: "changes compare with the same length of time just before",
    mentions: "mentions",
    mention: "mention",
    positive: "positive",
    neutral: "neutral",
    negative: "negative",
    not_scored: "not scored (language)",
    net: "Net sentiment",
    previous: "previous",
    points: "points",
    what_changed: "What changed",
    no_mentions: "No mentions in this period.",
    trend_five: "Mentions per 5 minutes",
    trend_hour: "Mentions per hour",
    trend_day: "Mentions per day",
    trend_week: "Mentions per week",
    chart_caption: "Bars: mentions (red negative, grey neutral, green positive, light grey not scored). Blue line: net sentiment, from -100 at the bottom to +100 at the top; the light rule is 0.",
    by_source: "By source",
    source: "Source",
    by_touchpoint: "By touchpoint",
    touchpoint: "Touchpoint",
    before: "before",
    change: "change",
    top_positive: "Most engaged positive posts",
    top_negative: "Most engaged negative posts",
    none: "None.",
    interactions: "interactions",
    followers: "followers",
    open: "open",
    alerts: "Alerts in this period",
    no_alerts: "No alert fired.",
    negative_in: "negative mentions in",
    expected: "expected about",
    emailed: "e-mailed",
    email_pending: "e-mail pending",
    email_failed: "e-mail failed",
    silenced: "silenced",
    resolved: "back to normal at",
    still_open: "still open",
    health: "Sources",
    health_ok: "sources polled normally.",
    health_none: "No source is configured: these figures come from imported mentions only.",
    footer: "Sent by mentiond",
    next: "next",
    brands: "brands",
    alert_word: "alert",
    alerts_word: "alerts",
    new: "new",
    days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    months: [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
};

const IT: Words = Words {
    digest: "riepilogo",
    period: "Periodo",
    compared: "le variazioni sono rispetto allo stesso intervallo appena precedente",
    mentions: "menzioni",
    mention: "menzione",
    positive: "positive",
    neutral: "neutre",
    negative: "negative",
    not_scored: "non valutate (lingua)",
    net: "Sentiment netto",
    previous: "prima",
    points: "punti",
    what_changed: "Cosa è cambiato",
    no_mentions: "Nessuna menzione in questo periodo.",
    trend_five: "Menzioni ogni 5 minuti",
    trend_hour: "Menzioni per ora",
    trend_day: "Menzioni per giorno",
    trend_week: "Menzioni per settimana",
    chart_caption: "Barre: menzioni (rosso negative, grigio neutre, verde positive, grigio chiaro non valutate). Linea blu: sentiment netto, da -100 in basso a +100 in alto; la riga chiara è lo 0.",
    by_source: "Per fonte",
    source: "Fonte",
    by_touchpoint: "Per punto di contatto",
    touchpoint: "Punto di contatto",
    before: "prima",
    change: "variazione",
    top_positive: "Post positivi con più interazioni",
    top_negative: "Post negativi con più interazioni",
    none: "Nessuno.",
    interactions: "interazioni",
    followers: "follower",
    open: "apri",
    alerts: "Allerte nel periodo",
    no_alerts: "Nessuna allerta.",
    negative_in: "menzioni negative in",
    expected: "attese circa",
    emailed: "inviata",
    email_pending: "e-mail in attesa",
    email_failed: "e-mail non consegnata",
    silenced: "silenziata",
    resolved: "rientrata alle",
    still_open: "ancora aperta",
    health: "Fonti",
    health_ok: "fonti interrogate regolarmente.",
    health_none: "Nessuna fonte configurata: i dati vengono solo dalle menzioni importate.",
    footer: "Inviato da mentiond",
    next: "prossimo",
    brands: "marchi",
    alert_word: "allerta",
    alerts_word: "allerte",
    new: "nuovo",
    days: ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
    months: [
        "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
    ],
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

/// 1,234 (English) or 1.234 (Italian).
pub fn count(n: u64, lang: Lang) -> String {
    group_thousands(n, if lang == Lang::En { ',' } else { '.' })
}

/// A whole number with its sign: +18, -6, 0.
fn signed(v: f64) -> String {
    let r = v.round() as i64;
    if r > 0 {
        format!("+{r}")
    } else {
        format!("{r}")
    }
}

/// A count that may be fractional (an expectation): 4, 0.4 (English) or 0,4 (Italian).
fn decimal(v: f64, lang: Lang) -> String {
    if (v - v.round()).abs() < 0.05 {
        return count(v.round().max(0.0) as u64, lang);
    }
    let s = format!("{v:.1}");
    if lang == Lang::It {
        s.replace('.', ",")
    } else {
        s
    }
}

fn percent(share: f64) -> String {
    format!("{}%", (share * 100.0).round() as i64)
}

fn net_text(s: &Split) -> String {
    s.net().map(signed).unwrap_or_else(|| "n/a".into())
}

/// "+12%" from 1,102 to 1,234; "new" when there was nothing before.
fn relative_change(before: u64, now: u64, lang: Lang) -> String {
    if before == 0 {
        return if now == 0 {
            "=".into()
        } else {
            words(lang).new.into()
        };
    }
    let pct = (now as f64 - before as f64) / before as f64 * 100.0;
    format!("{}%", signed(pct))
}

/// Mon 23 Nov 2026 08:00 / lun 23 nov 2026 08:00, in the digest's time zone.
fn local_time(t: DateTime<Utc>, tz: Tz, lang: Lang, with_year: bool) -> String {
    let l = t.with_timezone(&tz);
    let w = words(lang);
    let day = w.days[l.weekday().num_days_from_monday() as usize];
    let month = w.months[l.month0() as usize];
    if with_year {
        format!(
            "{day} {} {month} {} {:02}:{:02}",
            l.day(),
            l.year(),
            l.hour(),
            l.minute()
        )
    } else {
        format!(
            "{day} {} {month} {:02}:{:02}",
            l.day(),
            l.hour(),
            l.minute()
        )
    }
}

fn short_date(t: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    let l = t.with_timezone(&tz);
    let w = words(lang);
    format!("{} {}", l.day(), w.months[l.month0() as usize])
}

/// How a count changed, as words: "doubled", "rose 50%", "halved", ...
fn change_words(before: u64, now: u64, lang: Lang) -> String {
    let ratio = now as f64 / (before.max(1)) as f64;
    let up = now > before;
    match (lang, up) {
        (Lang::En, true) if before == 0 => "appeared".into(),
        (Lang::En, true) if (1.95..2.5).contains(&ratio) => "doubled".into(),
        (Lang::En, true) if (2.95..3.5).contains(&ratio) => "tripled".into(),
        (Lang::En, true) if ratio >= 2.5 => format!("rose {ratio:.1}-fold"),
        (Lang::En, true) => format!("rose {}%", ((ratio - 1.0) * 100.0).round()),
        (Lang::En, false) if (0.45..=0.55).contains(&ratio) => "halved".into(),
        (Lang::En, false) => format!("fell {}%", ((1.0 - ratio) * 100.0).round()),
        (Lang::It, true) if before == 0 => "sono comparse".into(),
        (Lang::It, true) if (1.95..2.5).contains(&ratio) => "sono raddoppiate".into(),
        (Lang::It, true) if (2.95..3.5).contains(&ratio) => "sono triplicate".into(),
        (Lang::It, true) if ratio >= 2.5 => {
            format!(
                "sono aumentate di {} volte",
                format!("{ratio:.1}").replace('.', ",")
            )
        }
        (Lang::It, true) => format!("sono aumentate del {}%", ((ratio - 1.0) * 100.0).round()),
        (Lang::It, false) if (0.45..=0.55).contains(&ratio) => "si sono dimezzate".into(),
        (Lang::It, false) => format!("sono diminuite del {}%", ((1.0 - ratio) * 100.0).round()),
    }
}

fn highlight_text(h: &Highlight, report: &DigestReport) -> String {
    let lang = report.language;
    match h {
        Highlight::Volume { before, now } => match lang {
            Lang::En => format!(
                "Mentions {}: {} → {}",
                change_words(*before, *now, lang),
                count(*before, lang),
                count(*now, lang)
            ),
            Lang::It => format!(
                "Le menzioni {}: {} → {}",
                change_words(*before, *now, lang),
                count(*before, lang),
                count(*now, lang)
            ),
        },
        Highlight::Net { before, now } => {
            let delta = (now - before).round().abs();
            match (lang, now > before) {
                (Lang::En, up) => format!(
                    "Net sentiment {} {delta} points: {} → {}",
                    if up { "rose" } else { "fell" },
                    signed(*before),
                    signed(*now)
                ),
                (Lang::It, up) => format!(
                    "Il sentiment netto è {} di {delta} punti: {} → {}",
                    if up { "salito" } else { "sceso" },
                    signed(*before),
                    signed(*now)
                ),
            }
        }
        Highlight::TouchpointNegative { index, before, now } => {
            let name = report
                .touchpoint_names
                .get(*index)
                .map(String::as_str)
                .unwrap_or("?");
            match lang {
                Lang::En => format!(
                    "Negative mentions about {name} {}: {} → {}",
                    change_words(*before, *now, lang),
                    count(*before, lang),
                    count(*now, lang)
                ),
                Lang::It => format!(
                    "Le menzioni negative su {name} {}: {} → {}",
                    change_words(*before, *now, lang),
                    count(*before, lang),
                    count(*now, lang)
                ),
            }
        }
    }
}

pub fn subject(r: &DigestReport) -> String {
    let w = words(r.language);
    let lang = r.language;
    let date = short_date(r.period.end, r.timezone, lang);
    let head = match lang {
        Lang::En => format!("[mentiond] {} {}, {date}", r.name, w.digest),
        Lang::It => format!("[mentiond] {} {}, {date}", capitalise(w.digest), r.name),
    };
    let body = match r.brands.as_slice() {
        [b] => format!(
            "{}: {} {} ({} {})",
            b.brand,
            count(b.now.total(), lang),
            if b.now.total() == 1 {
                w.mention
            } else {
                w.mentions
            },
            if lang == Lang::En { "net" } else { "netto" },
            net_text(&b.now)
        ),
        brands => format!(
            "{} {}, {} {}",
            brands.len(),
            w.brands,
            count(r.mentions(), lang),
            w.mentions
        ),
    };
    let alerts = match r.alerts.len() {
        0 => String::new(),
        1 => format!(" · 1 {}", w.alert_word),
        n => format!(" · {n} {}", w.alerts_word),
    };
    clean(&format!("{head}: {body}{alerts}"))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn split_line(s: &Split, lang: Lang) -> String {
    let w = words(lang);
    let mut line = format!(
        "{} {} · {} {} · {} {}",
        percent(s.share(s.positive)),
        w.positive,
        percent(s.share(s.neutral)),
        w.neutral,
        percent(s.share(s.negative)),
        w.negative
    );
    line.push_str(&format!(
        " ({} / {} / {})",
        count(s.positive, lang),
        count(s.neutral, lang),
        count(s.negative, lang)
    ));
    if s.unscored > 0 {
        line.push_str(&format!("; {} {}", count(s.unscored, lang), w.not_scored));
    }
    line
}

fn net_line(b: &BrandReport, lang: Lang) -> String {
    let w = words(lang);
    let change = match (b.now.net(), b.before.net()) {
        (Some(n), Some(p)) => format!(
            " ({} {}, {} {})",
            w.previous,
            signed(p),
            signed(n - p),
            w.points
        ),
        (Some(_), None) => String::new(),
        _ => String::new(),
    };
    format!("{}: {}{change}", w.net, net_text(&b.now))
}

fn volume_line(b: &BrandReport, lang: Lang) -> String {
    let w = words(lang);
    if b.before.total() == 0 {
        return format!(
            "{}: {} ({})",
            capitalise(w.mentions),
            count(b.now.total(), lang),
            if lang == Lang::En {
                "none in the time before"
            } else {
                "nessuna nell'intervallo precedente"
            }
        );
    }
    format!(
        "{}: {} ({} {} {})",
        capitalise(w.mentions),
        count(b.now.total(), lang),
        relative_change(b.before.total(), b.now.total(), lang),
        if lang == Lang::En { "vs" } else { "rispetto a" },
        count(b.before.total(), lang)
    )
}

fn bin_label(t: DateTime<Utc>, unit: TrendUnit, tz: Tz, lang: Lang) -> String {
    let l = t.with_timezone(&tz);
    match unit {
        TrendUnit::Hour | TrendUnit::FiveMinutes => {
            format!("{:02}:{:02}", l.hour(), l.minute())
        }
        TrendUnit::Day | TrendUnit::Week => {
            let w = words(lang);
            format!(
                "{} {} {}",
                w.days[l.weekday().num_days_from_monday() as usize],
                l.day(),
                w.months[l.month0() as usize]
            )
        }
    }
}

fn trend_title(unit: TrendUnit, lang: Lang) -> &'static str {
    let w = words(lang);
    match unit {
        TrendUnit::FiveMinutes => w.trend_five,
        TrendUnit::Hour => w.trend_hour,
        TrendUnit::Day => w.trend_day,
        TrendUnit::Week => w.trend_week,
    }
}

fn top_line(m: &TopMention, lang: Lang) -> String {
    let w = words(lang);
    format!(
        "[{}] {} · {} {} · {} {}",
        clean(&m.mention.source),
        clean(m.mention.author.as_deref().unwrap_or("?")),
        count(m.engagement, lang),
        w.interactions,
        count(m.followers, lang),
        w.followers
    )
}

fn alert_text(a: &crate::digest::AlertLine, r: &DigestReport) -> String {
    let w = words(r.language);
    let lang = r.language;
    let al = &a.alert;
    let fired = DateTime::parse_from_rfc3339(&al.fired_at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(r.period.start);
    let minutes = match (
        DateTime::parse_from_rfc3339(&al.window_start),
        DateTime::parse_from_rfc3339(&al.window_end),
    ) {
        (Ok(s), Ok(e)) => (e - s).num_minutes().max(1),
        _ => 0,
    };
    let email = match (&al.silenced, a.email.as_deref()) {
        (Some(reason), _) => format!("{}: {}", w.silenced, clean(reason)),
        (None, Some("silenced")) => w.silenced.to_string(),
        (None, Some("sent")) => w.emailed.to_string(),
        (None, Some("failed")) => w.email_failed.to_string(),
        (None, Some(_)) => w.email_pending.to_string(),
        (None, None) => String::new(),
    };
    let state = match al.resolved_at.as_deref().and_then(|t| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }) {
        Some(t) => format!("{} {}", w.resolved, local_time(t, r.timezone, lang, false)),
        None if al.state == "open" => w.still_open.to_string(),
        None => String::new(),
    };
    let mut parts = vec![format!(
        "{} · {}: {} {} {minutes} min ({} {})",
        local_time(fired, r.timezone, lang, false),
        clean(&al.brand),
        count(al.observed.round().max(0.0) as u64, lang),
        w.negative_in,
        w.expected,
        decimal(al.expected, lang)
    )];
    if !email.is_empty() {
        parts.push(email);
    }
    if !state.is_empty() {
        parts.push(state);
    }
    parts.join(" · ")
}

fn health_text(h: &crate::digest::HealthLine, lang: Lang) -> String {
    let err = h
        .last_error
        .as_deref()
        .map(|e| excerpt(e, 160))
        .unwrap_or_default();
    let what = match (lang, &h.problem) {
        (Lang::En, HealthProblem::Failed) => {
            format!("all {} polls failed (last error: {err})", h.polls)
        }
        (Lang::En, HealthProblem::PartlyFailed) => format!(
            "{} of {} polls failed (last error: {err})",
            h.errors, h.polls
        ),
        (Lang::En, HealthProblem::ReturnedNothing) => {
            format!("returned no post in {} polls", h.polls)
        }
        (Lang::En, HealthProblem::NotPolled) => {
            "not polled during this period (was mentiond running?)".into()
        }
        (Lang::It, HealthProblem::Failed) => format!(
            "tutte le {} interrogazioni sono fallite (ultimo errore: {err})",
            h.polls
        ),
        (Lang::It, HealthProblem::PartlyFailed) => format!(
            "{} interrogazioni su {} fallite (ultimo errore: {err})",
            h.errors, h.polls
        ),
        (Lang::It, HealthProblem::ReturnedNothing) => {
            format!("nessun post in {} interrogazioni", h.polls)
        }
        (Lang::It, HealthProblem::NotPolled) => {
            "mai interrogata in questo periodo (mentiond era in esecuzione?)".into()
        }
    };
    format!("{} ({}): {what}", clean(&h.source_id), clean(&h.query))
}

/// Health lines with the same source and problem become one line listing the queries.
fn grouped_health(r: &DigestReport) -> Vec<(crate::digest::HealthLine, String)> {
    let mut out: Vec<(crate::digest::HealthLine, Vec<String>)> = Vec::new();
    for h in &r.health {
        match out
            .iter_mut()
            .find(|(g, _)| g.source_id == h.source_id && g.problem == h.problem)
        {
            Some((g, queries)) => {
                g.polls += h.polls;
                g.errors += h.errors;
                if g.last_error.is_none() {
                    g.last_error = h.last_error.clone();
                }
                queries.push(h.query.clone());
            }
            None => out.push((h.clone(), vec![h.query.clone()])),
        }
    }
    out.into_iter()
        .map(|(mut g, queries)| {
            g.query = if queries.len() > 3 {
                format!("{}, +{}", queries[..3].join(", "), queries.len() - 3)
            } else {
                queries.join(", ")
            };
            let line = health_text(&g, r.language);
            (g, line)
        })
        .collect()
}

fn health_summary(r: &DigestReport) -> Option<String> {
    let w = words(r.language);
    if r.sources_checked == 0 {
        return Some(w.health_none.to_string());
    }
    r.health.is_empty().then(|| match r.language {
        Lang::En => format!("All {} {}", r.sources_checked, w.health_ok),
        Lang::It => format!("Tutte le {} {}", r.sources_checked, w.health_ok),
    })
}

fn trend_bars(b: &BrandReport) -> Vec<TrendBar> {
    b.trend
        .iter()
        .map(|p| TrendBar {
            positive: p.split.positive as f64,
            neutral: p.split.neutral as f64,
            negative: p.split.negative as f64,
            unscored: p.split.unscored as f64,
            net: p.split.net(),
        })
        .collect()
}

/// The digest e-mail.
/// The digest in a few lines, without links, for chat channels: the period, then each
/// brand's volume and net sentiment, then the alerts.
pub fn summary_lines(r: &DigestReport) -> Vec<String> {
    let w = words(r.language);
    let lang = r.language;
    let mut lines = vec![format!(
        "{}: {} → {} ({})",
        w.period,
        local_time(r.period.start, r.timezone, lang, true),
        local_time(r.period.end, r.timezone, lang, true),
        r.timezone.name()
    )];
    for b in &r.brands {
        lines.push(format!(
            "{}: {} · {}",
            clean(&b.brand),
            volume_line(b, lang),
            net_line(b, lang)
        ));
    }
    if r.alerts.is_empty() {
        lines.push(w.no_alerts.to_string());
    } else {
        for a in &r.alerts {
            lines.push(format!("{}: {}", w.alerts, alert_text(a, r)));
        }
    }
    lines
}

pub fn render(r: &DigestReport) -> Rendered {
    let w = words(r.language);
    let lang = r.language;
    let subject = subject(r);
    let period = format!(
        "{}: {} → {} ({}); {}.",
        w.period,
        local_time(r.period.start, r.timezone, lang, true),
        local_time(r.period.end, r.timezone, lang, true),
        r.timezone.name(),
        w.compared
    );
    let mut images = Vec::new();
    let mut text = String::new();
    let mut html = page_open(&subject);
    let title = match lang {
        Lang::En => format!("mentiond · {} {}", r.name, w.digest),
        Lang::It => format!("mentiond · {} {}", w.digest, r.name),
    };
    html.push_str(&format!(
        "<tr><td style=\"background:#1f3a68;color:#ffffff;padding:16px 24px;border-radius:6px 6px 0 0\"><div style=\"font-size:18px;font-weight:bold\">{}</div><div style=\"font-size:13px;margin-top:4px;color:#d6e0f5\">{}</div></td></tr>",
        esc(&title),
        esc(&period)
    ));
    text.push_str(&format!("{}\n{}\n", clean(&title), period));

    for (i, b) in r.brands.iter().enumerate() {
        brand_section(r, b, i, &mut text, &mut html, &mut images);
    }

    // Alerts.
    section_title(w.alerts, &mut text, &mut html);
    if r.alerts.is_empty() {
        paragraph(w.no_alerts, "#555", &mut text, &mut html);
    }
    for a in &r.alerts {
        let line = alert_text(a, r);
        text.push_str(&format!("- {line}\n"));
        let color = if a.alert.silenced.is_some() {
            "#8a5a00"
        } else {
            "#c62828"
        };
        html.push_str(&format!(
            "<tr><td style=\"padding:3px 24px;font-size:14px\"><span style=\"color:{color}\">●</span> {}</td></tr>",
            esc(&line)
        ));
    }

    // Source health.
    section_title(w.health, &mut text, &mut html);
    if let Some(summary) = health_summary(r) {
        paragraph(&summary, "#2e7d32", &mut text, &mut html);
    }
    for (h, line) in grouped_health(r) {
        text.push_str(&format!("- {line}\n"));
        let color = match h.problem {
            HealthProblem::Failed | HealthProblem::NotPolled => "#c62828",
            _ => "#8a5a00",
        };
        html.push_str(&format!(
            "<tr><td style=\"padding:3px 24px;font-size:14px\"><span style=\"color:{color}\">●</span> {}</td></tr>",
            esc(&line)
        ));
    }

    let next = r
        .next_run
        .map(|t| format!(" · {}: {}", w.next, local_time(t, r.timezone, lang, false)))
        .unwrap_or_default();
    let footer = format!("{} · {} \"{}\"{next}", w.footer, w.digest, clean(&r.name));
    text.push_str(&format!("\n-- \n{footer}\n"));
    html.push_str(&format!(
        "<tr><td style=\"padding:20px 24px;font-size:12px;color:#666;border-top:1px solid #eee\">{}</td></tr>",
        esc(&footer)
    ));
    html.push_str(PAGE_CLOSE);
    Rendered {
        subject,
        text,
        html,
        images,
    }
}

fn section_title(title: &str, text: &mut String, html: &mut String) {
    text.push_str(&format!("\n== {} ==\n", clean(title)));
    html.push_str(&format!(
        "<tr><td style=\"padding:20px 24px 6px;font-size:16px;font-weight:bold;border-top:1px solid #eee\">{}</td></tr>",
        esc(title)
    ));
}

fn subtitle(title: &str, text: &mut String, html: &mut String) {
    text.push_str(&format!("\n{}:\n", clean(title)));
    html.push_str(&format!(
        "<tr><td style=\"padding:14px 24px 4px;font-size:14px;font-weight:bold;color:#333\">{}</td></tr>",
        esc(title)
    ));
}

fn paragraph(line: &str, color: &str, text: &mut String, html: &mut String) {
    text.push_str(&clean(line));
    text.push('\n');
    html.push_str(&format!(
        "<tr><td style=\"padding:3px 24px;font-size:14px;color:{color}\">{}</td></tr>",
        esc(line)
    ));
}

/// A small table, as aligned columns in text and an HTML table.
fn table(headers: &[&str], rows: &[Vec<String>], text: &mut String, html: &mut String) {
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain(std::iter::once(headers[c].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let mut out = String::from(" ");
        for (c, cell) in cells.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c == 0 {
                out.push_str(&format!(" {cell}{}", " ".repeat(pad)));
            } else {
                out.push_str(&format!("  {}{cell}", " ".repeat(pad)));
            }
        }
        out.trim_end().to_string()
    };
    text.push_str(&line(headers.iter().map(|h| h.to_string()).collect()));
    text.push('\n');
    for r in rows {
        text.push_str(&line(r.iter().map(|c| clean(c)).collect()));
        text.push('\n');
    }
    html.push_str("<tr><td style=\"padding:0 24px\"><table role=\"presentation\" width=\"100%\" cellpadding=\"4\" cellspacing=\"0\" style=\"font-size:13px;border-collapse:collapse\"><tr>");
    for (c, h) in headers.iter().enumerate() {
        let align = if c == 0 { "left" } else { "right" };
        html.push_str(&format!(
            "<th align=\"{align}\" style=\"border-bottom:1px solid #ccd;color:#555;font-weight:normal\">{}</th>",
            esc(h)
        ));
    }
    html.push_str("</tr>");
    for r in rows {
        html.push_str("<tr>");
        for (c, cell) in r.iter().enumerate() {
            let align = if c == 0 { "left" } else { "right" };
            html.push_str(&format!(
                "<td align=\"{align}\" style=\"border-bottom:1px solid #f0f0f0\">{}</td>",
                esc(cell)
            ));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></td></tr>");
}

fn brand_section(
    r: &DigestReport,
    b: &BrandReport,
    index: usize,
    text: &mut String,
    html: &mut String,
    images: &mut Vec<InlineImage>,
) {
    let w = words(r.language);
    let lang = r.language;
    section_title(&b.brand, text, html);
    let volume = volume_line(b, lang);
    let net = net_line(b, lang);
    text.push_str(&format!("{volume}\n{net}\n"));
    html.push_str(&format!(
        "<tr><td style=\"padding:2px 24px;font-size:15px\"><strong>{}</strong></td></tr><tr><td style=\"padding:2px 24px;font-size:15px\"><strong>{}</strong></td></tr>",
        esc(&volume),
        esc(&net)
    ));
    if b.now.total() == 0 {
        paragraph(w.no_mentions, "#555", text, html);
    } else {
        let split = split_line(&b.now, lang);
        text.push_str(&format!("{split}\n"));
        html.push_str(&format!(
            "<tr><td style=\"padding:2px 24px 6px;font-size:14px;color:#333\">{}</td></tr>",
            esc(&split)
        ));
        // The split as a bar (table cells: e-mail clients ignore most CSS).
        let scored = b.now.scored().max(1) as f64;
        let mut cells = String::new();
        for (n, color) in [
            (b.now.positive, "#329b5a"),
            (b.now.neutral, "#afb6c3"),
            (b.now.negative, "#cd3737"),
        ] {
            let pct = (n as f64 / scored * 100.0).round() as u64;
            if pct > 0 {
                cells.push_str(&format!(
                    "<td width=\"{pct}%\" style=\"background:{color};height:10px;font-size:0;line-height:0\">&nbsp;</td>"
                ));
            }
        }
        if !cells.is_empty() {
            html.push_str(&format!("<tr><td style=\"padding:0 24px 8px\"><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr>{cells}</tr></table></td></tr>"));
        }
    }

    if !b.highlights.is_empty() {
        subtitle(w.what_changed, text, html);
        for h in &b.highlights {
            let line = highlight_text(h, r);
            text.push_str(&format!("- {line}\n"));
            html.push_str(&format!(
                "<tr><td style=\"padding:2px 24px;font-size:14px\">▸ {}</td></tr>",
                esc(&line)
            ));
        }
    }

    if b.now.total() > 0 && !b.trend.is_empty() {
        let title = trend_title(r.trend_unit, lang);
        subtitle(title, text, html);
        let bars = trend_bars(b);
        if let Ok(png) = trend_chart(&bars) {
            let cid = format!("trend-{index}@mentiond");
            html.push_str(&format!(
                "<tr><td style=\"padding:4px 24px 0\"><img src=\"cid:{cid}\" width=\"592\" alt=\"{}\" style=\"width:100%;max-width:592px;display:block;border:1px solid #e3e6ea\"></td></tr>",
                esc(&format!("{title}: {}", b.brand))
            ));
            html.push_str(&format!(
                "<tr><td style=\"padding:4px 24px 0;font-size:12px;color:#666\">{}</td></tr>",
                esc(w.chart_caption)
            ));
            images.push(InlineImage { cid, png });
        }
        // Text readers get the numbers (of the bars that have any).
        for p in b.trend.iter().filter(|p| p.split.total() > 0) {
            text.push_str(&format!(
                "  {:<12} {:>6}  {:>4}\n",
                bin_label(p.start, r.trend_unit, r.timezone, lang),
                count(p.split.total(), lang),
                p.split.net().map(signed).unwrap_or_default()
            ));
        }
    }

    if !b.sources.is_empty() {
        subtitle(w.by_source, text, html);
        let rows: Vec<Vec<String>> = b
            .sources
            .iter()
            .map(|s| {
                vec![
                    s.source.clone(),
                    count(s.now.total(), lang),
                    relative_change(s.before.total(), s.now.total(), lang),
                    count(s.now.negative, lang),
                    net_text(&s.now),
                ]
            })
            .collect();
        table(
            &[
                w.source,
                w.mentions,
                w.change,
                w.negative,
                if lang == Lang::En { "net" } else { "netto" },
            ],
            &rows,
            text,
            html,
        );
    }

    if !b.touchpoints.is_empty() {
        subtitle(w.by_touchpoint, text, html);
        let rows: Vec<Vec<String>> = b
            .touchpoints
            .iter()
            .map(|t| {
                vec![
                    r.touchpoint_names
                        .get(t.index)
                        .cloned()
                        .unwrap_or_else(|| "?".into()),
                    count(t.now.total(), lang),
                    count(t.now.negative, lang),
                    count(t.before.negative, lang),
                    net_text(&t.now),
                ]
            })
            .collect();
        let neg_before = format!("{} ({})", w.negative, w.before);
        table(
            &[
                w.touchpoint,
                w.mentions,
                w.negative,
                &neg_before,
                if lang == Lang::En { "net" } else { "netto" },
            ],
            &rows,
            text,
            html,
        );
    }

    for (title, list, color) in [
        (w.top_positive, &b.top_positive, "#329b5a"),
        (w.top_negative, &b.top_negative, "#cd3737"),
    ] {
        if b.now.total() == 0 {
            break;
        }
        subtitle(title, text, html);
        if list.is_empty() {
            paragraph(w.none, "#666", text, html);
        }
        for (k, m) in list.iter().enumerate() {
            let meta = top_line(m, lang);
            let body = excerpt(&m.mention.text, 280);
            let url = m.mention.url.as_deref().and_then(safe_url);
            text.push_str(&format!("{}. {meta}\n   {body}\n", k + 1));
            if let Some(u) = &url {
                text.push_str(&format!("   {u}\n"));
            }
            let link = post_link(m.mention.url.as_deref(), w.open);
            html.push_str(&format!(
                "<tr><td style=\"padding:5px 24px\"><div style=\"border-left:3px solid {color};padding:3px 12px\">\
                 <div style=\"font-size:12px;color:#666\">{}{link}</div>\
                 <div style=\"font-size:14px;line-height:1.4;margin-top:2px\">{}</div></div></td></tr>",
                esc(&meta),
                esc(&body)
            ));
        }
    }
    if let Some(resp) = &b.responses {
        responses_section(r, resp, text, html);
    }
}

/// "Responses": the complaints answered, the median first response and its change, and the
/// oldest complaints still unanswered with their links.
fn responses_section(
    r: &DigestReport,
    resp: &crate::digest::ResponsesBlock,
    text: &mut String,
    html: &mut String,
) {
    let lang = r.language;
    let w = words(lang);
    let human = |s: Option<f64>| crate::responses::human_in(s, lang);
    subtitle(
        if lang == Lang::En {
            "Responses"
        } else {
            "Risposte"
        },
        text,
        html,
    );
    let answered = match (lang, resp.complaints) {
        (Lang::En, 0) => "No complaint in the period.".to_string(),
        (Lang::It, 0) => "Nessun reclamo nel periodo.".to_string(),
        (Lang::En, n) => format!(
            "{} of {} complaints answered ({}).",
            count(resp.answered, lang),
            count(n, lang),
            pct_text(resp.answered, n)
        ),
        (Lang::It, n) => format!(
            "{} reclami su {} con risposta ({}).",
            count(resp.answered, lang),
            count(n, lang),
            pct_text(resp.answered, n)
        ),
    };
    paragraph(&answered, "#333", text, html);
    if resp.median_first_response_s.is_some() {
        let was = match (lang, resp.median_before_s) {
            (Lang::En, Some(b)) => format!(" (the period before: {})", human(Some(b))),
            (Lang::It, Some(b)) => format!(" (periodo precedente: {})", human(Some(b))),
            (_, None) => String::new(),
        };
        let line = match lang {
            Lang::En => format!(
                "Median first response: {}{was}.",
                human(resp.median_first_response_s)
            ),
            Lang::It => format!(
                "Tempo mediano di prima risposta: {}{was}.",
                human(resp.median_first_response_s)
            ),
        };
        paragraph(&line, "#333", text, html);
    }
    if !resp.unanswered.is_empty() {
        paragraph(
            if lang == Lang::En {
                "Oldest complaints still unanswered:"
            } else {
                "Reclami più vecchi ancora senza risposta:"
            },
            "#cd3737",
            text,
            html,
        );
        for u in &resp.unanswered {
            let body = excerpt(&u.text, 200);
            let when = local_time(u.created_at, r.timezone, lang, true);
            let url = u.url.as_deref().and_then(safe_url);
            text.push_str(&format!("- [{}] {when}: {body}\n", clean(&u.source)));
            if let Some(link) = &url {
                text.push_str(&format!("  {link}\n"));
            }
            let link = post_link(u.url.as_deref(), w.open);
            html.push_str(&format!(
                "<tr><td style=\"padding:3px 24px;font-size:14px\"><span style=\"color:#666\">{} · {}</span>{link}<br>{}</td></tr>",
                esc(&u.source),
                esc(&when),
                esc(&body)
            ));
        }
    }
}

fn pct_text(part: u64, whole: u64) -> String {
    format!("{:.0}%", part as f64 / whole.max(1) as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_changes_in_both_languages() {
        assert_eq!(count(1234567, Lang::En), "1,234,567");
        assert_eq!(count(1234, Lang::It), "1.234");
        assert_eq!(count(12, Lang::It), "12");
        assert_eq!(relative_change(100, 112, Lang::En), "+12%");
        assert_eq!(relative_change(0, 5, Lang::It), "nuovo");
        assert_eq!(change_words(6, 12, Lang::En), "doubled");
        assert_eq!(change_words(6, 12, Lang::It), "sono raddoppiate");
        assert_eq!(change_words(10, 5, Lang::En), "halved");
        assert_eq!(change_words(10, 15, Lang::It), "sono aumentate del 50%");
        assert_eq!(signed(-5.6), "-6");
        assert_eq!(signed(0.2), "0");
    }

    #[test]
    fn local_times_use_the_digest_language() {
        let t: DateTime<Utc> = "2026-11-23T07:00:00Z".parse().unwrap();
        let tz = chrono_tz::Europe::Rome;
        assert_eq!(local_time(t, tz, Lang::En, true), "Mon 23 Nov 2026 08:00");
        assert_eq!(local_time(t, tz, Lang::It, false), "lun 23 nov 08:00");
    }
}
