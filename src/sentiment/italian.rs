//! The Italian pack: a lexicon derived from Sentix 3.1.1, ELIta and Pattern (see
//! `data/sentiment/it/README.md` for sources, licences and how it is built), Italian negators,
//! boosters and contrast words, and an Italian tokeniser: elisions (`dell'ordine`), accents
//! typed as apostrophes (`perche'`), elongations (`bellooo`), laughter (`ahahah`), common
//! abbreviations (`nn`, `cmq`, `xké`), camelCase hashtags (`#NonFunzionaNiente`) and multiword
//! expressions (`non vedo l'ora`, `fa schifo`, `un po'`).
//!
//! Rules that differ from English VADER: one negation per word however many negators precede
//! it ("non ... mai" is one negation), the look-back window stops at clause boundaries, emoji
//! and laughter are never negated, and the contrast rule scales positions, not equal values.

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use super::emoji::EmojiTable;
use super::engine::{self, Entry, Feat, Pack, is_upper, role};
use crate::mention::Sentiment;
use crate::text::fold;

const LEXICON: &str = include_str!("../../data/sentiment/it/lexicon.tsv");
const PACK: &str = include_str!("../../data/sentiment/it/pack.json");
const EMOJI_ELITA: &str = include_str!("../../data/sentiment/it/emoji_elita.tsv");

/// Version of the Italian pack's data and rules (stored with every score).
pub const VERSION: &str = "it-3";

#[derive(Deserialize)]
struct PackFile {
    negators: Vec<String>,
    never_words: Vec<String>,
    so_this_words: Vec<String>,
    without_words: Vec<String>,
    doubt_words: Vec<String>,
    boosters: BTreeMap<String, f64>,
    contrast: Vec<String>,
    abbreviations: BTreeMap<String, String>,
    laughter_regex: String,
    laughter_token: String,
    lexicon_extra: BTreeMap<String, f64>,
    constants: Constants,
}

#[derive(Deserialize)]
struct Constants {
    /// Every negative word sentiment is multiplied by this (SO-CAL's negativity weighting).
    #[serde(default = "one")]
    neg_weight: f64,
    #[serde(default = "one")]
    pos_weight: f64,
    /// `"pos"`: in a clause ending with `?`, positive sentiments do not count.
    #[serde(default)]
    question_block: Option<String>,
    /// `"mixed_clause"`: a Titlecase word inside a clause that also has lowercase words is a name.
    #[serde(default)]
    titlecase_names: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// The Italian pack with its tokeniser's tables.
#[derive(Clone)]
pub struct ItalianPack {
    pack: Pack,
    /// Emoji with a valence: each becomes a token of its own.
    emoji: FxHashMap<char, f64>,
    /// Emoticons and emoji kept whole as tokens (`:)`, `<3`).
    emoticons: FxHashSet<Box<str>>,
    abbreviations: FxHashMap<Box<str>, Vec<Box<str>>>,
    laughter: Regex,
    laughter_token: Box<str>,
    negators_folded: FxHashSet<Box<str>>,
    multiword: FxHashSet<Box<str>>,
    /// The emoticons that are only letters (`ahah`).
    letter_emoticons: Vec<Box<str>>,
    /// Bit `b - b'a'` set when a letter emoticon starts with the ASCII letter `b` (either
    /// case): most words are ruled out by their first letter.
    letter_emoticon_starts: u32,
    /// Length in bytes of the longest emoticon: longer words need no lookup.
    emoticon_max_len: usize,
    question_block: bool,
    titlecase_names: bool,
}

/// A token of the Italian tokeniser: byte ranges into the per-text arena.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Tok {
    surf: (u32, u32),
    low: (u32, u32),
    key: (u32, u32),
    seg: u32,
    immune: bool,
    /// A Titlecase word inside a clause: a name, whose sentiment does not count.
    proper: bool,
    /// The pack's entry for `key`, looked up once.
    entry: Entry,
    has_entry: bool,
}

