//! The rule engine of VADER (Hutto & Gilbert, ICWSM 2014), as Python vaderSentiment 3.3.2
//! computes it, parameterised by a [`Pack`] so the same rules score every language.
//!
//! The engine works on tokens that a language's tokeniser prepared: each token's lowercase
//! form, its lookup key, whether it is written in capitals, its clause and whether it is immune
//! to negation. Per token it computes a valence: the lexicon value, adjusted by capitals, by
//! boosters and dampeners up to three tokens before it, by negation in the same window, by the
//! "no" and "least" rules and by idioms; then "but"-like contrast words weigh the clauses, `!`
//! and `?` amplify, and the sum is normalised into the compound score.
//!
//! Where vaderSentiment 3.3.2 has quirks that move scores (the list-index bug of its "but"
//! rule, the operator precedence of its "never so" rule, idioms matched only from the third
//! word on), the English pack keeps them, so English scores match the reference; packs for
//! other languages can turn them off. See `README.md` ("Sentiment") for the list.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::mention::{Label, Sentiment};

/// Added to (or removed from) a word's valence by a booster (dampener) right before it.
pub const B_INCR: f64 = 0.293;
pub const B_DECR: f64 = -0.293;
/// Emphasis of a word written in capitals among words that are not.
pub const C_INCR: f64 = 0.733;
/// A negated word's valence is multiplied by this.
pub const N_SCALAR: f64 = -0.74;
/// Normalisation constant of the compound score: x / sqrt(x² + ALPHA).
pub const ALPHA: f64 = 15.0;

/// Roles a word can play besides its lexicon valence; a bit set.
pub mod role {
    /// VADER 3.3's "no": zero before a lexicon word; negates the next two words.
    pub const NO: u16 = 1;
    /// "or"/"nor": extend the reach of "no" to three words.
    pub const OR_NOR: u16 = 1 << 1;
    /// "never" in "never so good" (amplifies instead of negating).
    pub const NEVER: u16 = 1 << 2;
    /// "so"/"this" of "never so".
    pub const SO_THIS: u16 = 1 << 3;
    /// "without" in "without doubt" (not a negation there).
    pub const WITHOUT: u16 = 1 << 4;
    pub const DOUBT: u16 = 1 << 5;
    /// "least": negates the next word unless "at"/"very" precede it.
    pub const LEAST: u16 = 1 << 6;
    pub const AT_VERY: u16 = 1 << 7;
    /// "kind" of "kind of": scored 0 before "of".
    pub const KIND: u16 = 1 << 8;
    pub const OF: u16 = 1 << 9;
    /// "but" and its kin: the clause after weighs more than the clause before.
    pub const CONTRAST: u16 = 1 << 10;
    /// A negation word whose lowercase form is its key (most are; see [`super::Pack::negators`]).
    pub const NEGATOR: u16 = 1 << 11;
    /// An abbreviation the tokeniser expands (Italian `nn`, `cmq`).
    pub const ABBREVIATION: u16 = 1 << 12;
}

/// What the pack knows about one lookup key.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Entry {
    pub valence: Option<f64>,
    pub booster: Option<f64>,
    pub roles: u16,
    /// The most words of a multiword expression that starts with this key (0: none).
    pub multiword: u8,
}

/// A language pack: the data and the switches of the rules.
#[derive(Debug, Clone)]
pub struct Pack {
    /// ISO 639-1 code.
    pub lang: &'static str,
    /// Identifies the rules and data; part of the stored scorer version.
    pub version: String,
    /// Lookup key -> lexicon valence, booster increment, roles.
    pub entries: FxHashMap<Box<str>, Entry>,
    /// Negation words whose key differs from their lowercase form, matched on the lowercase
    /// form (Italian `né` negates, `ne` does not); the others carry [`role::NEGATOR`].
    pub negators: FxHashSet<Box<str>>,
    /// A token containing "n't" anywhere is a negation (English).
    pub negate_nt: bool,
    /// Idioms ("the bomb", "yeah right"): space-joined lowercase n-grams -> valence.
    pub idioms: FxHashMap<Box<str>, f64>,
    /// Two-word dampeners checked with the idioms ("kind of", "sort of").
    pub phrase_boosters: FxHashMap<Box<str>, f64>,
    /// vaderSentiment 3.3.2's "but" rule scales the first position holding an equal value
    /// rather than the word itself; kept in English for parity.
    pub contrast_index_quirk: bool,
    /// Apply the negation factor at most once per word (Italian negative concord: "non ... mai"
    /// is one negation).
    pub negative_concord: bool,
    /// Every negative (positive) word sentiment is multiplied by this after the per-word rules:
    /// lexicons and texts lean positive (SO-CAL's negativity weighting). 1.0 in English.
    pub neg_weight: f64,
    pub pos_weight: f64,
}

