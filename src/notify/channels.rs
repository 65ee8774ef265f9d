//! Chat and webhook messages: what each service expects, built once when the alert (or its
//! end, or a digest) is decided and stored in the outbox beside the e-mail; then delivered over
//! HTTP by the sender with the same retries.
//!
//! Every piece of untrusted text (posts, authors, URLs) is made inert for the format it goes
//! into: Slack's `plain_text` objects and escaped mrkdwn, Teams' `TextRun`s (never Markdown),
//! Mattermost's Markdown with every punctuation character escaped, ntfy's plain text; mentions
//! such as `@channel` and `@all` are broken with a zero-width space so that a post cannot page
//! the whole team.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::render::{self, AlertView};
use crate::config::Lang;
use crate::config::channels::{ChannelConfig, ChannelKind};

/// The version of the webhook payload schema (README, "Webhook payloads").
pub const WEBHOOK_SCHEMA_VERSION: u32 = 1;

/// A post shown as one of an alert's worst.
#[derive(Debug, Clone, PartialEq)]
pub struct PostLine {
    pub source: String,
    pub author: String,
    pub text: String,
    pub url: Option<String>,
    pub created_at: String,
    pub compound: Option<f64>,
}

/// What a channel message says, in the channel's language, before it is shaped for a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// `alert.fired`, `alert.resolved` or `digest.sent`.
    pub event: &'static str,
    pub title: String,
    /// Sentences, in order.
    pub lines: Vec<String>,
    pub posts: Vec<PostLine>,
    /// A command to paste (`mentiond silence ...`).
    pub command: Option<String>,
    pub critical: bool,
    /// The structured data of the webhook payload.
    pub data: Value,
}

