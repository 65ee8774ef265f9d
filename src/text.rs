//! Text normalisation shared by every stage: HTML to plain text, Unicode NFC, whitespace, and the
//! case- and accent-insensitive folding the matcher works on.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// What the pipeline stores as a mention's text: HTML converted to text (only when the input
/// looks like markup), entities decoded, NFC, control characters removed, whitespace collapsed.
pub fn normalise(raw: &str) -> String {
    let text = if looks_like_html(raw) {
        html_to_text(raw)
    } else {
        html_escape::decode_html_entities(raw).into_owned()
    };
    let nfc: String = text.nfc().collect();
    collapse_whitespace(&nfc)
}

/// Collapses runs of whitespace (and control characters) into one space and trims the ends.
/// Text that cannot act on a terminal: control characters (escape sequences, bells, carriage
/// returns) and bidirectional overrides become U+FFFD, tabs and line breaks a space.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || is_bidi_control(c);
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            c if unsafe_char(c) => '\u{FFFD}',
            c => c,
        })
        .collect::<String>()
        .into()
}

/// Characters that reorder the text around them (Trojan Source, CVE-2021-42574).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// True when the text contains something that can only be an HTML tag or a paragraph of
/// markup. Plain text such as `I <3 Acme` or `a < b` is left alone.
pub fn looks_like_html(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr(b'<', &bytes[i..]) {
        let at = i + off;
        if tag_end(s, at).is_some() {
            return true;
        }
        i = at + 1;
    }
    false
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// If a tag starts at `start` (which holds `<`), returns the index just past its `>`.
fn tag_end(s: &str, start: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let next = *bytes.get(start + 1)?;
    if !(next.is_ascii_alphabetic() || next == b'/' || next == b'!') {
        return None;
    }
    if s[start..].starts_with("<!--") {
        return s[start + 4..].find("-->").map(|p| start + 4 + p + 3);
    }
    if next == b'/'
        && !bytes
            .get(start + 2)
            .is_some_and(|b| b.is_ascii_alphabetic())
    {
        return None;
    }
    let mut quote: Option<u8> = None;
    // A tag is short: a `<` with no `>` nearby is text, and scanning no further keeps a long
    // text full of `<x` linear.
    let end = bytes.len().min(start + 2000);
    for (i, &b) in bytes.iter().enumerate().take(end).skip(start + 1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i + 1),
            None if b == b'<' => return None,
            None => {}
        }
    }
    None
}

/// Tags after which the text of the next element starts a new line.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "br"
            | "div"
            | "li"
            | "ul"
            | "ol"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "pre"
            | "tr"
            | "td"
            | "th"
            | "hr"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "table"
    )
}

struct Tag<'a> {
    name: String,
    closing: bool,
    attrs: &'a str,
}

fn parse_tag(raw: &str) -> Tag<'_> {
    // raw is the text between `<` and `>`
    let inner = raw.trim_end_matches('/');
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name_end = inner
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(inner.len());
    Tag {
        name: inner[..name_end].to_ascii_lowercase(),
        closing,
        attrs: &inner[name_end..],
    }
}

/// Finds attribute `name` in an attribute string (`class="a b" href='x' data-x=y`).
fn attr(attrs: &str, name: &str) -> Option<String> {
    let bytes = attrs.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let key_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = &attrs[key_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let q = bytes[i];
                let v_start = i + 1;
                i = v_start;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
                value = &attrs[v_start..i.min(attrs.len())];
                i += 1;
            } else {
                let v_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = &attrs[v_start..i];
            }
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(html_escape::decode_html_entities(value).into_owned());
        }
        if key.is_empty() {
            i += 1;
        }
    }
    None
}

/// `https://mastodon.social/@acme` -> `acme@mastodon.social`: how fediverse servers link a
/// mention. Rendering the full handle keeps `@acme` on two instances apart.
fn fediverse_handle(href: &str) -> Option<String> {
    let url = url::Url::parse(href).ok()?;
    let host = url.host_str()?;
    let user = url.path().strip_prefix("/@")?.trim_end_matches('/');
    if user.is_empty() || user.contains('/') {
        return None;
    }
    // Links to remote accounts look like /@user@other.host
    Some(if user.contains('@') {
        user.to_string()
    } else {
        format!("{user}@{host}")
    })
}