impl Pack {
    pub fn entry(&self, key: &str) -> Entry {
        self.entries.get(key).copied().unwrap_or_default()
    }

    /// Whether a token negates, from its entry (looked up by `key`) and its lowercase form.
    pub fn is_negator(&self, entry: &Entry, low: &str, key: &str) -> bool {
        if low == key {
            entry.roles & role::NEGATOR != 0 || (self.negate_nt && low.contains("n't"))
        } else {
            self.negators.contains(low)
        }
    }
}

/// One token as the engine sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Feat {
    pub entry: Entry,
    pub negator: bool,
    /// Written in capitals (Python's `str.isupper`: a cased letter and no lowercase one).
    pub upper: bool,
    /// Clause index: the look-back window does not cross clauses (0 everywhere in English).
    pub seg: u32,
    /// Emoji, emoticons, laughter: never negated.
    pub immune: bool,
    /// A name that happens to be a word ("il ministro Profumo"): no sentiment of its own, but
    /// still a lexicon word for the modifiers around it.
    pub proper: bool,
    /// In a clause that asks rather than asserts ("È davvero utile?"): positive sentiment does
    /// not count.
    pub blocked: bool,
}

/// Scores prepared tokens. `lows` are the lowercase forms (for idioms); `bangs` and
/// `questions` count `!` and `?` in the whole text.
pub fn score(
    pack: &Pack,
    feats: &[Feat],
    lows: &[&str],
    bangs: usize,
    questions: usize,
    buf: &mut Vec<f64>,
) -> Sentiment {
    let n = feats.len();
    if n == 0 {
        return Sentiment {
            compound: 0.0,
            pos: 0.0,
            neu: 0.0,
            neg: 0.0,
            label: Label::Neutral,
        };
    }
    sentiments(pack, feats, lows, buf);
    finish(buf, bangs, questions)
}

/// One valence per token, after the contrast rule: what the compound score sums.
pub fn sentiments(pack: &Pack, feats: &[Feat], lows: &[&str], sentiments: &mut Vec<f64>) {
    sentiments.clear();
    let n = feats.len();
    let caps = feats.iter().filter(|f| f.upper).count();
    // "Some but not all tokens are in capitals": emphasis means something only then.
    let cap_diff = caps > 0 && caps < n;
    let mut clause_start = 0usize;
    for i in 0..n {
        if i > 0 && feats[i].seg != feats[i - 1].seg {
            clause_start = i;
        }
        let f = &feats[i];
        // Boosters have no sentiment of their own, nor has "kind" in "kind of".
        let modifier_only = f.entry.booster.is_some()
            || (f.entry.roles & role::KIND != 0
                && i + 1 < n
                && feats[i + 1].entry.roles & role::OF != 0);
        let v = if modifier_only {
            0.0
        } else {
            let mut v = valence(pack, feats, lows, i, clause_start, cap_diff);
            if f.blocked && v > 0.0 {
                v = 0.0;
            }
            if v < 0.0 {
                v *= pack.neg_weight;
            } else if v > 0.0 {
                v *= pack.pos_weight;
            }
            v
        };
        sentiments.push(v);
    }
    contrast(pack, feats, sentiments);
}

fn has(f: &Feat, r: u16) -> bool {
    f.entry.roles & r != 0
}

