//! What the customer-voice model reads in a text: its words and word pairs (with negation
//! marked), the general lexicon's scores, the customer-experience phrases found by category,
//! and a few combinations of them (a failure told as a question, a failure thanked for,
//! a failure in positive words: sarcasm).
//!
//! Features are named by strings and hashed into the model's table, so the same code serves
//! training, scoring and explanations; the names are built only when an explanation asks.

use super::lexicon::{Category, Lexicon, Match};
use super::tokens::{Kind, Lang, Tokens};
use crate::mention::Sentiment;

/// FNV-1a, 64 bits: stable across platforms and releases (the weights depend on it).
pub const fn fnv(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// Combines two hashes (order matters): a multiply-xorshift step, stable like [`fnv`].
pub const fn mix(a: u64, b: u64) -> u64 {
    let x = (a ^ b.rotate_left(23)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

/// Receives features: a hashed name, a value, and the name for explanations (built only when
/// asked).
pub trait Sink {
    fn feature(&mut self, hash: u64, value: f32, name: &dyn Fn() -> String);
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn feature(&mut self, hash: u64, value: f32, name: &dyn Fn() -> String) {
        (**self).feature(hash, value, name)
    }
}

/// A feature with a fixed name.
fn emit<S: Sink + ?Sized>(sink: &mut S, hash: u64, name: &str, value: f32) {
    sink.feature(hash, value, &|| name.to_string());
}

const WORD: u64 = fnv("w");
const WORD_NEGATED: u64 = fnv("w!");
const PAIR: u64 = fnv("b");
const STEM_TAG: u64 = fnv("s");
const STEM_NEGATED: u64 = fnv("s!");
const START: u64 = fnv("<s>");
const END: u64 = fnv("</s>");
const PRIOR: u64 = fnv("prior");
const CUE: u64 = fnv("c:");

/// The hash of a fixed feature name, computed at compile time.
macro_rules! named {
    ($name:literal) => {{
        const H: u64 = fnv($name);
        (H, $name)
    }};
}

/// Letters of an Italian word's stem feature.
const STEM: usize = 5;

/// Role bits of a word (see [`roles`]).
pub const NEGATOR: u8 = 1;
pub const CONTRAST: u8 = 2;
pub const FILLER: u8 = 4;

/// Words after which the next few words are negated.
const NEGATORS_EN: &[&str] = &[
    "not", "no", "never", "cannot", "without", "nothing", "nobody", "none", "neither", "nor",
    "zero", "hardly", "barely", "nowhere", "noone", "dont", "cant", "wont", "didnt", "doesnt",
    "isnt", "wasnt", "havent", "hasnt", "arent", "werent", "couldnt", "wouldnt", "shouldnt",
    "aint", "nope",
];
const NEGATORS_IT: &[&str] = &[
    "non", "no", "mai", "nessun", "nessuno", "nessuna", "niente", "nulla", "senza", "né",
    "neanche", "nemmeno", "neppure", "zero", "manco", "nn", "nisba",
];
/// Words that end a negation's reach, as punctuation does.
const CONTRASTS_EN: &[&str] = &[
    "but", "however", "though", "although", "except", "whereas", "unlike",
];
const CONTRASTS_IT: &[&str] = &[
    "ma", "però", "pero", "tuttavia", "invece", "mentre", "anche", "eppure", "cmq", "comunque",
];
/// Words skipped when looking back for a negation ("not a single issue", "nessun tipo di
/// problema").
const FILLERS_EN: &[&str] = &[
    "a", "an", "the", "any", "single", "one", "of", "real", "major", "big", "more", "much", "my",
    "our", "your", "their", "its", "his", "her", "even", "at", "all", "so", "too", "very",
];
const FILLERS_IT: &[&str] = &[
    "un", "una", "uno", "un'", "alcun", "alcuno", "alcuna", "il", "lo", "la", "l'", "i", "gli",
    "le", "di", "del", "della", "dei", "delle", "dell'", "più", "grande", "grosso", "minimo",
    "ombra", "tipo", "mio", "mia", "miei", "mie", "proprio", "mezzo", "mezza", "ancora",
];

/// The role bits of a language's negators, contrast words and fillers, by token hash.
pub fn roles(lang: Lang) -> rustc_hash::FxHashMap<u64, u8> {
    let (negators, contrasts, fillers) = match lang {
        Lang::En => (NEGATORS_EN, CONTRASTS_EN, FILLERS_EN),
        Lang::It => (NEGATORS_IT, CONTRASTS_IT, FILLERS_IT),
    };
    let mut map = rustc_hash::FxHashMap::default();
    for (words, bit) in [
        (negators, NEGATOR),
        (contrasts, CONTRAST),
        (fillers, FILLER),
    ] {
        for w in words {
            *map.entry(fnv(w)).or_insert(0) |= bit;
        }
    }
    map
}

/// Role bits of token `i`: English also negates with any "n't" word.
fn role(lex: &Lexicon, toks: &Tokens, i: usize) -> u8 {
    let r = lex.role(toks, i);
    if lex.lang() == Lang::En && toks.kind(i) == Kind::Word && toks.text(i).ends_with("n't") {
        r | NEGATOR
    } else {
        r
    }
}

fn is_boundary(lex: &Lexicon, toks: &Tokens, i: usize) -> bool {
    toks.kind(i) == Kind::Punct || lex.role(toks, i) & CONTRAST != 0
}

/// Whether a negator stands within three words (fillers not counted) before token `i`, in the
/// same clause.
pub fn negated_before(lex: &Lexicon, toks: &Tokens, i: usize) -> bool {
    let mut steps = 0;
    let mut k = i;
    while k > 0 && steps < 3 {
        k -= 1;
        if is_boundary(lex, toks, k) {
            return false;
        }
        let r = role(lex, toks, k);
        if r & NEGATOR != 0 {
            return true;
        }
        if r & FILLER == 0 {
            steps += 1;
        }
    }
    false
}

/// The categories as the model sees them, after negation and position: "no issues" is a
/// negated problem (praise), "no reply" a negated lack (a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Failure,
    Problem,
    /// A problem, failure, fee or waiting denied: "no issues", "never late", "no hidden fees".
    NoProblem,
    /// Something owed that did not come: "no reply", "never got my refund".
    Missing,
    Wait,
    Money,
    Churn,
    Anger,
    /// Disapproval denied: "not bad".
    NoAnger,
    Sarcasm,
    /// Irony that needs no context: "thanks for nothing", "yeah right".
    Irony,
    Praise,
    /// Praise denied: "not quick", "not helpful".
    NoPraise,
    /// A question or request that opens a sentence.
    Request,
    /// A question word inside a sentence.
    RequestInside,
    Thanks,
    /// Thanks closing the post.
    ThanksAtEnd,
}

impl Cue {
    pub const COUNT: usize = 17;

    pub fn name(self) -> &'static str {
        match self {
            Cue::Failure => "failure",
            Cue::Problem => "problem",
            Cue::NoProblem => "no-problem",
            Cue::Missing => "missing",
            Cue::Wait => "wait",
            Cue::Money => "money",
            Cue::Churn => "churn",
            Cue::Anger => "anger",
            Cue::NoAnger => "no-anger",
            Cue::Sarcasm => "sarcasm",
            Cue::Irony => "irony",
            Cue::Praise => "praise",
            Cue::NoPraise => "no-praise",
            Cue::Request => "request",
            Cue::RequestInside => "request-inside",
            Cue::Thanks => "thanks",
            Cue::ThanksAtEnd => "thanks-at-end",
        }
    }

    /// A sign that something went wrong.
    fn is_failure(self) -> bool {
        matches!(
            self,
            Cue::Failure
                | Cue::Problem
                | Cue::Missing
                | Cue::Money
                | Cue::Churn
                | Cue::Anger
                | Cue::NoPraise
                | Cue::Irony
        )
    }
}

/// What a lexicon match means in its context, or `None` when it means nothing there.
pub fn cue(lex: &Lexicon, toks: &Tokens, m: &Match) -> Option<Cue> {
    let negated = || negated_before(lex, toks, m.start);
    Some(match m.category {
        Category::Topic => return None,
        Category::Problem => {
            if negated() {
                Cue::NoProblem
            } else {
                Cue::Problem
            }
        }
        Category::Lack => {
            if negated() {
                Cue::Missing
            } else {
                return None;
            }
        }
        Category::Failure | Category::Wait | Category::Money if negated() => Cue::NoProblem,
        Category::Failure => Cue::Failure,
        Category::Wait => Cue::Wait,
        Category::Money => Cue::Money,
        Category::Churn => Cue::Churn,
        Category::Anger if negated() => Cue::NoAnger,
        Category::Anger => Cue::Anger,
        Category::Sarcasm => Cue::Sarcasm,
        Category::Irony => Cue::Irony,
        Category::Praise if negated() => Cue::NoPraise,
        Category::Praise => Cue::Praise,
        Category::Request => {
            let opens = m.start == 0
                || matches!(
                    toks.kind(m.start - 1),
                    Kind::Punct | Kind::User | Kind::Url | Kind::Emoji
                );
            if opens {
                Cue::Request
            } else {
                Cue::RequestInside
            }
        }
        Category::Thanks => {
            // Closing: only punctuation, emoji, handles and links after it.
            let closing = (m.end..toks.len()).all(|k| {
                matches!(
                    toks.kind(k),
                    Kind::Punct | Kind::Emoji | Kind::User | Kind::Url
                )
            });
            if closing {
                Cue::ThanksAtEnd
            } else {
                Cue::Thanks
            }
        }
    })
}

/// How many times each cue occurs in a text.
pub fn cue_counts(lex: &Lexicon, toks: &Tokens, matches: &[Match]) -> [u8; Cue::COUNT] {
    let mut counts = [0u8; Cue::COUNT];
    for m in matches {
        if let Some(cue) = cue(lex, toks, m) {
            counts[cue as usize] = counts[cue as usize].saturating_add(1);
        }
    }
    counts
}

/// A rule that overrides the model where its evidence is unambiguous and the model's words
/// cannot see it: politeness and irony around a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// "thanks for nothing", "yeah right": never praise.
    Irony,
    /// A failure with an ironic marker and no praise: "great, another outage 🙃".
    SarcasmAfterFailure,
    /// A failure closed by thanks and no praise: "still no refund, thanks".
    PoliteComplaint,
}

