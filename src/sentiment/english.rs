//! The English pack: VADER's lexicon (from the `vader_sentiment` crate, with the corrections
//! below), its word lists, and its tokeniser as vaderSentiment 3.3.2 splits text.

use rustc_hash::{FxHashMap, FxHashSet};

use super::engine::{B_DECR, B_INCR, Entry, Feat, Pack, is_upper, role};

/// Version of the English pack's data and rules (stored with every score).
pub const VERSION: &str = "en-vader3.3.2-1";

/// Where the crate's table differs from vaderSentiment 3.3.2's effective lexicon: the crate
/// lacks `heart` and `hearts` (so `❤` scored 0), and its case-insensitive keys let the
/// unreachable `:P` (1.4) override `:p` (1.0) and make `:Þ`-style keys reachable.
const ADDED: &[(&str, f64)] = &[("heart", 3.2), ("hearts", 3.3), (":p", 1.0)];
const REMOVED: &[&str] = &[":þ", ":-þ"];

const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

const BOOST: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

const DAMPEN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sorta",
    "sortof",
    "sort-of",
];

const IDIOMS: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

const PHRASE_DAMPENERS: &[&str] = &["kind of", "sort of", "just enough"];

const ROLES: &[(&str, u16)] = &[
    ("no", role::NO),
    ("or", role::OR_NOR),
    ("nor", role::OR_NOR),
    ("never", role::NEVER),
    ("so", role::SO_THIS),
    ("this", role::SO_THIS),
    ("without", role::WITHOUT),
    ("doubt", role::DOUBT),
    ("least", role::LEAST),
    ("at", role::AT_VERY),
    ("very", role::AT_VERY),
    ("kind", role::KIND),
    ("of", role::OF),
    ("but", role::CONTRAST),
];

pub fn pack() -> Pack {
    let mut entries: FxHashMap<Box<str>, Entry> = FxHashMap::default();
    for (k, v) in vader_sentiment::LEXICON.iter() {
        let key = k.to_lowercase();
        entries.entry(key.into()).or_default().valence = Some(*v);
    }
    for (k, v) in ADDED {
        entries.entry((*k).into()).or_default().valence = Some(*v);
    }
    for k in REMOVED {
        entries.remove(*k);
    }
    for w in BOOST {
        entries.entry((*w).into()).or_default().booster = Some(B_INCR);
    }
    for w in DAMPEN {
        entries.entry((*w).into()).or_default().booster = Some(B_DECR);
    }
    for (w, r) in ROLES {
        entries.entry((*w).into()).or_default().roles |= *r;
    }
    for w in NEGATE {
        entries.entry((*w).into()).or_default().roles |= role::NEGATOR;
    }
    Pack {
        lang: "en",
        version: VERSION.to_string(),
        entries,
        negators: FxHashSet::default(),
        negate_nt: true,
        idioms: IDIOMS.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
        phrase_boosters: PHRASE_DAMPENERS
            .iter()
            .map(|k| ((*k).into(), B_DECR))
            .collect(),
        contrast_index_quirk: true,
        negative_concord: false,
        neg_weight: 1.0,
        pos_weight: 1.0,
    }
}

/// Python's `str.isspace()` set, which includes the information separators U+001C..U+001F
/// that Rust's `char::is_whitespace` lacks.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// Tokens of `text` as vaderSentiment splits them: on whitespace, each trimmed of ASCII
/// punctuation at both ends unless that would leave two characters or fewer (so `:)` and
/// `ok.` stay as they are). `low` receives the lowercase forms; `spans` the (surface, lower)
/// byte ranges.
pub fn tokenize(
    text: &str,
    low: &mut String,
    spans: &mut Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
) {
    low.clear();
    spans.clear();
    for raw in text.split(is_py_space).filter(|t| !t.is_empty()) {
        let trimmed = raw.trim_matches(|c: char| c.is_ascii_punctuation());
        let word = if trimmed.chars().count() <= 2 {
            raw
        } else {
            trimmed
        };
        let offset = word.as_ptr() as usize - text.as_ptr() as usize;
        let start = low.len();
        if word.is_ascii() {
            low.extend(word.bytes().map(|b| b.to_ascii_lowercase() as char));
        } else {
            low.push_str(&word.to_lowercase());
        }
        spans.push((offset..offset + word.len(), start..low.len()));
    }
}

/// Engine features of English tokens.
pub fn features(pack: &Pack, surfaces: &[&str], lows: &[&str], out: &mut Vec<Feat>) {
    out.clear();
    for (surf, low) in surfaces.iter().zip(lows) {
        let entry = pack.entry(low);
        out.push(Feat {
            entry,
            negator: pack.is_negator(&entry, low, low),
            upper: is_upper(surf),
            seg: 0,
            immune: false,
            proper: false,
            blocked: false,
        });
    }
}