/// Owns the text of every token of one text, so tokens cost no allocation of their own.
#[derive(Default)]
struct Arena {
    buf: String,
    toks: Vec<Tok>,
}

impl Arena {
    fn add(&mut self, s: &str) -> (u32, u32) {
        let start = self.buf.len() as u32;
        self.buf.push_str(s);
        (start, self.buf.len() as u32)
    }

    fn get(&self, r: (u32, u32)) -> &str {
        &self.buf[r.0 as usize..r.1 as usize]
    }

    /// A token from its three forms (often one and the same string).
    fn tok(&mut self, surf: &str, low: &str, key: &str) -> Tok {
        let same = |a: &str, b: &str| std::ptr::eq(a, b) || a == b;
        let low_is_surf = same(low, surf);
        let key_is_low = same(key, low);
        let surf = self.add(surf);
        let low = if low_is_surf { surf } else { self.add(low) };
        let key = if key_is_low { low } else { self.add(key) };
        Tok {
            surf,
            low,
            key,
            ..Tok::default()
        }
    }
}

/// Apostrophe look-alikes typed for `'`.
const APOSTROPHES: &[char] = &[
    '\u{2019}', '\u{2018}', '`', '\u{00B4}', '\u{02BC}', '\u{2032}',
];
/// Punctuation that ends a clause.
const BOUNDARY: &[char] = &['.', '!', '?', ';', ':', '\u{2026}'];

/// Runs of these split a word: `anni.Adesso` -> `anni`, `Adesso`.
fn is_inner_separator(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '\u{2026}'
            | '"'
            | '\u{201C}'
            | '\u{201D}'
            | '\u{00AB}'
            | '\u{00BB}'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '/'
            | '|'
            | '\u{2013}'
            | '\u{2014}'
    )
}

/// Punctuation stripped from token ends: ASCII punctuation and Unicode punctuation.
fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '\u{2026}'
                | '\u{201C}'
                | '\u{201D}'
                | '\u{00AB}'
                | '\u{00BB}'
                | '\u{2013}'
                | '\u{2014}'
                | '\u{2022}'
                | '\u{00B7}'
                | '\u{201E}'
                | '\u{00BF}'
                | '\u{00A1}'
        )
        || is_unicode_punctuation(c)
}

/// General category P* outside ASCII (the common ranges).
fn is_unicode_punctuation(c: char) -> bool {
    matches!(c as u32,
        0x00A1 | 0x00A7 | 0x00AB | 0x00B6 | 0x00B7 | 0x00BB | 0x00BF
        | 0x2010..=0x2027 | 0x2030..=0x205E | 0x3001..=0x3003 | 0x3008..=0x3011 | 0xFF01..=0xFF0F)
}

/// Python's `[^\W\d_]`: a letter.
fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

fn is_lower_letter(c: char) -> bool {
    c.is_ascii_lowercase() || ('à'..='ÿ').contains(&c)
}

fn is_upper_letter(c: char) -> bool {
    c.is_ascii_uppercase() || ('À'..='Þ').contains(&c)
}

/// `dell'ordine` -> (`dell'`, `ordine`): up to seven letters and an apostrophe, then a letter.
fn split_elision(s: &str) -> Option<(&str, &str)> {
    let apos = s.find('\'')?;
    let prefix = &s[..apos];
    let n = prefix.chars().count();
    if n == 0 || n > 7 || !prefix.chars().all(is_letter) {
        return None;
    }
    let rest = &s[apos + 1..];
    rest.chars().next().filter(|c| is_letter(*c))?;
    Some((&s[..=apos], rest))
}

/// `NonFunzionaNiente` -> `Non`, `Funziona`, `Niente`.
fn camel_split(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut prev: Option<char> = None;
    for (i, c) in s.char_indices() {
        if prev.is_some_and(is_lower_letter) && is_upper_letter(c) {
            parts.push(&s[start..i]);
            start = i;
        }
        prev = Some(c);
    }
    parts.push(&s[start..]);
    parts.retain(|p| !p.is_empty());
    parts
}