impl Override {
    pub fn describe(self) -> &'static str {
        match self {
            Override::Irony => "rule: irony",
            Override::SarcasmAfterFailure => "rule: sarcasm after a failure",
            Override::PoliteComplaint => "rule: thanks closing a complaint",
        }
    }

    /// The rule that turns a positive label negative, if any. `resolved`: the post says the
    /// problem was put right ("refunded", "replaced", "fixed"): thanks then close a story that
    /// ended well, and only irony overrides the model.
    pub fn find(counts: &[u8; Cue::COUNT], resolved: bool) -> Option<Override> {
        let n = |c: Cue| u32::from(counts[c as usize]);
        let failures: u32 = ALL_CUES
            .iter()
            .filter(|c| c.is_failure())
            .map(|c| n(*c))
            .sum::<u32>()
            + n(Cue::Wait);
        let praise = n(Cue::Praise) + n(Cue::NoProblem) + n(Cue::NoAnger);
        if n(Cue::Irony) > 0 {
            Some(Override::Irony)
        } else if praise > 0 || failures == 0 {
            None
        } else if n(Cue::Sarcasm) > 0 {
            Some(Override::SarcasmAfterFailure)
        } else if n(Cue::ThanksAtEnd) > 0 && !resolved {
            Some(Override::PoliteComplaint)
        } else {
            None
        }
    }
}