/// Converts an HTML fragment (a Mastodon status, a feed entry) to plain text. Block elements
/// become line breaks, `script`/`style` are dropped, entities are decoded, and fediverse
/// mention links are rendered as full handles (`@user@host`).
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    let mut skip_until: Option<&'static str> = None;
    // While inside <a class="mention">, the handle to print instead of the link text.
    let mut mention_link: Option<(String, usize)> = None;
    while i < html.len() {
        let rest = &html[i..];
        let Some(lt) = rest.find('<') else {
            push_text(&mut out, rest, skip_until.is_some());
            break;
        };
        push_text(&mut out, &rest[..lt], skip_until.is_some());
        let at = i + lt;
        let Some(end) = tag_end(html, at) else {
            push_text(&mut out, "<", skip_until.is_some());
            i = at + 1;
            continue;
        };
        i = end;
        if html[at..].starts_with("<!--") {
            continue;
        }
        let tag = parse_tag(&html[at + 1..end - 1]);
        if let Some(until) = skip_until {
            if tag.closing && tag.name == until {
                skip_until = None;
            }
            continue;
        }
        match tag.name.as_str() {
            "script" | "style" | "template" if !tag.closing => {
                skip_until = Some(match tag.name.as_str() {
                    "script" => "script",
                    "style" => "style",
                    _ => "template",
                });
            }
            "a" if !tag.closing => {
                let class = attr(tag.attrs, "class").unwrap_or_default();
                let is_mention = class.split_whitespace().any(|c| c == "mention")
                    && !class.split_whitespace().any(|c| c == "hashtag");
                if is_mention {
                    if let Some(handle) = attr(tag.attrs, "href").and_then(|h| fediverse_handle(&h))
                    {
                        mention_link = Some((handle, out.len()));
                    }
                }
            }
            "a" => {
                if let Some((handle, start)) = mention_link.take() {
                    out.truncate(start);
                    out.push('@');
                    out.push_str(&handle);
                }
            }
            name if is_block(name) => out.push('\n'),
            "img" => {
                // Custom emoji and inline images: keep their alt text (":blobcat:").
                if let Some(alt) = attr(tag.attrs, "alt") {
                    out.push_str(&alt);
                }
            }
            _ => {}
        }
    }
    out
}

fn push_text(out: &mut String, text: &str, skipping: bool) {
    if skipping || text.is_empty() {
        return;
    }
    out.push_str(&html_escape::decode_html_entities(text));
}

/// Case- and accent-insensitive form used for matching: NFD, combining marks removed,
/// lowercase, a few letters without decomposition spelled out (`ß` -> `ss`, `ø` -> `o`), and
/// typographic apostrophes made ASCII. `Caffè` and `CAFFE` both fold to `caffe`.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'ı' => out.push('i'),
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => out.push('\''),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_left_alone_but_tidied() {
        assert_eq!(
            normalise("  I <3 Acme\n\n and a < b  "),
            "I <3 Acme and a < b"
        );
        assert_eq!(normalise("AT&T &amp; friends"), "AT&T & friends");
    }

    #[test]
    fn mastodon_html_becomes_text() {
        let html = r#"<p>Loving <a href="https://example.social/tags/acme" class="mention hashtag" rel="tag">#<span>acme</span></a> coffee</p><p>cc <span class="h-card"><a href="https://mastodon.social/@acme" class="u-url mention">@<span>acme</span></a></span> &amp; <a href="https://x.example/@bob@other.example" class="u-url mention">@<span>bob</span></a><br>see <a href="https://acme.example/x"><span class="invisible">https://</span><span class="">acme.example/x</span></a></p>"#;
        assert_eq!(
            normalise(html),
            "Loving #acme coffee cc @acme@mastodon.social & @bob@other.example see https://acme.example/x"
        );
    }

    #[test]
    fn scripts_and_comments_are_dropped() {
        assert_eq!(
            normalise("<div>a<script>alert('x<y')</script><!-- c -->b</div>"),
            "ab"
        );
    }

    #[test]
    fn nfc_and_folding() {
        let decomposed = "Caffe\u{300}";
        assert_eq!(normalise(decomposed), "Caffè");
        assert_eq!(fold("Caffè"), "caffe");
        assert_eq!(fold("CAFFÈ STRAßE"), "caffe strasse");
        assert_eq!(fold("l’app"), "l'app");
    }
}