fn words(lang: Lang) -> (&'static str, &'static str, &'static str, &'static str) {
    match lang {
        Lang::En => (
            "Worst posts",
            "To silence this brand's alerts for two hours:",
            "Back to normal",
            "open",
        ),
        Lang::It => (
            "Post peggiori",
            "Per silenziare gli avvisi di questo marchio per due ore:",
            "Tornato alla normalità",
            "apri",
        ),
    }
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

fn post_lines(view: &AlertView) -> Vec<PostLine> {
    view.worst
        .iter()
        .map(|m| PostLine {
            source: render::clean(&m.source),
            author: render::clean(m.author.as_deref().unwrap_or("?")),
            text: render::excerpt(&m.text, 280),
            url: m.url.as_deref().and_then(render::safe_url),
            created_at: m.created_at.clone(),
            compound: m.compound,
        })
        .collect()
}

/// The notice of an alert that fired. `view.language` is the channel's language.
pub fn fired(view: &AlertView) -> Notice {
    let rendered = render::alert(view, None);
    let title = rendered
        .subject
        .trim_start_matches("[mentiond] ")
        .to_string();
    let (_, silence_hint, _, _) = words(view.language);
    let mut lines: Vec<String> = rendered
        .text
        .split("\n\n")
        .next()
        .map(|headline| vec![headline.trim().to_string()])
        .unwrap_or_default();
    lines.push(format!(
        "p = {:.1e} · {} #{} · {}",
        view.p_value,
        if view.language == Lang::It {
            "avviso"
        } else {
            "alert"
        },
        view.alert_id,
        local(view.fired_at, view.timezone)
    ));
    let posts = post_lines(view);
    let severity = if view.severe { "critical" } else { "warning" };
    let data = json!({
        "alert_id": view.alert_id,
        "brand": view.brand,
        "severity": severity,
        "window_start": crate::mention::format_time(&view.window_start),
        "window_end": crate::mention::format_time(&view.window_end),
        "observed": view.observed,
        "expected": view.expected,
        "p_value": view.p_value,
        "worst_posts": posts.iter().map(|p| json!({
            "source": p.source, "author": p.author, "text": p.text, "url": p.url,
            "created_at": p.created_at, "compound": p.compound,
        })).collect::<Vec<_>>(),
    });
    Notice {
        event: "alert.fired",
        title,
        lines: vec![lines.join("\n")]
            .into_iter()
            .chain(std::iter::once(silence_hint.to_string()))
            .collect(),
        posts,
        command: Some(format!(
            "mentiond silence --brand \"{}\" --for 2h --reason \"...\"",
            render::clean(&view.brand)
        )),
        critical: view.severe,
        data,
    }
}

/// A made-up alert for `mentiond channels test`: what a real one looks like, marked as a test.
pub fn sample_alert(brand: &str, language: Lang, timezone: Tz, now: DateTime<Utc>) -> AlertView {
    let post = |n: u32, text: &str| crate::store::MentionRow {
        source: "mastodon".into(),
        external_id: format!("test-{n}"),
        brand: brand.to_string(),
        url: Some(format!("https://example.com/mentiond-test/{n}")),
        author: Some(format!("customer{n}")),
        text: text.to_string(),
        lang: Some(language.code().into()),
        created_at: crate::mention::format_time(&(now - chrono::Duration::minutes(10 * n as i64))),
        compound: Some(-0.8),
        label: Some("negative".into()),
        pos: Some(0.0),
        neu: Some(0.5),
        neg: Some(0.5),
        author_followers: Some(120),
        reply_to: None,
        engagement: None,
        lang_origin: Some("post".into()),
        scorer_version: "test".into(),
    };
    let texts = match language {
        Lang::En => [
            "(test) My order never arrived and support does not answer.",
            "(test) Charged twice this morning, awful.",
        ],
        Lang::It => [
            "(prova) Il mio ordine non è mai arrivato e l'assistenza non risponde.",
            "(prova) Addebito doppio stamattina, pessimo.",
        ],
    };
    AlertView {
        alert_id: 0,
        brand: brand.to_string(),
        fired_at: now,
        window_start: now - chrono::Duration::minutes(30),
        window_end: now,
        observed: 24.0,
        expected: 3.0,
        p_value: 1e-9,
        p_threshold: 1.5e-4,
        threshold_rule: "alpha".into(),
        window_total: Some(40.0),
        usual_share: Some(0.12),
        severe: false,
        worst: vec![post(1, texts[0]), post(2, texts[1])],
        series: Vec::new(),
        language,
        timezone,
        held_until: None,
    }
}

/// The notice that an alert's episode is over; it names the alert it ends.
pub fn resolved(view: &AlertView, resolved_at: DateTime<Utc>) -> Notice {
    let rendered = render::recovery(view, resolved_at);
    let (_, _, back, _) = words(view.language);
    let title = rendered
        .subject
        .trim_start_matches("[mentiond] ")
        .to_string();
    let first = rendered
        .text
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let severity = if view.severe { "critical" } else { "warning" };
    Notice {
        event: "alert.resolved",
        title: if title.is_empty() {
            format!("{back}: {}", view.brand)
        } else {
            title
        },
        lines: vec![format!(
            "{first}\n({} #{} · {})",
            if view.language == Lang::It {
                "avviso"
            } else {
                "alert"
            },
            view.alert_id,
            local(view.fired_at, view.timezone)
        )],
        posts: Vec::new(),
        command: None,
        critical: view.severe,
        data: json!({
            "alert_id": view.alert_id,
            "brand": view.brand,
            "severity": severity,
            "window_start": crate::mention::format_time(&view.window_start),
            "window_end": crate::mention::format_time(&view.window_end),
            "observed": view.observed,
            "expected": view.expected,
            "p_value": view.p_value,
            "fired_at": crate::mention::format_time(&view.fired_at),
            "resolved_at": crate::mention::format_time(&resolved_at),
        }),
    }
}

/// The notice of a complaint left unanswered (`[responses] alert_unanswered_after`).
pub fn unanswered(
    brand: &str,
    row: &crate::store::MentionRow,
    waited_s: f64,
    language: Lang,
    timezone: Tz,
) -> Notice {
    let waited = crate::responses::human_in(Some(waited_s), language);
    let created = DateTime::parse_from_rfc3339(&row.created_at)
        .map(|t| t.to_utc())
        .unwrap_or_default();
    let title = match language {
        Lang::En => format!("Unanswered complaint: {brand}, {waited} without a reply"),
        Lang::It => format!("Reclamo senza risposta: {brand}, da {waited}"),
    };
    let line = match language {
        Lang::En => format!("Posted {} ({}).", local(created, timezone), timezone.name()),
        Lang::It => format!(
            "Pubblicato il {} ({}).",
            local(created, timezone),
            timezone.name()
        ),
    };
    let post = PostLine {
        source: render::clean(&row.source),
        author: render::clean(row.author.as_deref().unwrap_or("?")),
        text: render::excerpt(&row.text, 280),
        url: row.url.as_deref().and_then(render::safe_url),
        created_at: row.created_at.clone(),
        compound: row.compound,
    };
    Notice {
        event: "complaint.unanswered",
        title,
        lines: vec![line],
        data: json!({
            "brand": brand,
            "unanswered_for_s": waited_s,
            "post": {"source": post.source, "external_id": row.external_id, "author": post.author,
                     "text": post.text, "url": post.url, "created_at": post.created_at, "compound": post.compound},
        }),
        posts: vec![post],
        command: None,
        critical: false,
    }
}

/// The notice of a digest: its subject and the short text version's summary lines.
pub fn digest(
    name: &str,
    subject: &str,
    summary: &[String],
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
) -> Notice {
    Notice {
        event: "digest.sent",
        title: subject.trim_start_matches("[mentiond] ").to_string(),
        lines: summary.to_vec(),
        posts: Vec::new(),
        command: None,
        critical: false,
        data: json!({
            "digest": name,
            "period_start": crate::mention::format_time(&period_start),
            "period_end": crate::mention::format_time(&period_end),
            "summary": summary,
        }),
    }
}

/// The outbox row of `notice` for `channel`: its JSON body, and an id that stays the same
/// across retries (a webhook's `webhook-id`, the receiver's idempotency key).
#[allow(clippy::too_many_arguments)]
pub fn message(
    channel: &ChannelConfig,
    kind: &'static str,
    brand: &str,
    what: &str,
    notice: &Notice,
    lang: Lang,
    now: DateTime<Utc>,
    not_before: DateTime<Utc>,
) -> crate::store::NewMessage {
    let body = payload(channel.kind, notice, channel.topic.as_deref(), lang, now);
    let slug: String = channel
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    crate::store::NewMessage {
        kind,
        brand: (!brand.is_empty()).then(|| brand.to_string()),
        // Two names may give one slug ("Ops Team", "ops-team"): the hash of the exact name keeps
        // their ids apart (an id is unique in the outbox).
        message_id: format!(
            "msg_{what}-{slug}-{:08x}-{}",
            super::name_hash(&channel.name),
            now.timestamp_millis()
        ),
        sender: String::new(),
        recipients: Vec::new(),
        subject: notice.title.clone(),
        message: serde_json::to_vec(&body).expect("a JSON value serialises"),
        html: None,
        created_at: now,
        not_before,
        channel: Some(channel.name.clone()),
    }
}

// ---- making text inert ----

/// `@channel`, `@here`, `@all`... broken with a zero-width space: text from a post never
/// notifies a whole team.
fn defuse_mentions(s: &str) -> String {
    s.replace('@', "@\u{200B}")
}

/// Slack mrkdwn: the three characters Slack asks to escape.
fn slack_escape(s: &str) -> String {
    defuse_mentions(&render::clean(s))
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown (Mattermost): every ASCII punctuation character escaped with a backslash, which
/// CommonMark allows for all of them.
fn markdown_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in defuse_mentions(&render::clean(s)).chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A URL safe inside `<url|label>` (Slack) or `[label](url)` (Markdown): http(s) only and
/// without the characters that would end the link.
fn link_url(u: &str) -> Option<String> {
    short_url(u).filter(|u| !u.contains(['|', '>', '<', ')', '(', ' ', '"', '\\']))
}

/// An http(s) URL short enough for every service (Slack refuses a button URL over 3,000
/// characters, and with it the whole message): a longer one is left out, the post still quoted.
fn short_url(u: &str) -> Option<String> {
    render::safe_url(u).filter(|u| u.len() <= 2000)
}

// ---- shaping for each service ----

/// The JSON body for `kind`.
pub fn payload(
    kind: ChannelKind,
    notice: &Notice,
    topic: Option<&str>,
    lang: Lang,
    now: DateTime<Utc>,
) -> Value {
    match kind {
        ChannelKind::Slack => slack(notice, lang),
        ChannelKind::Mattermost => mattermost(notice, lang),
        ChannelKind::Teams => teams(notice, lang),
        ChannelKind::Ntfy => ntfy(notice, topic.unwrap_or_default(), lang),
        ChannelKind::Webhook => json!({
            "type": notice.event,
            "version": WEBHOOK_SCHEMA_VERSION,
            "timestamp": crate::mention::format_time(&now),
            "data": notice.data,
        }),
    }
}

fn slack(n: &Notice, lang: Lang) -> Value {
    let (worst, _, _, open) = words(lang);
    let emoji = match (n.event, n.critical) {
        ("alert.fired", true) => ":rotating_light: ",
        ("alert.fired", false) => ":warning: ",
        ("alert.resolved", _) => ":white_check_mark: ",
        _ => ":bar_chart: ",
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": excerpt_chars(&defuse_mentions(&render::clean(&n.title)), 150), "emoji": false}
    })];
    // All the lines in one section: a digest's lines (one per brand and per alert) would
    // otherwise pass Slack's 50 blocks, and Slack refuses the whole message.
    if !n.lines.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "plain_text", "text": excerpt_chars(&defuse_mentions(&clean_lines(&n.lines.join("\n"))), 3000), "emoji": false}
        }));
    }
    if !n.posts.is_empty() {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{worst}*")}}),
        );
        for p in &n.posts {
            let mut block = json!({
                "type": "section",
                "text": {"type": "plain_text", "emoji": false, "text": excerpt_chars(&defuse_mentions(&render::clean(&format!(
                    "“{}” — {} ({})", p.text, p.author, p.source
                ))), 3000)}
            });
            if let Some(u) = p.url.as_deref().and_then(link_url) {
                block["accessory"] = json!({
                    "type": "button",
                    "text": {"type": "plain_text", "text": open},
                    "url": u
                });
            }
            blocks.push(block);
        }
    }
    if let Some(c) = &n.command {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("`{}`", slack_escape(&c.replace('`', "'")))}}));
    }
    json!({
        // The notification's text (and what clients without blocks show), as mrkdwn.
        "text": format!("{emoji}{}", slack_escape(&n.title)),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

fn mattermost(n: &Notice, lang: Lang) -> Value {
    let (worst, _, _, _) = words(lang);
    let mut text = format!("#### {}\n", markdown_escape(&n.title));
    for line in &n.lines {
        for l in line.lines() {
            text.push_str(&markdown_escape(l));
            text.push_str("  \n");
        }
    }
    if !n.posts.is_empty() {
        text.push_str(&format!("\n**{worst}**\n"));
        for p in &n.posts {
            text.push_str(&format!(
                "> {} — {} ({})",
                markdown_escape(&p.text),
                markdown_escape(&p.author),
                markdown_escape(&p.source)
            ));
            if let Some(u) = p.url.as_deref().and_then(link_url) {
                text.push_str(&format!(" [↗]({u})"));
            }
            text.push_str("\n\n");
        }
    }
    if let Some(c) = &n.command {
        // A code span shows its content literally; a backtick inside would end it.
        text.push_str(&format!("\n`{}`\n", render::clean(&c.replace('`', "'"))));
    }
    json!({ "text": text, "username": "mentiond" })
}

fn teams(n: &Notice, lang: Lang) -> Value {
    let (worst, _, _, open) = words(lang);
    // TextRuns are never read as Markdown: untrusted text stays text.
    let run = |text: &str, weight: Option<&str>| {
        let mut r = json!({"type": "TextRun", "text": render::clean(text)});
        if let Some(w) = weight {
            r["weight"] = json!(w);
        }
        r
    };
    let mut body = vec![json!({
        "type": "RichTextBlock",
        "inlines": [{"type": "TextRun", "text": render::clean(&n.title), "weight": "Bolder", "size": "Medium",
                     "color": if n.event == "alert.fired" { "Attention" } else { "Default" }}]
    })];
    if !n.lines.is_empty() {
        for line in n.lines.join("\n").lines() {
            body.push(json!({"type": "RichTextBlock", "inlines": [run(line, None)]}));
        }
    }
    let mut actions = Vec::new();
    if !n.posts.is_empty() {
        body.push(json!({"type": "RichTextBlock", "inlines": [run(worst, Some("Bolder"))]}));
        for (i, p) in n.posts.iter().enumerate() {
            body.push(json!({
                "type": "RichTextBlock",
                "inlines": [run(&format!("{}. “{}” — {} ({})", i + 1, p.text, p.author, p.source), None)]
            }));
            if let Some(u) = p.url.as_deref().and_then(short_url) {
                if actions.len() < 5 {
                    actions.push(json!({"type": "Action.OpenUrl", "title": format!("{open} {}", i + 1), "url": u}));
                }
            }
        }
    }
    if let Some(c) = &n.command {
        body.push(json!({"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": render::clean(c), "fontType": "Monospace"}]}));
    }
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = json!(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }]
    })
}

