//! The customer-voice tokeniser: lowercase words, numbers, emoji and the punctuation that closes
//! a clause, with the parts of a post that carry no sentiment (links, handles, the `#` of a
//! hashtag, digits) folded into placeholders so that "2 hours" and "45 minutes" look alike.

use std::borrow::Cow;
use std::ops::Range;

use unicode_normalization::UnicodeNormalization;

/// The language whose conventions the tokeniser follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    It,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::It => "it",
        }
    }
}

/// What a token is; words are the only kind whose text varies freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    /// Any number (`#` in the lexicon): `45`, `14:02`, `1.5`.
    Number,
    /// An ordinal written with digits (`3rd`, `5th`, `3°`): `#th` in the lexicon.
    Ordinal,
    /// A link.
    Url,
    /// An @-handle.
    User,
    Emoji,
    /// `.`, `,`, `;`, `:`, `!`, `?`, `(`, `)`: a run of the same mark is one token.
    Punct,
}

/// Placeholder texts of the folded kinds.
pub const NUMBER: &str = "#";
pub const ORDINAL: &str = "#th";
pub const URL: &str = "_url_";
pub const USER: &str = "_user_";

/// Tokens of one text, their texts kept in one buffer.
#[derive(Debug, Default)]
pub struct Tokens {
    buf: String,
    spans: Vec<(Range<u32>, Kind)>,
    /// [`super::features::fnv`] of each token's text, computed once.
    hashes: Vec<u64>,
}

impl Tokens {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn text(&self, i: usize) -> &str {
        let r = &self.spans[i].0;
        &self.buf[r.start as usize..r.end as usize]
    }

    pub fn kind(&self, i: usize) -> Kind {
        self.spans[i].1
    }

    /// The hash of token `i`'s text.
    pub fn hash(&self, i: usize) -> u64 {
        self.hashes[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Kind)> + '_ {
        (0..self.len()).map(|i| (self.text(i), self.kind(i)))
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
        self.hashes.clear();
    }

    fn push(&mut self, text: &str, kind: Kind) {
        let start = self.buf.len() as u32;
        self.buf.push_str(text);
        self.spans.push((start..self.buf.len() as u32, kind));
        self.hashes.push(super::features::fnv(text));
    }

    /// Appends a lowercase word, with letters repeated three times or more cut to two
    /// ("sooo" -> "soo", "noooo" -> "noo").
    fn push_word(&mut self, word: &str) {
        let start = self.buf.len();
        let (mut last, mut run) = ('\0', 0);
        let mut keep = |c: char, buf: &mut String| {
            if c == last {
                run += 1;
                if run >= 3 && c.is_alphabetic() {
                    return;
                }
            } else {
                last = c;
                run = 1;
            }
            buf.push(c);
        };
        if word.is_ascii() {
            for b in word.bytes() {
                keep(char::from(b.to_ascii_lowercase()), &mut self.buf);
            }
        } else {
            for c in word.chars().flat_map(char::to_lowercase) {
                keep(c, &mut self.buf);
            }
        }
        let end = self.buf.len();
        self.spans.push((start as u32..end as u32, Kind::Word));
        self.hashes
            .push(super::features::fnv(&self.buf[start..end]));
    }
}

const APOSTROPHES: &[char] = &['\u{2019}', '\u{2018}', '\u{02BC}', '\u{0060}', '\u{00B4}'];

/// Presentation selectors, joiners and skin tones: no meaning of their own.
fn is_modifier(c: char) -> bool {
    matches!(
        c,
        '\u{FE0E}' | '\u{FE0F}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}'
    )
}

/// Pictographs and symbols that people use as words (emoji, ❤, ⭐, ✈).
pub fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF | 0x2190..=0x21FF)
}

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic() || c == '_';
    }
    c.is_alphanumeric() && !c.is_numeric()
}