/// Words that say a customer's problem was put right, in English and Italian.
const RESOLVED: &[&str] = &[
    "refunded",
    "replaced",
    "fixed",
    "resolved",
    "repaired",
    "restored",
    "credited",
    "reimbursed",
    "sorted",
    "rimborsato",
    "rimborsata",
    "rimborsati",
    "sostituito",
    "sostituita",
    "sostituiti",
    "riparato",
    "riparata",
    "risolto",
    "risolta",
    "ripristinato",
    "ripristinata",
    "accreditato",
];

/// Whether a post says its problem was put right (and not that it was not: "never refunded",
/// "non risolto"), by its words.
pub fn says_resolved(toks: &super::tokens::Tokens) -> bool {
    let negators = [
        "not", "never", "no", "isn't", "wasn't", "hasn't", "haven't", "still", "yet", "non", "mai",
        "ancora",
    ];
    (0..toks.len()).any(|i| {
        RESOLVED.contains(&toks.text(i))
            && !(i.saturating_sub(2)..i).any(|j| negators.contains(&toks.text(j)))
    })
}

/// Emits every feature of one text.
///
/// `general` is the general lexicon's score of the text (VADER in English, the Italian pack),
/// computed with topic words unscored; `matches` are the lexicon's phrases in `toks`.
pub fn extract<S: Sink + ?Sized>(
    lex: &Lexicon,
    toks: &Tokens,
    general: &Sentiment,
    matches: &[Match],
    sink: &mut S,
) {
    let lang = lex.lang();
    let l = lang.code();
    let lh = fnv(l);
    // Each language's own prior over the labels.
    sink.feature(mix(lh, PRIOR), 1.0, &|| format!("{l}:prior"));
    // Words, negated ones marked, and word pairs. Each token is hashed once.
    let mut scope = 0u8;
    let (mut prev, mut prev_h) = ("<s>", START);
    for (i, (w, kind)) in toks.iter().enumerate() {
        if is_boundary(lex, toks, i) {
            scope = 0;
        }
        // Full stops, commas and colons end clauses but say nothing themselves: in small
        // written training sets they would learn the writer's habits, not the customer's mood.
        if kind == Kind::Punct && w != "?" && w != "!" {
            continue;
        }
        let wh = toks.hash(i);
        let negated = scope > 0 && kind == Kind::Word;
        let (tag, shown) = if negated {
            (WORD_NEGATED, ":w:!")
        } else {
            (WORD, ":w:")
        };
        sink.feature(mix(mix(lh, tag), wh), 1.0, &|| format!("{l}{shown}{w}"));
        sink.feature(mix(mix(mix(lh, PAIR), prev_h), wh), 1.0, &|| {
            format!("{l}:b:{prev} {w}")
        });
        // Italian inflects: "ritardo", "ritardi", "ritardato" share a stem of five letters.
        if lang == Lang::It && kind == Kind::Word {
            if let Some((cut, _)) = w.char_indices().nth(STEM) {
                let stem = &w[..cut];
                let (tag, shown) = if negated {
                    (STEM_NEGATED, ":s:!")
                } else {
                    (STEM_TAG, ":s:")
                };
                sink.feature(mix(mix(lh, tag), fnv(stem)), 1.0, &|| {
                    format!("{l}{shown}{stem}")
                });
            }
        }
        (prev, prev_h) = (w, wh);
        let r = role(lex, toks, i);
        if r & NEGATOR != 0 {
            scope = 3;
        } else if scope > 0 && r & FILLER == 0 {
            scope -= 1;
        }
    }
    sink.feature(mix(mix(mix(lh, PAIR), prev_h), END), 1.0, &|| {
        format!("{l}:b:{prev} </s>")
    });

    // Customer-experience cues.
    let counts = cue_counts(lex, toks, matches);
    let count = |c: Cue| counts[c as usize];
    for cue in ALL_CUES {
        let n = count(cue);
        if n > 0 {
            let name = cue.name();
            sink.feature(mix(CUE, fnv(name)), f32::from(n.min(3)), &|| {
                format!("c:{name}")
            });
        }
    }
    let failures: u32 = ALL_CUES
        .iter()
        .filter(|c| c.is_failure())
        .map(|c| u32::from(count(*c)))
        .sum();

    // The general lexicon. Its positive words mean something else next to a failure ("great,
    // another outage") or an ironic marker: there they have weights of their own.
    let c = general.compound as f32;
    {
        let (h, n) = named!("v:compound");
        emit(sink, h, n, c);
    }
    {
        let (h, n) = named!("v:positive");
        emit(sink, h, n, c.max(0.0));
    }
    {
        let (h, n) = named!("v:negative");
        emit(sink, h, n, c.min(0.0));
    }
    {
        let (h, n) = named!("v:pos");
        emit(sink, h, n, general.pos as f32);
    }
    {
        let (h, n) = named!("v:neg");
        emit(sink, h, n, general.neg as f32);
    }
    sink.feature(mix(lh, fnv("v:compound")), c, &|| format!("{l}:v:compound"));
    if failures > 0 {
        {
            let (h, n) = named!("v:positive|failure");
            emit(sink, h, n, c.max(0.0));
        }
        {
            let (h, n) = named!("v:negative|failure");
            emit(sink, h, n, c.min(0.0));
        }
    }
    if count(Cue::Sarcasm) > 0 {
        {
            let (h, n) = named!("v:positive|sarcasm");
            emit(sink, h, n, c.max(0.0));
        }
    }

    let question = toks.iter().any(|(t, k)| k == Kind::Punct && t == "?");
    if question {
        {
            let (h, n) = named!("x:question");
            emit(sink, h, n, 1.0);
        }
    }
    let thanked = count(Cue::Thanks) + count(Cue::ThanksAtEnd) > 0;
    if failures > 0 {
        {
            let (h, n) = named!("x:failure");
            emit(sink, h, n, failures.min(4) as f32);
        }
        if question {
            {
                let (h, n) = named!("x:failure+question");
                emit(sink, h, n, 1.0);
            }
        }
        if thanked {
            {
                let (h, n) = named!("x:failure+thanks");
                emit(sink, h, n, 1.0);
            }
        }
        if general.compound > 0.2 {
            {
                let (h, n) = named!("x:failure+positive-words");
                emit(sink, h, n, 1.0);
            }
        }
        if count(Cue::Sarcasm) > 0 {
            {
                let (h, n) = named!("x:failure+sarcasm");
                emit(sink, h, n, 1.0);
            }
        }
        if count(Cue::Wait) > 0 {
            {
                let (h, n) = named!("x:failure+wait");
                emit(sink, h, n, 1.0);
            }
        }
    } else {
        if question || count(Cue::Request) > 0 {
            {
                let (h, n) = named!("x:question-no-failure");
                emit(sink, h, n, 1.0);
            }
        }
        if count(Cue::Praise) > 0 {
            {
                let (h, n) = named!("x:praise-no-failure");
                emit(sink, h, n, 1.0);
            }
        }
        if count(Cue::Wait) > 0 {
            {
                let (h, n) = named!("x:wait-no-failure");
                emit(sink, h, n, 1.0);
            }
        }
    }
    if count(Cue::Sarcasm) > 0 && general.compound > 0.2 {
        {
            let (h, n) = named!("x:sarcasm+positive-words");
            emit(sink, h, n, 1.0);
        }
    }
}