fn valence(
    pack: &Pack,
    feats: &[Feat],
    lows: &[&str],
    i: usize,
    start: usize,
    cap_diff: bool,
) -> f64 {
    let Some(raw) = feats[i].entry.valence.filter(|_| !feats[i].proper) else {
        return 0.0;
    };
    let n = feats.len();
    // Position within the clause: nothing before the clause start is visible.
    let p = i - start;
    let at = |back: usize| &feats[i - back];
    let mut v = raw;
    // VADER 3.3's rules for "no".
    if has(&feats[i], role::NO) && i + 1 < n && feats[i + 1].entry.valence.is_some() {
        v = 0.0;
    }
    if (p > 0 && has(at(1), role::NO))
        || (p > 1 && has(at(2), role::NO))
        || (p > 2 && has(at(3), role::NO) && has(at(1), role::OR_NOR))
    {
        v = raw * N_SCALAR;
    }
    if feats[i].upper && cap_diff {
        if v > 0.0 {
            v += C_INCR;
        } else {
            v -= C_INCR;
        }
    }
    let mut negated = false;
    for d in 0..3usize {
        // Modifiers count only where the word before is not itself a sentiment word.
        if p > d && at(d + 1).entry.valence.is_none() {
            let mut s = scalar_inc_dec(at(d + 1), v, cap_diff);
            if d == 1 && s != 0.0 {
                s *= 0.95;
            }
            if d == 2 && s != 0.0 {
                s *= 0.9;
            }
            v += s;
            v = negation_check(pack, feats, i, p, d, v, &mut negated);
            if d == 2 {
                v = idioms_check(pack, lows, i, v);
            }
        }
    }
    // "least": "the least good" negates, "at least good" does not.
    if p > 1 && has(at(1), role::LEAST) {
        if !has(at(2), role::AT_VERY) {
            v *= N_SCALAR;
        }
    } else if p > 0 && has(at(1), role::LEAST) {
        v *= N_SCALAR;
    }
    v
}

fn scalar_inc_dec(word: &Feat, v: f64, cap_diff: bool) -> f64 {
    let Some(b) = word.entry.booster else {
        return 0.0;
    };
    let mut s = if v < 0.0 { -b } else { b };
    if word.upper && cap_diff {
        if v > 0.0 {
            s += C_INCR;
        } else {
            s -= C_INCR;
        }
    }
    s
}

fn negation_check(
    pack: &Pack,
    feats: &[Feat],
    i: usize,
    p: usize,
    d: usize,
    v: f64,
    negated: &mut bool,
) -> f64 {
    let at = |back: usize| &feats[i - back];
    let mut negate = |v: f64| {
        if feats[i].immune || (pack.negative_concord && *negated) {
            return v;
        }
        *negated = true;
        v * N_SCALAR
    };
    match d {
        0 => {
            if at(1).negator {
                return negate(v);
            }
        }
        1 => {
            if has(at(2), role::NEVER) && has(at(1), role::SO_THIS) {
                return v * 1.25;
            } else if has(at(2), role::WITHOUT) && has(at(1), role::DOUBT) {
                return v;
            } else if at(2).negator {
                return negate(v);
            }
        }
        _ => {
            // vaderSentiment reads `A and B or C` here, so "so"/"this" right before the word
            // amplifies even without "never" (and blocks a negation three words back).
            if (p > 2 && has(at(3), role::NEVER) && has(at(2), role::SO_THIS))
                || has(at(1), role::SO_THIS)
            {
                return v * 1.25;
            } else if has(at(3), role::WITHOUT)
                && (has(at(2), role::DOUBT) || has(at(1), role::DOUBT))
            {
                return v;
            } else if at(3).negator {
                return negate(v);
            }
        }
    }
    v
}