/// Whether a run of three or more equal letters occurs.
fn has_elongation(s: &str) -> bool {
    let mut run = 0;
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if Some(c) == prev && is_letter(c) {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 1;
        }
        prev = Some(c);
    }
    false
}

/// Collapses every run of three or more equal letters to `keep` letters.
fn collapse(s: &str, keep: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut j = i;
        while j < chars.len() && chars[j] == c {
            j += 1;
        }
        let run = j - i;
        let n = if run >= 3 && is_letter(c) { keep } else { run };
        for _ in 0..n {
            out.push(c);
        }
        i = j;
    }
    out
}

/// Cheap pre-check before the laughter pattern: every form of it has two `h` (`ahah`, `eheheh`),
/// or starts with `lo` (`lol`) or `xd`.
fn could_be_laughter(key: &str) -> bool {
    key.len() >= 2
        && (key.bytes().filter(|b| *b == b'h').count() >= 2
            || key.starts_with("lo")
            || key.starts_with("xd"))
}

/// The first-letter mask of [`ItalianPack::is_letter_emoticon`]; a non-ASCII start sets every
/// bit (no filtering).
fn letter_emoticons_starts(emoticons: &[Box<str>]) -> u32 {
    let mut mask = 0u32;
    for e in emoticons {
        match e.bytes().next().map(|b| b.to_ascii_lowercase()) {
            Some(b @ b'a'..=b'z') => mask |= 1 << (b - b'a'),
            _ => return u32::MAX,
        }
    }
    mask
}

fn strip_punct(s: &str) -> &str {
    s.trim_matches(is_punct)
}

impl ItalianPack {
    /// Builds the pack; emoji valences come from the English pack (the score of each emoji's
    /// description), overridden by Italian raters' valences where ELIta has them.
    pub fn new(english: &Pack, emoji_table: &EmojiTable) -> ItalianPack {
        let file: PackFile = serde_json::from_str(PACK)
            .expect("data/sentiment/it/pack.json is valid (a unit test checks it)");
        let mut emoji: FxHashMap<char, f64> = FxHashMap::default();
        for (c, desc) in emoji_table.entries() {
            let v = english_sum(english, desc).clamp(-4.0, 4.0);
            let v = (v * 1000.0).round() / 1000.0;
            if v.abs() >= 0.0005 {
                emoji.insert(c, v);
            }
        }
        for line in EMOJI_ELITA
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let mut f = line.split('\t');
            if let (Some(e), Some(_), Some(v)) = (f.next(), f.next(), f.next()) {
                let mut chars = e.chars();
                if let (Some(c), None, Ok(v)) =
                    (chars.next(), chars.next(), v.trim().parse::<f64>())
                {
                    emoji.insert(c, v);
                }
            }
        }