pub const ALL_CUES: [Cue; Cue::COUNT] = [
    Cue::Failure,
    Cue::Problem,
    Cue::NoProblem,
    Cue::Missing,
    Cue::Wait,
    Cue::Money,
    Cue::Churn,
    Cue::Anger,
    Cue::NoAnger,
    Cue::Sarcasm,
    Cue::Irony,
    Cue::Praise,
    Cue::NoPraise,
    Cue::Request,
    Cue::RequestInside,
    Cue::Thanks,
    Cue::ThanksAtEnd,
];

#[cfg(test)]
mod tests {
    use super::super::lexicon::{self, Lexicon};
    use super::super::tokens::tokenize;
    use super::*;

    struct Names(Vec<String>);
    impl Sink for Names {
        fn feature(&mut self, _: u64, _: f32, name: &dyn Fn() -> String) {
            self.0.push(name());
        }
    }

    fn names(text: &str, lang: Lang) -> Vec<String> {
        let lex = match lang {
            Lang::En => Lexicon::parse(lexicon::EN, lang).unwrap(),
            Lang::It => Lexicon::parse(lexicon::IT, lang).unwrap(),
        };
        let mut t = Tokens::default();
        tokenize(text, lang, &mut t);
        let mut m = Vec::new();
        lex.find(&t, &mut m);
        let general = Sentiment {
            compound: 0.5,
            pos: 0.3,
            neu: 0.7,
            neg: 0.0,
            label: crate::mention::Label::Positive,
        };
        let mut n = Names(Vec::new());
        extract(&lex, &t, &general, &m, &mut n);
        n.0
    }