/// vaderSentiment's idiom check, run at the third look-back step only: an idiom replaces the
/// valence; two-word dampeners ("kind of") are added unsigned.
fn idioms_check(pack: &Pack, lows: &[&str], i: usize, mut v: f64) -> f64 {
    if pack.idioms.is_empty() && pack.phrase_boosters.is_empty() {
        return v;
    }
    let n = lows.len();
    let join = |parts: &[&str]| parts.join(" ");
    let onezero = join(&[lows[i - 1], lows[i]]);
    let twoonezero = join(&[lows[i - 2], lows[i - 1], lows[i]]);
    let twoone = join(&[lows[i - 2], lows[i - 1]]);
    let threetwoone = join(&[lows[i - 3], lows[i - 2], lows[i - 1]]);
    let threetwo = join(&[lows[i - 3], lows[i - 2]]);
    for seq in [&onezero, &twoonezero, &twoone, &threetwoone, &threetwo] {
        if let Some(val) = pack.idioms.get(seq.as_str()) {
            v = *val;
            break;
        }
    }
    if n - 1 > i {
        if let Some(val) = pack.idioms.get(join(&[lows[i], lows[i + 1]]).as_str()) {
            v = *val;
        }
    }
    if n - 1 > i + 1 {
        if let Some(val) = pack
            .idioms
            .get(join(&[lows[i], lows[i + 1], lows[i + 2]]).as_str())
        {
            v = *val;
        }
    }
    for g in [&threetwoone, &threetwo, &twoone] {
        if let Some(b) = pack.phrase_boosters.get(g.as_str()) {
            v += *b;
        }
    }
    v
}

/// The first contrast word halves what comes before it and multiplies what follows by 1.5.
fn contrast(pack: &Pack, feats: &[Feat], sentiments: &mut [f64]) {
    let Some(bi) = feats.iter().position(|f| has(f, role::CONTRAST)) else {
        return;
    };
    for k in 0..sentiments.len() {
        let x = sentiments[k];
        let si = if pack.contrast_index_quirk {
            // Python's `list.index(x)`: the first position holding an equal value.
            sentiments.iter().position(|y| *y == x).unwrap_or(k)
        } else {
            k
        };
        if si < bi {
            sentiments[si] = x * 0.5;
        } else if si > bi {
            sentiments[si] = x * 1.5;
        }
    }
}

/// Punctuation emphasis, normalisation and the pos/neu/neg proportions.
fn finish(sentiments: &[f64], bangs: usize, questions: usize) -> Sentiment {
    // A plain left-to-right sum from +0.0, as Python 3.11's sum() (compensated summation or
    // a -0.0 start changes the sign of cancelling sums).
    let mut sum = 0.0f64;
    for s in sentiments {
        sum += *s;
    }
    let ep = bangs.min(4) as f64 * 0.292;
    let qm = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * 0.18,
        _ => 0.96,
    };
    let amp = ep + qm;
    if sum > 0.0 {
        sum += amp;
    } else if sum < 0.0 {
        sum -= amp;
    }
    let compound = (sum / (sum * sum + ALPHA).sqrt()).clamp(-1.0, 1.0);
    let mut pos_sum = 0.0f64;
    let mut neg_sum = 0.0f64;
    let mut neu = 0usize;
    for &s in sentiments {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu += 1;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += amp;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= amp;
    }
    let total = pos_sum + neg_sum.abs() + neu as f64;
    let compound = round_to(compound, 4);
    Sentiment {
        compound,
        pos: round_to((pos_sum / total).abs(), 3),
        neu: round_to((neu as f64 / total).abs(), 3),
        neg: round_to((neg_sum / total).abs(), 3),
        label: Label::from_compound(compound),
    }
}

/// Rounds as the reference reports its scores (4 decimals for the compound, 3 for the rest).
fn round_to(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Python's `str.isupper()`: at least one cased character and no lowercase or titlecase one.
/// Accented capitals count (`PERFETTO È BUONO`), symbols and digits are ignored (`:D`, `A1`).
pub fn is_upper(s: &str) -> bool {
    if s.is_ascii() {
        let b = s.as_bytes();
        return b.iter().any(u8::is_ascii_uppercase) && !b.iter().any(u8::is_ascii_lowercase);
    }
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// Unicode general category Lt (Rust's std has no test for it).
fn is_titlecase(c: char) -> bool {
    matches!(c,
        '\u{01C5}' | '\u{01C8}' | '\u{01CB}' | '\u{01F2}'
        | '\u{1F88}'..='\u{1F8F}' | '\u{1F98}'..='\u{1F9F}' | '\u{1FA8}'..='\u{1FAF}'
        | '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_isupper() {
        for s in ["I", "A1", "OK", ":D", "XD", "È", "TRÈS", "PERFETTO"] {
            assert!(is_upper(s), "{s}");
        }
        for s in ["Ça", ":)", "123", "!!!", "ǅA", "good"] {
            assert!(!is_upper(s), "{s}");
        }
    }
}