        let mut entries: FxHashMap<Box<str>, Entry> = FxHashMap::default();
        let set_valence = |entries: &mut FxHashMap<Box<str>, Entry>, k: &str, v: f64| {
            entries.entry(k.into()).or_default().valence = Some(v);
        };
        // Emoticons are shared with English: entries with a character that is not a letter,
        // an apostrophe or a hyphen.
        let mut emoticons: FxHashSet<Box<str>> = FxHashSet::default();
        for (k, e) in &english.entries {
            if let Some(v) = e.valence {
                if k.chars()
                    .any(|c| !(c.is_alphabetic() || c == '\'' || c == '-'))
                {
                    set_valence(&mut entries, k, v);
                    emoticons.insert(k.clone());
                }
            }
        }
        for (c, v) in &emoji {
            let k = c.to_string();
            set_valence(&mut entries, &k, *v);
            emoticons.insert(k.into());
        }
        for (k, v) in &file.lexicon_extra {
            set_valence(&mut entries, &fold(k), *v);
            emoticons.insert(fold(k).into());
        }
        for line in LEXICON
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let mut f = line.split('\t');
            if let (Some(w), Some(v)) = (f.next(), f.next()) {
                if let Ok(v) = v.trim().parse::<f64>() {
                    set_valence(&mut entries, &fold(w), v);
                }
            }
        }
        for (k, b) in &file.boosters {
            entries.entry(fold(k).into()).or_default().booster = Some(*b);
        }
        let roles: [(&Vec<String>, u16); 5] = [
            (&file.never_words, role::NEVER),
            (&file.so_this_words, role::SO_THIS),
            (&file.without_words, role::WITHOUT),
            (&file.doubt_words, role::DOUBT),
            (&file.contrast, role::CONTRAST),
        ];
        for (words, r) in roles {
            for w in words {
                entries.entry(fold(w).into()).or_default().roles |= r;
            }
        }
        // Negators whose key is their lowercase form get the role; the others (`né`, `nè`) are
        // matched on their lowercase form.
        let mut negators: FxHashSet<Box<str>> = FxHashSet::default();
        for n in &file.negators {
            let low = n.to_lowercase();
            if fold(&low) == low {
                entries.entry(low.into()).or_default().roles |= role::NEGATOR;
            } else {
                negators.insert(low.into());
            }
        }
        let negators_folded: FxHashSet<Box<str>> =
            file.negators.iter().map(|n| fold(n).into()).collect();
        let mut multiword: FxHashSet<Box<str>> = entries
            .iter()
            .filter(|(k, e)| k.contains('_') && (e.valence.is_some() || e.booster.is_some()))
            .map(|(k, _)| k.clone())
            .collect();
        multiword.extend(negators_folded.iter().filter(|k| k.contains('_')).cloned());
        for k in &multiword {
            // Keys join words with `_`: the first word tells the tokeniser to look further.
            let words = k.split('_').count().min(u8::MAX as usize) as u8;
            let first = k.split('_').next().unwrap_or_default();
            let e = entries.entry(first.into()).or_default();
            e.multiword = e.multiword.max(words);
        }
        let abbreviations: FxHashMap<Box<str>, Vec<Box<str>>> = file
            .abbreviations
            .iter()
            .map(|(k, v)| {
                (
                    fold(k).into(),
                    v.split_whitespace().map(Into::into).collect(),
                )
            })
            .collect();
        for k in abbreviations.keys() {
            entries.entry(k.clone()).or_default().roles |= role::ABBREVIATION;
        }
        let laughter = Regex::new(&format!("^(?:{})$", file.laughter_regex))
            .expect("the laughter pattern compiles (unit-tested)");
        let letter_emoticons: Vec<Box<str>> = emoticons
            .iter()
            .filter(|e| e.chars().all(char::is_alphabetic))
            .cloned()
            .collect();
        let emoticon_max_len = emoticons.iter().map(|e| e.len()).max().unwrap_or(0);
        let letter_emoticon_starts = letter_emoticons_starts(&letter_emoticons);
        ItalianPack {
            letter_emoticons,
            letter_emoticon_starts,
            emoticon_max_len,
            pack: Pack {
                lang: "it",
                version: VERSION.to_string(),
                entries,
                negators,
                negate_nt: false,
                idioms: FxHashMap::default(),
                phrase_boosters: FxHashMap::default(),
                contrast_index_quirk: false,
                negative_concord: true,
                neg_weight: file.constants.neg_weight,
                pos_weight: file.constants.pos_weight,
            },
            emoji,
            emoticons,
            abbreviations,
            laughter,
            laughter_token: file.laughter_token.as_str().into(),
            negators_folded,
            multiword,
            question_block: file.constants.question_block.as_deref() == Some("pos"),
            titlecase_names: file.constants.titlecase_names.is_some(),
        }
    }

    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    /// A copy in which `keys` carry no valence (they keep their other roles): topic words for
    /// the customer-voice engine.
    pub fn without_valence<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> ItalianPack {
        let mut copy = self.clone();
        for k in keys {
            if let Some(e) = copy.pack.entries.get_mut(k) {
                e.valence = None;
            }
        }
        copy
    }

    fn known(&self, key: &str) -> bool {
        let e = self.pack.entry(key);
        e.valence.is_some()
            || e.booster.is_some()
            || e.roles & role::CONTRAST != 0
            || self.abbreviations.contains_key(key)
            || self.negators_folded.contains(key)
    }

    pub fn score(&self, text: &str) -> Sentiment {
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            let ((bangs, questions), questions_segs) = self.tokenize(text, &mut scratch.arena);
            let arena = &scratch.arena;
            scratch.feats.clear();
            for t in &arena.toks {
                let negator = if t.low == t.key {
                    t.entry.roles & role::NEGATOR != 0
                } else {
                    self.pack
                        .is_negator(&t.entry, arena.get(t.low), arena.get(t.key))
                };
                scratch.feats.push(Feat {
                    entry: t.entry,
                    negator,
                    upper: is_upper(arena.get(t.surf)),
                    seg: t.seg,
                    immune: t.immune,
                    proper: t.proper,
                    blocked: self.question_block && questions_segs.contains(&t.seg),
                });
            }
            // The lowercase forms are only read by idioms, which Italian expresses as multiword
            // lexicon entries instead.
            debug_assert!(self.pack.idioms.is_empty() && self.pack.phrase_boosters.is_empty());
            engine::score(
                &self.pack,
                &scratch.feats,
                &[],
                bangs,
                questions,
                &mut scratch.sentiments,
            )
        })
    }

    /// Tokenises into `arena`; returns the counts of `!` and `?` and the clauses closed by a
    /// question mark.
    fn tokenize(&self, text: &str, arena: &mut Arena) -> ((usize, usize), Vec<u32>) {
        arena.buf.clear();
        arena.toks.clear();
        let mut normal: Cow<str> = if text.is_ascii()
            || unicode_normalization::is_nfc_quick(text.chars())
                == unicode_normalization::IsNormalized::Yes
        {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(text.nfc().collect())
        };
        if !normal.is_ascii() && normal.contains(APOSTROPHES) {
            normal = Cow::Owned(normal.replace(APOSTROPHES, "'"));
        }
        if normal.contains('\\') && normal.contains("\\\"") {
            normal = Cow::Owned(normal.replace("\\\"", "\""));
        }
        // Emoji with a valence become tokens of their own; modifiers go.
        let spaced: Cow<str> = if normal.is_ascii() {
            normal
        } else {
            let mut spaced = String::with_capacity(normal.len() + 8);
            for c in normal.chars() {
                if matches!(
                    c,
                    '\u{FE0E}' | '\u{FE0F}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}'
                ) {
                    continue;
                }
                // Emoji start at U+2000, but for (c) and (r).
                if (c >= '\u{2000}' || c == '\u{A9}' || c == '\u{AE}')
                    && self.emoji.contains_key(&c)
                {
                    spaced.push(' ');
                    spaced.push(c);
                    spaced.push(' ');
                } else {
                    spaced.push(c);
                }
            }
            Cow::Owned(spaced)
        };
        let marks = super::count_marks(&spaced);

        // (surface, is hashtag, clause, immune)
        let mut raw: Vec<(&str, bool, u32, bool)> = Vec::with_capacity(32);
        let mut seg = 0u32;
        let mut question_segs: Vec<u32> = Vec::new();
        // A punctuation run: a `?` makes its clause a question; a boundary starts a new clause.
        let mut bump = |seg: &mut u32, punct: &str| {
            if punct.is_empty() {
                return;
            }
            let mut boundary = false;
            for c in punct.chars() {
                if c == '?' && !question_segs.contains(seg) {
                    question_segs.push(*seg);
                }
                boundary |= BOUNDARY.contains(&c);
            }
            if boundary {
                *seg += 1;
            }
        };
        for w in spaced
            .split(super::english::is_py_space)
            .filter(|w| !w.is_empty())
        {
            if starts_with_ignore_case(w, "http") || starts_with_ignore_case(w, "www.") {
                continue;
            }
            // The common case: a plain word.
            if w.bytes().all(|b| b.is_ascii_alphanumeric()) {
                let immune = !w.bytes().any(|b| b.is_ascii_digit()) && self.is_letter_emoticon(w);
                raw.push((w, false, seg, immune));
                continue;
            }
            if self.is_emoticon(w) {
                raw.push((w, false, seg, true));
                continue;
            }
            if starts_with_ignore_case(w, "http") || starts_with_ignore_case(w, "www.") {
                continue;
            }
            if let Some(rest) = w.strip_prefix('@') {
                let last = rest.char_indices().last().map_or("", |(i, _)| &rest[i..]);
                bump(&mut seg, last);
                continue;
            }
            // Word parts between runs of separators (`anni.Adesso`).
            let mut rest = w;
            while !rest.is_empty() {
                let sep_len = rest
                    .find(|c: char| !is_inner_separator(c))
                    .unwrap_or(rest.len());
                if sep_len > 0 {
                    bump(&mut seg, &rest[..sep_len]);
                    rest = &rest[sep_len..];
                    continue;
                }
                let part_len = rest.find(is_inner_separator).unwrap_or(rest.len());
                let p = &rest[..part_len];
                rest = &rest[part_len..];
                let is_tag = p
                    .trim_start_matches(|c: char| c.is_ascii_punctuation() && c != '#')
                    .starts_with('#');
                let s = strip_punct(p);
                if s.is_empty() {
                    bump(&mut seg, p);
                    continue;
                }
                // `s` is a slice of `p`: its place gives what was stripped before and after.
                let at = s.as_ptr() as usize - p.as_ptr() as usize;
                let (lead, trail) = (&p[..at], &p[at + s.len()..]);
                bump(&mut seg, lead);
                if s.starts_with('@') || p.starts_with('@') {
                    bump(&mut seg, trail);
                    continue;
                }
                if is_tag {
                    for q in camel_split(s) {
                        raw.push((q, true, seg, false));
                    }
                } else {
                    raw.push((s, false, seg, false));
                }
                bump(&mut seg, trail);
            }
        }

        let mut prev_seg: Option<u32> = None;
        let mut low_buf = String::new();
        for (s, is_tag, sg, immune) in raw {
            let mut pieces: [&str; 8] = [""; 8];
            let mut count = 0;
            let mut rest = s;
            if !immune && s.contains('\'') {
                while count < 7 {
                    let Some((prefix, tail)) = split_elision(rest) else {
                        break;
                    };
                    pieces[count] = prefix;
                    count += 1;
                    rest = tail;
                }
            }
            pieces[count] = rest;
            let last = count;
            for (pi, piece) in pieces[..=count].iter().enumerate() {
                let first_new = arena.toks.len();
                if immune {
                    lowercase_into(piece, &mut low_buf);
                    let t = arena.tok(piece, &low_buf, &low_buf);
                    arena.toks.push(t);
                } else if pi < last {
                    // An elided prefix (dell', l', nient') keeps its apostrophe.
                    lowercase_into(piece, &mut low_buf);
                    let k = fold(&low_buf);
                    match self.abbreviations.get(k.as_str()) {
                        Some(rep) => {
                            for r in rep {
                                let t = arena.tok(r, r, &fold(r));
                                arena.toks.push(t);
                            }
                        }
                        None => {
                            let t = arena.tok(piece, &low_buf, &k);
                            arena.toks.push(t);
                        }
                    }
                } else {
                    self.normalise(piece, arena);
                }
                for i in first_new..arena.toks.len() {
                    if !arena.toks[i].has_entry {
                        arena.toks[i].entry = self.pack.entry(arena.get(arena.toks[i].key));
                    }
                    let key_is_laughter = arena.get(arena.toks[i].key) == &*self.laughter_token;
                    let proper = self.titlecase_names
                        && !is_tag
                        && prev_seg == Some(sg)
                        && is_titlecase_word(arena.get(arena.toks[i].surf));
                    let t = &mut arena.toks[i];
                    t.seg = sg;
                    t.immune = immune || key_is_laughter;
                    t.proper = proper;
                    prev_seg = Some(sg);
                }
            }
        }
        if self.titlecase_names && arena.toks.iter().any(|t| t.proper) {
            // Names only in clauses written in ordinary case: a Title-Case headline ("Servizio
            // Pessimo") keeps its words.
            let mut lower_segs: Vec<u32> = Vec::new();
            for t in &arena.toks {
                let first = arena.get(t.surf).chars().next();
                if first.is_some_and(|c| c.is_alphabetic() && c.is_lowercase())
                    && !lower_segs.contains(&t.seg)
                {
                    lower_segs.push(t.seg);
                }
            }
            for t in &mut arena.toks {
                if t.proper && !lower_segs.contains(&t.seg) {
                    t.proper = false;
                }
            }
        }
        self.merge_multiword(arena);
        (marks, question_segs)
    }

    /// Whether an ASCII word is an emoticon made of letters (`ahah`, `XD`).
    fn is_letter_emoticon(&self, w: &str) -> bool {
        let Some(first) = w.bytes().next() else {
            return false;
        };
        let first = first.to_ascii_lowercase();
        if !first.is_ascii_lowercase() || self.letter_emoticon_starts & (1 << (first - b'a')) == 0 {
            return false;
        }
        self.letter_emoticons
            .iter()
            .any(|e| e.eq_ignore_ascii_case(w))
    }

    /// Emoticons and emoji kept whole as tokens (`:)`, `<3`, `XD`).
    fn is_emoticon(&self, w: &str) -> bool {
        if w.bytes().all(|b| b.is_ascii_alphabetic()) {
            // Only a few emoticons are made of letters alone (`ahah`): no need to hash every word.
            return self.is_letter_emoticon(w);
        }
        if w.len() > self.emoticon_max_len {
            return false;
        }
        if self.emoticons.contains(w) {
            return true;
        }
        if !w.chars().any(char::is_uppercase) {
            return false;
        }
        self.emoticons.contains(w.to_lowercase().as_str())
    }

    /// Accent apostrophes, elongation, laughter and abbreviations of one word, into `arena`.
    fn normalise(&self, surf: &str, arena: &mut Arena) {
        // Most words are plain lowercase ASCII: nothing to copy.
        if surf.bytes().all(|b| b.is_ascii_lowercase()) && !has_elongation(surf) {
            self.push_word(surf, surf, surf, arena);
            return;
        }
        let mut surf = surf.to_string();
        let mut low = if surf.is_ascii() {
            surf.to_ascii_lowercase()
        } else {
            surf.to_lowercase()
        };
        if low.ends_with('\'') && low.chars().count() > 1 && split_elision(&low).is_none() {
            surf = surf.trim_end_matches('\'').to_string();
            low = low.trim_end_matches('\'').to_string();
            if low == "po" {
                surf.push('\'');
                low.push('\'');
            }
        }
        let mut key = fold(&low);
        if has_elongation(&key) && !self.known(&key) {
            let one = collapse(&key, 1);
            let two = collapse(&key, 2);
            let keep = if self.known(&one) || !self.known(&two) {
                1
            } else {
                2
            };
            key = if keep == 1 { one } else { two };
            low = collapse(&low, keep);
            surf = collapse(&surf, keep);
        }
        self.push_word(&surf, &low, &key, arena);
    }

    /// The word itself, or the laughter token, or an abbreviation's expansion.
    fn push_word(&self, surf: &str, low: &str, key: &str, arena: &mut Arena) {
        if could_be_laughter(key) && self.laughter.is_match(key) {
            let t = arena.tok(surf, &self.laughter_token, &self.laughter_token);
            arena.toks.push(t);
            return;
        }
        let entry = self.pack.entry(key);
        if let Some(rep) = (entry.roles & role::ABBREVIATION != 0)
            .then(|| self.abbreviations.get(key))
            .flatten()
        {
            let up = is_upper(surf) && surf.chars().count() > 1;
            for r in rep {
                let s = if up { r.to_uppercase() } else { r.to_string() };
                let t = arena.tok(&s, r, &fold(r));
                arena.toks.push(t);
            }
            return;
        }
        let mut t = arena.tok(surf, low, key);
        t.entry = entry;
        t.has_entry = true;
        arena.toks.push(t);
    }

    /// Greedy longest match of multiword expressions, joined with `_`.
    fn merge_multiword(&self, arena: &mut Arena) {
        let n = arena.toks.len();
        if n < 2 {
            return;
        }
        let mut out: Vec<Tok> = Vec::with_capacity(n);
        let mut key = String::new();
        let mut i = 0;
        while i < n {
            // Only words that start some expression are worth joining.
            let longest = (arena.toks[i].entry.multiword as usize).min(n - i);
            let mut merged = 0;
            for len in (2..=longest).rev() {
                key.clear();
                for (j, t) in arena.toks[i..i + len].iter().enumerate() {
                    if j > 0 {
                        key.push('_');
                    }
                    key.push_str(arena.get(t.key));
                }
                if self.multiword.contains(key.as_str()) {
                    merged = len;
                    break;
                }
            }
            if merged == 0 {
                out.push(arena.toks[i]);
                i += 1;
                continue;
            }
            let group: Vec<Tok> = arena.toks[i..i + merged].to_vec();
            let join = |arena: &Arena, f: fn(&Tok) -> (u32, u32)| {
                group
                    .iter()
                    .map(|t| arena.get(f(t)))
                    .collect::<Vec<_>>()
                    .join("_")
            };
            let surf = join(arena, |t| t.surf);
            let low = join(arena, |t| t.low);
            let mut t = arena.tok(&surf, &low, &key);
            t.entry = self.pack.entry(&key);
            t.seg = group[merged - 1].seg;
            t.proper = group.iter().all(|g| g.proper);
            out.push(t);
            i += merged;
        }
        arena.toks = out;
    }
}

