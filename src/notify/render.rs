//! The alert and "back to normal" e-mails, in English and Italian: subject, plain text and
//! HTML. Everything that comes from posts (text, authors, links) is untrusted: it is escaped,
//! stripped of control and direction-override characters, and only http(s) links are kept.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::chart::Bin;
use crate::config::Lang;
use crate::store::MentionRow;

/// Everything an alert e-mail shows.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub alert_id: i64,
    pub brand: String,
    pub fired_at: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub observed: f64,
    pub expected: f64,
    pub p_value: f64,
    pub p_threshold: f64,
    /// `alpha` or `recent_peak`.
    pub threshold_rule: String,
    pub window_total: Option<f64>,
    pub usual_share: Option<f64>,
    pub severe: bool,
    pub worst: Vec<MentionRow>,
    /// The last 24 hours.
    pub series: Vec<Bin>,
    pub language: Lang,
    pub timezone: Tz,
    /// When quiet hours held the e-mail back, until when.
    pub held_until: Option<DateTime<Utc>>,
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Images shown inline, referenced from the HTML as `cid:<content id>`.
    pub images: Vec<InlineImage>,
}

/// A PNG shown in the HTML part.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineImage {
    /// The Content-ID, without angle brackets: `chart@mentiond`.
    pub cid: String,
    pub png: Vec<u8>,
}

impl Rendered {
    /// The HTML with its images embedded as `data:` URLs: a file a browser shows as the
    /// e-mail client would (previews, the file transport).
    pub fn html_with_data_images(&self) -> String {
        use base64::Engine;
        let mut html = self.html.clone();
        for image in &self.images {
            let data = base64::engine::general_purpose::STANDARD.encode(&image.png);
            html = html.replace(
                &format!("cid:{}", image.cid),
                &format!("data:image/png;base64,{data}"),
            );
        }
        html
    }
}

pub const CHART_CID: &str = "chart@mentiond";

/// Removes control characters and the characters that reorder text (bidi overrides and
/// isolates, directional marks): a post cannot make a subject or a line read backwards.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
                )
        })
        .collect()
}

/// Text for an HTML text node or attribute.
pub fn esc(s: &str) -> String {
    html_escape::encode_quoted_attribute(&clean(s)).into_owned()
}

/// The URL if it is http or https (no `javascript:`, `data:` or anything else), normalised.
pub fn safe_url(u: &str) -> Option<String> {
    let url = url::Url::parse(u.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

/// At most `max` characters, cut on a word boundary, with an ellipsis.
pub fn excerpt(s: &str, max: usize) -> String {
    let s = clean(s);
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => cut[..i].to_string(),
        _ => cut,
    };
    format!("{}…", cut.trim_end())
}

fn num(v: f64, lang: Lang) -> String {
    let s = if (v - v.round()).abs() < 0.05 {
        format!("{:.0}", v.round())
    } else {
        format!("{v:.1}")
    };
    match lang {
        Lang::En => s,
        Lang::It => s.replace('.', ","),
    }
}

fn pct(v: f64, lang: Lang) -> String {
    format!("{} %", num(v * 100.0, lang)).replace(" %", if lang == Lang::En { "%" } else { " %" })
}

/// "10 million" in "less than once in 10 million", from a p-value.
fn odds(p: f64, lang: Lang) -> String {
    let inv = (1.0 / p.max(1e-300)).log10().floor().max(0.0) as i32;
    match inv {
        0..=2 => format!("{}", 10i64.pow(inv.max(0) as u32)),
        3..=5 => group_thousands(
            10u64.pow(inv as u32),
            if lang == Lang::En { ',' } else { '.' },
        ),
        6..=8 => match lang {
            Lang::En => format!("{} million", 10i64.pow((inv - 6) as u32)),
            Lang::It => format!(
                "{} milion{}",
                10i64.pow((inv - 6) as u32),
                if inv == 6 { "e" } else { "i" }
            ),
        },
        _ => match lang {
            Lang::En => "a billion".into(),
            Lang::It => "un miliardo".into(),
        },
    }
}

pub(super) fn group_thousands(n: u64, sep: char) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// The start of an e-mail's HTML: one 640-pixel column, the layout mail clients render alike.
pub(super) fn page_open(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title></head>\
         <body style=\"margin:0;padding:0;background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;color:#1d2330\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr><td align=\"center\" style=\"padding:24px 8px\">\
         <table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:640px;background:#ffffff;border-radius:6px\">",
        esc(title)
    )
}

/// The end of what [`page_open`] began.
pub(super) const PAGE_CLOSE: &str = "</table></td></tr></table></body></html>";