    #[test]
    fn negation_marks_words_up_to_the_clause_end() {
        let n = names("not good at all, great though", Lang::En);
        assert!(n.contains(&"en:w:!good".to_string()), "{n:?}");
        assert!(n.contains(&"en:w:great".to_string()), "{n:?}");
        assert!(n.contains(&"en:b:not good".to_string()), "{n:?}");
    }

    #[test]
    fn negated_problems_are_praise_and_negated_needs_are_failures() {
        let n = names("Never had a single issue with them", Lang::En);
        assert!(n.contains(&"c:no-problem".to_string()), "{n:?}");
        assert!(!n.contains(&"c:problem".to_string()), "{n:?}");
        let n = names("still no refund and no reply", Lang::En);
        assert!(n.contains(&"c:missing".to_string()), "{n:?}");
        assert!(n.contains(&"x:failure".to_string()), "{n:?}");
        let n = names("nessun problema, zero stress", Lang::It);
        assert!(n.contains(&"c:no-problem".to_string()), "{n:?}");
        let n = names("ancora nessuna risposta dall'assistenza", Lang::It);
        assert!(n.contains(&"c:missing".to_string()), "{n:?}");
    }

    #[test]
    fn questions_thanks_and_sarcasm_combine_with_failures() {
        let n = names("why is my parcel still not delivered?? thanks", Lang::En);
        for f in ["x:failure+question", "x:failure+thanks", "c:thanks-at-end"] {
            assert!(n.contains(&f.to_string()), "{f}: {n:?}");
        }
        let n = names("great, another outage 🙃", Lang::En);
        assert!(n.contains(&"x:failure+sarcasm".to_string()), "{n:?}");
        let n = names("Can I bring a dog on board?", Lang::En);
        assert!(n.contains(&"x:question-no-failure".to_string()), "{n:?}");
        assert!(n.contains(&"c:request".to_string()), "{n:?}");
    }

    #[test]
    fn fnv_is_the_published_function() {
        assert_eq!(fnv(""), 0xcbf29ce484222325);
        assert_eq!(fnv("a"), 0xaf63dc4c8601ec8c);
        assert_ne!(mix(1, 2), mix(2, 1), "order matters");
    }
}