fn ntfy(n: &Notice, topic: &str, lang: Lang) -> Value {
    let (worst, _, _, _) = words(lang);
    let mut message = clean_lines(&n.lines.join("\n"));
    if !n.posts.is_empty() {
        message.push_str(&format!("\n\n{worst}:"));
        for p in &n.posts {
            message.push_str(&format!(
                "\n“{}” — {} ({})",
                render::clean(&p.text),
                render::clean(&p.author),
                render::clean(&p.source)
            ));
        }
    }
    if let Some(c) = &n.command {
        message.push_str(&format!("\n\n{}", render::clean(c)));
    }
    let (priority, tags) = match (n.event, n.critical) {
        ("alert.fired", true) => (5, vec!["rotating_light"]),
        ("alert.fired", false) => (4, vec!["warning"]),
        ("alert.resolved", _) => (3, vec!["white_check_mark"]),
        _ => (2, vec!["bar_chart"]),
    };
    let mut v = json!({
        "topic": topic,
        "title": excerpt_bytes(&render::clean(&n.title), 250),
        // Plain text (no `markdown`): nothing in a post is interpreted. ntfy turns a message
        // over 4,096 bytes into an attachment.
        "message": excerpt_bytes(&message, 3800),
        "priority": priority,
        "tags": tags,
    });
    if let Some(u) = n
        .posts
        .iter()
        .find_map(|p| p.url.as_deref().and_then(render::safe_url))
    {
        v["click"] = json!(u);
    }
    v
}