/// Python's `surf[0].isupper() and surf[1:].islower()`, with more than one character.
fn is_titlecase_word(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest = chars.as_str();
    if rest.is_empty() || !first.is_uppercase() {
        return false;
    }
    rest.chars().any(|c| c.is_lowercase()) && !rest.chars().any(|c| c.is_uppercase())
}

fn lowercase_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| b.to_ascii_lowercase() as char));
    } else {
        out.push_str(&s.to_lowercase());
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[derive(Default)]
struct Scratch {
    arena: Arena,
    feats: Vec<Feat>,
    sentiments: Vec<f64>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The net valence English VADER gives a text (no punctuation emphasis).
fn english_sum(english: &Pack, text: &str) -> f64 {
    let mut low = String::new();
    let mut spans = Vec::new();
    super::english::tokenize(text, &mut low, &mut spans);
    let surfaces: Vec<&str> = spans.iter().map(|(r, _)| &text[r.clone()]).collect();
    let lows: Vec<&str> = spans.iter().map(|(_, r)| &low[r.clone()]).collect();
    let mut feats = Vec::new();
    super::english::features(english, &surfaces, &lows, &mut feats);
    let mut buf = Vec::new();
    engine::sentiments(english, &feats, &lows, &mut buf);
    let mut sum = 0.0;
    for s in &buf {
        sum += *s;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokeniser_pieces() {
        assert_eq!(split_elision("dell'ordine"), Some(("dell'", "ordine")));
        assert_eq!(split_elision("c'è"), Some(("c'", "è")));
        assert_eq!(split_elision("po'"), None);
        assert_eq!(
            camel_split("NonFunzionaNiente"),
            vec!["Non", "Funziona", "Niente"]
        );
        assert_eq!(collapse("bellooooo", 1), "bello");
        assert_eq!(collapse("nooo", 2), "noo");
        assert!(has_elongation("bellooo") && !has_elongation("bello"));
    }
}