/// Tokenises `text` into `out`.
pub fn tokenize(text: &str, lang: Lang, out: &mut Tokens) {
    out.clear();
    let mut text: Cow<str> = if text.is_ascii()
        || unicode_normalization::is_nfc_quick(text.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    };
    if !text.is_ascii() && text.contains(APOSTROPHES) {
        text = Cow::Owned(text.replace(APOSTROPHES, "'"));
    }
    let t = text.as_ref();
    let b = t.as_bytes();
    let n = t.len();
    let mut i = 0usize;
    // ASCII bytes decode themselves; only the rest goes through UTF-8 decoding.
    let char_at = |i: usize| match b.get(i) {
        Some(&x) if x < 0x80 => char::from(x),
        Some(_) => t[i..].chars().next().unwrap_or('\0'),
        None => '\0',
    };
    while i < n {
        let c = char_at(i);
        let w = c.len_utf8();
        if c.is_whitespace() || is_modifier(c) {
            i += w;
            continue;
        }
        // Links: up to the next space.
        if (c == 'h' || c == 'H' || c == 'w' || c == 'W') && starts_link(&b[i..]) {
            let end = t[i..].find(char::is_whitespace).map_or(n, |e| i + e);
            out.push(URL, Kind::Url);
            i = end;
            continue;
        }
        if c == '@' {
            let rest = &t[i + 1..];
            let len = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '.'))
                .unwrap_or(rest.len());
            // A handle, not an e-mail's domain or a lone "@".
            let handle = rest[..len].trim_end_matches('.');
            if !handle.is_empty() {
                out.push(USER, Kind::User);
                i += 1 + handle.len();
                continue;
            }
            i += 1;
            continue;
        }
        if c == '#' {
            // A hashtag reads as its word; "#12345" (an order number) as a number.
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c.is_numeric() {
            let mut j = i;
            while j < n {
                let d = char_at(j);
                if d.is_numeric() {
                    j += d.len_utf8();
                } else if matches!(d, '.' | ',' | ':') && j + 1 < n && char_at(j + 1).is_numeric() {
                    j += 1;
                } else {
                    break;
                }
            }
            let suffix_len = ordinal_suffix(&t[j..], lang);
            if suffix_len > 0 {
                out.push(ORDINAL, Kind::Ordinal);
                i = j + suffix_len;
            } else {
                out.push(NUMBER, Kind::Number);
                i = j;
            }
            continue;
        }
        if is_word_char(c) {
            let mut j = i;
            while j < n {
                let d = char_at(j);
                if is_word_char(d) {
                    j += d.len_utf8();
                    continue;
                }
                // An apostrophe or hyphen inside a word keeps it whole ("don't", "e-mail"),
                // except that Italian elides articles and prepositions into the next word:
                // "l'assistenza" is "l'" and "assistenza".
                if (d == '\'' || d == '-') && j + 1 < n && is_word_char(char_at(j + 1)) {
                    if d == '\'' && lang == Lang::It {
                        j += 1;
                        break;
                    }
                    j += 1;
                    continue;
                }
                break;
            }
            // Italian truncations keep their apostrophe: "po'", "un po'".
            if lang == Lang::It && j < n && b[j] == b'\'' && t[i..j].eq_ignore_ascii_case("po") {
                j += 1;
            }
            out.push_word(&t[i..j]);
            i = j;
            continue;
        }
        if is_pictograph(c) {
            let mut s = [0u8; 4];
            out.push(c.encode_utf8(&mut s), Kind::Emoji);
            i += w;
            continue;
        }
        if c == '/'
            && b.get(i + 1) == Some(&b's')
            && b.get(i + 2).is_none_or(|x| !x.is_ascii_alphanumeric())
        {
            out.push("/s", Kind::Word);
            i += 2;
            continue;
        }
        if matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')' | '…') {
            let mark = if c == '…' { '.' } else { c };
            let mut s = [0u8; 4];
            let mark = mark.encode_utf8(&mut s);
            let last = out
                .spans
                .last()
                .map(|(r, k)| (&out.buf[r.start as usize..r.end as usize], *k));
            if last != Some((mark, Kind::Punct)) {
                out.push(mark, Kind::Punct);
            }
            i += w;
            continue;
        }
        i += w;
    }
}

fn starts_link(b: &[u8]) -> bool {
    let lower = |k: usize| b.get(k).map(u8::to_ascii_lowercase);
    let starts = |p: &[u8]| p.iter().enumerate().all(|(k, c)| lower(k) == Some(*c));
    starts(b"http://") || starts(b"https://") || starts(b"www.")
}

/// Length in bytes of an ordinal suffix right after a number ("rd" of "3rd", "°" of "3°"), or 0.
fn ordinal_suffix(rest: &str, lang: Lang) -> usize {
    let mut chars = rest.chars();
    let (a, b) = (chars.next(), chars.next());
    let third = chars.next();
    let ends_word = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    match lang {
        Lang::En => match (a, b) {
            (Some(x), Some(y)) if ends_word(third) => {
                let s: String = [x, y].iter().flat_map(|c| c.to_lowercase()).collect();
                if matches!(s.as_str(), "st" | "nd" | "rd" | "th") {
                    2
                } else {
                    0
                }
            }
            _ => 0,
        },
        Lang::It => match a {
            Some(c @ ('°' | 'º' | 'ª')) => c.len_utf8(),
            _ => 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str, lang: Lang) -> Vec<String> {
        let mut t = Tokens::default();
        tokenize(text, lang, &mut t);
        t.iter().map(|(s, _)| s.to_string()).collect()
    }

    #[test]
    fn folds_links_handles_numbers_and_hashtags() {
        assert_eq!(
            toks(
                "@AcmeAir flight AB123 delayed 2hrs!!! #fail https://x.co/a 3rd time",
                Lang::En
            ),
            [
                "_user_", "flight", "ab", "#", "delayed", "#", "hrs", "!", "fail", "_url_", "#th",
                "time"
            ]
        );
    }

    #[test]
    fn words_keep_inner_apostrophes_in_english_and_split_elisions_in_italian() {
        assert_eq!(
            toks("Don’t   SOOOO hassle-free", Lang::En),
            ["don't", "soo", "hassle-free"]
        );
        assert_eq!(
            toks("L'assistenza è un po' lenta, dell'ordine niente", Lang::It),
            [
                "l'",
                "assistenza",
                "è",
                "un",
                "po'",
                "lenta",
                ",",
                "dell'",
                "ordine",
                "niente"
            ]
        );
    }

    #[test]
    fn emoji_lose_their_modifiers() {
        assert_eq!(toks("ok 👍🏽❤️🙃", Lang::En), ["ok", "👍", "❤", "🙃"]);
        assert_eq!(toks("great... /s", Lang::En), ["great", ".", "/s"]);
    }

    #[test]
    fn combining_accents_are_composed() {
        assert_eq!(
            toks("perche\u{301} cosi\u{300}", Lang::It),
            ["perché", "così"]
        );
    }
}