/// [`render::clean`] line by line: control characters go, line breaks stay.
fn clean_lines(s: &str) -> String {
    s.lines().map(render::clean).collect::<Vec<_>>().join("\n")
}

/// At most `max` bytes of UTF-8, cut at a character boundary (ntfy counts bytes).
fn excerpt_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn excerpt_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

// ---- Standard Webhooks signatures ----

/// The key of a `whsec_<base64>` secret (a bare base64 secret is accepted too).
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|k| !k.is_empty())
}

/// `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each secret,
/// separated by spaces (several during a key rotation).
pub fn sign(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = Vec::with_capacity(id.len() + body.len() + 24);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    secrets
        .iter()
        .filter_map(|s| signing_key(s))
        .map(|key| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
            let tag = ring::hmac::sign(&key, &signed);
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- delivery ----

/// How a POST to a channel ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered(u16),
    /// 429 (with the time the service asked us to wait until), 408, 5xx, or no answer.
    Retry {
        error: String,
        not_before: Option<DateTime<Utc>>,
    },
    /// Any other 4xx: the same request would be refused again.
    Refused(String),
}

/// One POST of `body` to `channel`, signed for a webhook, with `id` as the idempotency key.
pub async fn post(
    client: &reqwest::Client,
    channel: &ChannelConfig,
    id: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Outcome {
    let mut request = client
        .post(channel.url.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_secs(15))
        .body(body.to_vec());
    match channel.kind {
        ChannelKind::Webhook => {
            let ts = now.timestamp();
            let secrets: Vec<&str> = channel.secrets.iter().map(|s| s.expose_secret()).collect();
            request = request
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string());
            if !secrets.is_empty() {
                request = request.header("webhook-signature", sign(&secrets, id, ts, body));
            }
        }
        ChannelKind::Ntfy => {
            if let Some(token) = channel.secrets.first() {
                request = request.bearer_auth(token.expose_secret());
            }
        }
        _ => {}
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                // reqwest's message may hold the URL, whose path is a secret.
                error: format!("no answer from {}: {}", channel.endpoint(), error_kind(&e)),
                not_before: None,
            };
        }
    };
    let status = response.status();
    let retry_at = crate::sources::http::retry_after(response.headers(), now);
    let bytes = response.bytes().await.unwrap_or_default();
    let snippet = crate::sources::http::body_snippet(&bytes[..bytes.len().min(4096)]);
    let code = status.as_u16();
    if status.is_success() {
        Outcome::Delivered(code)
    } else if code == 429 || code == 408 || status.is_server_error() {
        Outcome::Retry {
            error: format!("HTTP {code}: {snippet}"),
            not_before: retry_at,
        }
    } else {
        Outcome::Refused(format!("HTTP {code}: {snippet}"))
    }
}

fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "the request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_whose_names_share_a_slug_get_distinct_message_ids() {
        let channel = |name: &str| ChannelConfig {
            name: name.into(),
            kind: ChannelKind::Webhook,
            url: secrecy::SecretString::from("https://x.example/hook".to_string()),
            topic: None,
            secrets: Vec::new(),
            language: None,
            critical_only: false,
        };
        let notice = digest("d", "s", &[], Utc::now(), Utc::now());
        let now = Utc::now();
        let a = message(
            &channel("Ops Team"),
            "digest",
            "",
            "digest-d",
            &notice,
            Lang::En,
            now,
            now,
        );
        let b = message(
            &channel("ops-team"),
            "digest",
            "",
            "digest-d",
            &notice,
            Lang::En,
            now,
            now,
        );
        assert_ne!(a.message_id, b.message_id);
    }

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        assert_eq!(
            sign(
                &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // Two secrets during a rotation: two signatures, the old one still valid.
        let two = sign(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25k"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        let parts: Vec<&str> = two.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(signing_key("whsec_not base64!").is_none());
    }

    #[test]
    fn hostile_text_is_inert_in_every_format() {
        let hostile = "<!channel> @here *bold* [x](javascript:alert(1)) <script>alert(1)</script> `rm -rf` \u{202E}evil";
        let notice = Notice {
            event: "alert.fired",
            title: format!("Acme {hostile}"),
            lines: vec![hostile.to_string()],
            posts: vec![PostLine {
                source: "x".into(),
                author: "@all".into(),
                text: hostile.into(),
                url: Some("javascript:alert(1)".into()),
                created_at: "2026-03-01T09:00:00.000Z".into(),
                compound: Some(-0.9),
            }],
            command: Some("mentiond silence --brand \"Acme\" --for 2h --reason \"...\"".into()),
            critical: true,
            data: json!({}),
        };
        let now = Utc::now();
        // Slack: plain_text shows text as it is; mrkdwn (the notification text, headings) is
        // escaped; no link to anything but http(s).
        let slack = payload(ChannelKind::Slack, &notice, None, Lang::En, now);
        let all = slack.to_string();
        assert!(
            !all.contains('\u{202E}')
                && !all.contains("@here")
                && !all.contains("javascript:alert(1)\"}"),
            "{all}"
        );
        let mut mrkdwn = vec![slack["text"].as_str().unwrap().to_string()];
        for b in slack["blocks"].as_array().unwrap() {
            if b["text"]["type"] == "mrkdwn" {
                mrkdwn.push(b["text"]["text"].as_str().unwrap().to_string());
            }
            assert!(
                b.get("accessory").is_none(),
                "no button to a javascript: URL: {b}"
            );
        }
        for m in &mrkdwn {
            assert!(!m.contains('<') && !m.contains('>'), "{m}");
        }
        let mm = payload(ChannelKind::Mattermost, &notice, None, Lang::En, now);
        let text = mm["text"].as_str().unwrap();
        assert!(!text.contains("[x](javascript"), "{text}");
        assert!(!text.contains("@all") && !text.contains("@here"), "{text}");
        assert!(text.contains("\\*bold\\*"), "{text}");
        // Teams: TextRuns only (never Markdown), no action to a javascript: URL.
        let teams = payload(ChannelKind::Teams, &notice, None, Lang::En, now);
        let card = &teams["attachments"][0]["content"];
        assert!(card.get("actions").is_none(), "{card}");
        let all = teams.to_string();
        assert!(
            !all.contains('\u{202E}') && !all.contains("\"TextBlock\""),
            "{all}"
        );
        let ntfy = payload(ChannelKind::Ntfy, &notice, Some("t"), Lang::En, now);
        assert!(
            ntfy.get("markdown").is_none() && ntfy.get("click").is_none(),
            "{ntfy}"
        );
        assert!(!ntfy["message"].as_str().unwrap().contains('\u{202E}'));
    }
}