/// ` · open` linking to a post, when its URL is http(s); empty otherwise.
pub(super) fn post_link(url: Option<&str>, label: &str) -> String {
    url.and_then(safe_url)
        .map(|u| {
            format!(
                " · <a href=\"{}\" style=\"color:#1a56db\">{}</a>",
                esc(&u),
                esc(label)
            )
        })
        .unwrap_or_default()
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

fn local_date(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

fn minutes(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_minutes().max(1)
}

/// The reach of a post: its author's followers and its engagement.
pub fn reach(m: &MentionRow) -> u64 {
    let followers = m.author_followers.unwrap_or(0).max(0) as u64;
    followers.saturating_add(m.engagement_total())
}

struct Words {
    subject_alert: &'static str,
    subject_severe: &'static str,
    in_min: &'static str,
    usually: &'static str,
    headline: &'static str,
    between: &'static str,
    and: &'static str,
    times_usual: &'static str,
    share: &'static str,
    of_all: &'static str,
    usual_share: &'static str,
    chance: &'static str,
    threshold_alpha: &'static str,
    threshold_peak: &'static str,
    chart_caption: &'static str,
    worst_title: &'static str,
    no_worst: &'static str,
    reach: &'static str,
    open: &'static str,
    held: &'static str,
    silence_hint: &'static str,
    footer: &'static str,
    recovery_subject: &'static str,
    recovery_body: &'static str,
    series_title: &'static str,
}

const EN: Words = Words {
    subject_alert: "Negative spike (warning)",
    subject_severe: "Negative spike (critical)",
    in_min: "in",
    usually: "usually",
    headline: "negative mentions",
    between: "between",
    and: "and",
    times_usual: "times the usual",
    share: "Negative share",
    of_all: "of all",
    usual_share: "usually",
    chance: "A rise like this would happen by chance less than once in",
    threshold_alpha: "the alert threshold is the fixed floor",
    threshold_peak: "the alert threshold is raised by this brand's recent spikes",
    chart_caption: "Negative mentions per 30 minutes over the last 24 hours (bars; the dark ones are the alert window); the shaded band is the expected range, the line the expectation.",
    worst_title: "Most negative posts in the window",
    no_worst: "No scored negative post in the window.",
    reach: "reach",
    open: "open",
    held: "Held back by quiet hours until",
    silence_hint: "Known cause? Silence this brand's alerts for two hours with",
    footer: "Sent by mentiond",
    recovery_subject: "Back to normal",
    recovery_body: "Negative mentions are back within the expected range.",
    series_title: "Last 24 hours, negative mentions per 30 minutes (observed / expected)",
};

const IT: Words = Words {
    subject_alert: "Picco di menzioni negative (avviso)",
    subject_severe: "Picco di menzioni negative (critico)",
    in_min: "in",
    usually: "di solito",
    headline: "menzioni negative",
    between: "tra le",
    and: "e le",
    times_usual: "volte il solito",
    share: "Quota negativa",
    of_all: "di tutte le",
    usual_share: "di solito",
    chance: "Un aumento così capiterebbe per caso meno di una volta su",
    threshold_alpha: "la soglia di allerta è quella fissa",
    threshold_peak: "la soglia di allerta è alzata dai picchi recenti di questo marchio",
    chart_caption: "Menzioni negative ogni 30 minuti nelle ultime 24 ore (barre; quelle scure sono la finestra dell'allerta); la fascia ombreggiata è l'intervallo atteso, la linea il valore atteso.",
    worst_title: "I post più negativi della finestra",
    no_worst: "Nessun post negativo valutato nella finestra.",
    reach: "pubblico",
    open: "apri",
    held: "Trattenuto dalle ore di silenzio fino alle",
    silence_hint: "Causa nota? Silenzia le allerte di questo marchio per due ore con",
    footer: "Inviato da mentiond",
    recovery_subject: "Tornato alla normalità",
    recovery_body: "Le menzioni negative sono tornate nell'intervallo atteso.",
    series_title: "Ultime 24 ore, menzioni negative ogni 30 minuti (osservate / attese)",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

/// The alert e-mail.
pub fn alert(v: &AlertView, chart_png: Option<Vec<u8>>) -> Rendered {
    let w = words(v.language);
    let l = v.language;
    let mins = minutes(v.window_start, v.window_end);
    let ratio = v.observed / v.expected.max(0.1);
    let subject = clean(&format!(
        "[mentiond] {}: {} — {} {} {} {} min ({} ~{})",
        if v.severe {
            w.subject_severe
        } else {
            w.subject_alert
        },
        v.brand,
        num(v.observed, l),
        w.headline,
        w.in_min,
        mins,
        w.usually,
        num(v.expected, l),
    ));
    let headline = format!(
        "{}: {} {} {} {} {} {} ({}), {} {} ({}).",
        v.brand,
        num(v.observed, l),
        w.headline,
        w.between,
        local(v.window_start, v.timezone),
        w.and,
        local(v.window_end, v.timezone),
        v.timezone.name(),
        num(ratio, l),
        w.times_usual,
        num(v.expected, l)
    );
    let share_line = match (v.window_total, v.usual_share) {
        (Some(total), Some(usual)) if total > 0.0 => Some(format!(
            "{}: {} {} {} {} ({} {}).",
            w.share,
            pct(v.observed / total, l),
            w.of_all,
            num(total, l),
            if l == Lang::En {
                "mentions"
            } else {
                "menzioni"
            },
            w.usual_share,
            pct(usual, l)
        )),
        _ => None,
    };
    let chance = format!(
        "{} {} (p = {:.1e}; {}, p < {:.0e}).",
        w.chance,
        odds(v.p_value, l),
        v.p_value,
        if v.threshold_rule == "recent_peak" {
            w.threshold_peak
        } else {
            w.threshold_alpha
        },
        v.p_threshold
    );
    let held = v
        .held_until
        .map(|t| format!("{} {}.", w.held, local_date(t, v.timezone)));
    let silence = format!(
        "{} mentiond silence --brand \"{}\" --for 2h --reason \"...\"",
        w.silence_hint,
        clean(&v.brand)
    );

    // Plain text.
    let mut text = String::new();
    text.push_str(&clean(&headline));
    text.push_str("\n\n");
    if let Some(s) = &share_line {
        text.push_str(s);
        text.push('\n');
    }
    text.push_str(&chance);
    text.push('\n');
    if let Some(h) = &held {
        text.push_str(h);
        text.push('\n');
    }
    text.push_str(&format!("\n{}:\n", w.series_title));
    text.push_str(&text_series(&v.series, v.timezone));
    text.push_str(&format!("\n{}:\n", w.worst_title));
    if v.worst.is_empty() {
        text.push_str(w.no_worst);
        text.push('\n');
    }
    for (i, m) in v.worst.iter().enumerate() {
        text.push_str(&format!(
            "\n{}. [{}] {} ({} {}, {}): {}\n",
            i + 1,
            clean(&m.source),
            clean(m.author.as_deref().unwrap_or("?")),
            w.reach,
            reach(m),
            m.compound.map(|c| format!("{c:.2}")).unwrap_or_default(),
            excerpt(&m.text, 280)
        ));
        if let Some(u) = m.url.as_deref().and_then(safe_url) {
            text.push_str(&format!("   {u}\n"));
        }
    }
    text.push_str(&format!(
        "\n{silence}\n\n-- \n{} · alert #{} · {}\n",
        w.footer,
        v.alert_id,
        local_date(v.fired_at, v.timezone)
    ));

    // HTML.
    let mut html = page_open(&subject);
    let banner = if v.severe { "#8b0000" } else { "#c62828" };
    html.push_str(&format!(
        "<tr><td style=\"background:{banner};color:#ffffff;padding:16px 24px;border-radius:6px 6px 0 0;font-size:18px;font-weight:bold\">{} · {}</td></tr>",
        esc(if v.severe { w.subject_severe } else { w.subject_alert }),
        esc(&v.brand)
    ));
    html.push_str(&format!("<tr><td style=\"padding:20px 24px 4px;font-size:16px;line-height:1.5\"><strong>{}</strong></td></tr>", esc(&headline)));
    if let Some(s) = &share_line {
        html.push_str(&format!(
            "<tr><td style=\"padding:4px 24px;font-size:14px\">{}</td></tr>",
            esc(s)
        ));
    }
    html.push_str(&format!(
        "<tr><td style=\"padding:4px 24px;font-size:14px;color:#444\">{}</td></tr>",
        esc(&chance)
    ));
    if let Some(h) = &held {
        html.push_str(&format!(
            "<tr><td style=\"padding:4px 24px;font-size:14px;color:#8a5a00\">{}</td></tr>",
            esc(h)
        ));
    }
    if chart_png.is_some() {
        html.push_str(&format!(
            "<tr><td style=\"padding:16px 24px 0\"><img src=\"cid:{CHART_CID}\" width=\"592\" alt=\"{}\" style=\"width:100%;max-width:592px;display:block;border:1px solid #e3e6ea\"></td></tr>",
            esc(w.series_title)
        ));
        html.push_str(&format!(
            "<tr><td style=\"padding:4px 24px 0;font-size:12px;color:#666\">{}</td></tr>",
            esc(w.chart_caption)
        ));
    }
    html.push_str(&format!(
        "<tr><td style=\"padding:20px 24px 8px;font-size:15px;font-weight:bold\">{}</td></tr>",
        esc(w.worst_title)
    ));
    if v.worst.is_empty() {
        html.push_str(&format!(
            "<tr><td style=\"padding:0 24px 8px;font-size:14px;color:#666\">{}</td></tr>",
            esc(w.no_worst)
        ));
    }
    for m in &v.worst {
        let link = post_link(m.url.as_deref(), w.open);
        html.push_str(&format!(
            "<tr><td style=\"padding:6px 24px\"><div style=\"border-left:3px solid #c62828;padding:4px 12px\">\
             <div style=\"font-size:12px;color:#666\">{} · <strong>{}</strong> · {} {} · {}{}</div>\
             <div style=\"font-size:14px;line-height:1.4;margin-top:2px\">{}</div></div></td></tr>",
            esc(&m.source),
            esc(m.author.as_deref().unwrap_or("?")),
            esc(w.reach),
            reach(m),
            esc(&m.compound.map(|c| format!("{c:.2}")).unwrap_or_default()),
            link,
            esc(&excerpt(&m.text, 280)),
        ));
    }
    html.push_str(&format!(
        "<tr><td style=\"padding:20px 24px;font-size:12px;color:#666;border-top:1px solid #eee\">{}<br><code>{}</code><br><br>{} · alert #{} · {}</td></tr>",
        esc(w.silence_hint),
        esc(&format!("mentiond silence --brand \"{}\" --for 2h --reason \"...\"", v.brand)),
        esc(w.footer),
        v.alert_id,
        esc(&local_date(v.fired_at, v.timezone))
    ));
    html.push_str(PAGE_CLOSE);
    Rendered {
        subject,
        text,
        html,
        images: chart_png
            .map(|png| InlineImage {
                cid: CHART_CID.to_string(),
                png,
            })
            .into_iter()
            .collect(),
    }
}

/// The "back to normal" notice.
pub fn recovery(v: &AlertView, resolved_at: DateTime<Utc>) -> Rendered {
    let w = words(v.language);
    let subject = clean(&format!("[mentiond] {}: {}", w.recovery_subject, v.brand));
    let hours = (resolved_at - v.fired_at).num_minutes() as f64 / 60.0;
    let since = match v.language {
        Lang::En => format!(
            "The alert of {} (#{}) lasted about {} h.",
            local_date(v.fired_at, v.timezone),
            v.alert_id,
            num(hours, Lang::En)
        ),
        Lang::It => format!(
            "L'allerta del {} (#{}) è durata circa {} ore.",
            local_date(v.fired_at, v.timezone),
            v.alert_id,
            num(hours, Lang::It)
        ),
    };
    let text = format!(
        "{}: {}\n{}\n\n-- \n{}\n",
        clean(&v.brand),
        w.recovery_body,
        since,
        w.footer
    );
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body style=\"font-family:Helvetica,Arial,sans-serif;color:#1d2330\">\
         <p style=\"font-size:16px\"><strong>{}</strong>: {}</p><p>{}</p><p style=\"font-size:12px;color:#666\">{}</p></body></html>",
        esc(&subject),
        esc(&v.brand),
        esc(w.recovery_body),
        esc(&since),
        esc(w.footer)
    );
    Rendered {
        subject,
        text,
        html,
        images: Vec::new(),
    }
}

/// The series as lines of text: the chart for readers without images.
fn text_series(bins: &[Bin], tz: Tz) -> String {
    let top = bins
        .iter()
        .map(|b| b.observed.max(b.expected))
        .fold(1.0f64, f64::max);
    let mut out = String::new();
    // Every second bin keeps the text short: one line per hour.
    for pair in bins.chunks(2) {
        let observed: f64 = pair.iter().map(|b| b.observed).sum();
        let expected: f64 = pair.iter().map(|b| b.expected).sum();
        let t = DateTime::from_timestamp(pair[0].t, 0).unwrap_or_default();
        let bar = "#".repeat(((observed / (2.0 * top)) * 30.0).round().max(0.0) as usize);
        let mark = if pair.iter().any(|b| b.highlight) {
            " <"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {} {:>5} / {:<6.1} {bar}{mark}\n",
            local(t, tz),
            observed,
            expected
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_and_escaping() {
        assert_eq!(clean("a\u{202E}b\u{2066}c\nd\u{7}"), "abcd");
        assert_eq!(
            esc("<script>\"x\"&'"),
            "&lt;script&gt;&quot;x&quot;&amp;&#x27;"
        );
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url("data:text/html,x"), None);
        assert_eq!(
            safe_url(" https://example.com/a?b=1 "),
            Some("https://example.com/a?b=1".into())
        );
        assert_eq!(excerpt("one two three four", 9), "one two…");
    }

    #[test]
    fn odds_in_words() {
        assert_eq!(odds(3e-7, Lang::En), "1 million");
        assert_eq!(odds(2e-4, Lang::En), "1,000");
        assert_eq!(odds(2e-4, Lang::It), "1.000");
        assert_eq!(odds(1e-30, Lang::It), "un miliardo");
    }
}
