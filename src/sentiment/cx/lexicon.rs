//! The customer-voice lexicon: phrases that tell how customers complain and praise, in
//! categories (`data/sentiment/cx/{en,it}.tsv`; the file header explains the format).

use rustc_hash::FxHashMap;

use super::tokens::{self, Kind, Lang, Tokens};

/// What a phrase says about the experience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Failure,
    Problem,
    Lack,
    Wait,
    Money,
    Churn,
    Anger,
    Sarcasm,
    Irony,
    Praise,
    Topic,
    Request,
    Thanks,
}

impl Category {
    pub const ALL: [Category; 13] = [
        Category::Failure,
        Category::Problem,
        Category::Lack,
        Category::Wait,
        Category::Money,
        Category::Churn,
        Category::Anger,
        Category::Sarcasm,
        Category::Irony,
        Category::Praise,
        Category::Topic,
        Category::Request,
        Category::Thanks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Failure => "failure",
            Category::Problem => "problem",
            Category::Lack => "lack",
            Category::Wait => "wait",
            Category::Money => "money",
            Category::Churn => "churn",
            Category::Anger => "anger",
            Category::Sarcasm => "sarcasm",
            Category::Irony => "irony",
            Category::Praise => "praise",
            Category::Topic => "topic",
            Category::Request => "request",
            Category::Thanks => "thanks",
        }
    }

    fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// One word of a phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A word, by its text and its hash (compared first).
    Exact(Box<str>, u64),
    /// `deliver*`: any word starting so.
    Prefix(Box<str>),
    Number,
    Ordinal,
}

impl Pattern {
    fn matches(&self, toks: &Tokens, i: usize) -> bool {
        let (text, kind) = (toks.text(i), toks.kind(i));
        match self {
            Pattern::Exact(w, h) => *h == toks.hash(i) && **w == *text,
            Pattern::Prefix(p) => kind == Kind::Word && text.starts_with(&**p),
            Pattern::Number => kind == Kind::Number,
            Pattern::Ordinal => kind == Kind::Ordinal,
        }
    }
}

#[derive(Debug, Clone)]
struct Phrase {
    category: Category,
    words: Vec<Pattern>,
    /// As written in the file, for explanations.
    text: Box<str>,
}

/// A phrase found in a text: tokens `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub start: usize,
    pub end: usize,
    pub category: Category,
    phrase: u32,
}

/// A language's phrases, indexed by their first word.
#[derive(Debug, Clone)]
pub struct Lexicon {
    lang: Lang,
    phrases: Vec<Phrase>,
    /// By the hash of the first word.
    by_first: FxHashMap<u64, Vec<u32>>,
    by_number: Vec<u32>,
    by_ordinal: Vec<u32>,
    /// Negators, contrast words and fillers (see [`super::features`]), by token hash.
    roles: FxHashMap<u64, u8>,
    /// Phrases whose first word is a prefix pattern, by the prefix's first two bytes.
    by_prefix: FxHashMap<[u8; 2], Vec<u32>>,
}

/// A malformed lexicon line.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LexiconError {
    pub line: usize,
    pub message: String,
}

impl Lexicon {
    /// Parses a lexicon file; phrases are tokenised as texts are, so they match what the
    /// tokeniser makes of the same words.
    pub fn parse(text: &str, lang: Lang) -> Result<Lexicon, LexiconError> {
        let mut lex = Lexicon {
            lang,
            phrases: Vec::new(),
            by_first: FxHashMap::default(),
            by_number: Vec::new(),
            by_ordinal: Vec::new(),
            by_prefix: FxHashMap::default(),
            roles: super::features::roles(lang),
        };
        let mut seen = std::collections::HashSet::new();
        let mut toks = Tokens::default();
        for (no, line) in text.lines().enumerate() {
            let line_no = no + 1;
            let err = |message: String| LexiconError {
                line: line_no,
                message,
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (cat, phrase) = line
                .split_once('\t')
                .ok_or_else(|| err("expected CATEGORY<TAB>PHRASE".into()))?;
            let category =
                Category::parse(cat).ok_or_else(|| err(format!("unknown category {cat:?}")))?;
            let phrase = phrase.trim();
            if phrase.is_empty() {
                return Err(err("empty phrase".into()));
            }
            if !seen.insert((category, phrase.to_string())) {
                return Err(err(format!(
                    "{phrase:?} is listed twice in {}",
                    category.name()
                )));
            }
            let mut words = Vec::new();
            for part in phrase.split(' ') {
                match part {
                    "#" => words.push(Pattern::Number),
                    "#th" => words.push(Pattern::Ordinal),
                    _ if part.ends_with('*') && part.len() > 1 => {
                        tokens::tokenize(&part[..part.len() - 1], lang, &mut toks);
                        if toks.len() != 1 || toks.kind(0) != Kind::Word || toks.text(0).len() < 2 {
                            return Err(err(format!(
                                "{part:?}: a prefix must be one word of two letters or more"
                            )));
                        }
                        words.push(Pattern::Prefix(toks.text(0).into()));
                    }
                    _ => {
                        tokens::tokenize(part, lang, &mut toks);
                        if toks.is_empty() {
                            return Err(err(format!("{part:?} is not a word")));
                        }
                        for (t, _) in toks.iter() {
                            words.push(Pattern::Exact(t.into(), super::features::fnv(t)));
                        }
                    }
                }
            }
            let id = lex.phrases.len() as u32;
            match &words[0] {
                Pattern::Exact(_, h) => lex.by_first.entry(*h).or_default().push(id),
                Pattern::Prefix(p) => {
                    let key = [p.as_bytes()[0], p.as_bytes()[1]];
                    lex.by_prefix.entry(key).or_default().push(id)
                }
                Pattern::Number => lex.by_number.push(id),
                Pattern::Ordinal => lex.by_ordinal.push(id),
            }
            lex.phrases.push(Phrase {
                category,
                words,
                text: phrase.into(),
            });
        }
        Ok(lex)
    }

    pub fn len(&self) -> usize {
        self.phrases.len()
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The role bits of token `i` (0: an ordinary word).
    pub fn role(&self, toks: &Tokens, i: usize) -> u8 {
        if toks.kind(i) != Kind::Word {
            return 0;
        }
        self.roles.get(&toks.hash(i)).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The phrase as written in the lexicon file.
    pub fn phrase(&self, m: &Match) -> &str {
        &self.phrases[m.phrase as usize].text
    }

    /// Every single-word phrase of `category` (topic words, for the general lexicon).
    pub fn words_of(&self, category: Category) -> impl Iterator<Item = &str> + '_ {
        self.phrases
            .iter()
            .filter_map(move |p| match (&p.category, &p.words[..]) {
                (c, [Pattern::Exact(w, _)]) if *c == category => Some(&**w),
                _ => None,
            })
    }

    /// The phrases found in `toks`: in each category, at each position the longest phrase,
    /// and phrases of one category do not overlap (the earlier one wins).
    pub fn find(&self, toks: &Tokens, out: &mut Vec<Match>) {
        out.clear();
        let n = toks.len();
        for i in 0..n {
            let kind = toks.kind(i);
            let ids: &[u32] = match kind {
                Kind::Number => &self.by_number,
                Kind::Ordinal => &self.by_ordinal,
                _ => self.by_first.get(&toks.hash(i)).map_or(&[], Vec::as_slice),
            };
            let text = toks.text(i).as_bytes();
            let prefixed: &[u32] = match (kind, text) {
                (Kind::Word, [a, b, ..]) => {
                    self.by_prefix.get(&[*a, *b]).map_or(&[], Vec::as_slice)
                }
                _ => &[],
            };
            for &id in ids.iter().chain(prefixed) {
                let p = &self.phrases[id as usize];
                let len = p.words.len();
                if i + len > n {
                    continue;
                }
                if p.words
                    .iter()
                    .enumerate()
                    .all(|(k, w)| w.matches(toks, i + k))
                {
                    out.push(Match {
                        start: i,
                        end: i + len,
                        category: p.category,
                        phrase: id,
                    });
                }
            }
        }
        // Longest first at each start, per category; then drop overlaps within a category.
        out.sort_by(|a, b| (a.category, a.start, b.end).cmp(&(b.category, b.start, a.end)));
        let mut kept = 0;
        let mut last: Option<(Category, usize)> = None;
        for k in 0..out.len() {
            let m = out[k];
            if let Some((c, end)) = last {
                if c == m.category && m.start < end {
                    continue;
                }
            }
            last = Some((m.category, m.end));
            out[kept] = m;
            kept += 1;
        }
        out.truncate(kept);
        // A phrase inside a longer phrase of another category is read as part of it: "thanks"
        // in "thanks for nothing" is sarcasm, not thanks. Topic words stay: they only tell the
        // general lexicon what not to score.
        let spans: Vec<(usize, usize, Category)> =
            out.iter().map(|m| (m.start, m.end, m.category)).collect();
        out.retain(|m| {
            m.category == Category::Topic
                || !spans.iter().any(|&(s, e, c)| {
                    c != m.category
                        && c != Category::Topic
                        && s <= m.start
                        && m.end <= e
                        && e - s > m.end - m.start
                })
        });
        out.sort_by_key(|m| (m.start, m.end, m.category));
    }
}

pub const EN: &str = include_str!("../../../data/sentiment/cx/en.tsv");
pub const IT: &str = include_str!("../../../data/sentiment/cx/it.tsv");

#[cfg(test)]
mod tests {
    use super::*;

    fn found(lex: &Lexicon, text: &str, lang: Lang) -> Vec<(String, &'static str)> {
        let mut t = Tokens::default();
        tokens::tokenize(text, lang, &mut t);
        let mut out = Vec::new();
        lex.find(&t, &mut out);
        out.iter()
            .map(|m| (lex.phrase(m).to_string(), m.category.name()))
            .collect()
    }

    #[test]
    fn the_shipped_lexicons_parse() {
        let en = Lexicon::parse(EN, Lang::En).unwrap();
        let it = Lexicon::parse(IT, Lang::It).unwrap();
        assert!(en.len() > 700, "{}", en.len());
        assert!(it.len() > 600, "{}", it.len());
    }

    #[test]
    fn longest_phrase_wins_within_a_category() {
        let en = Lexicon::parse(EN, Lang::En).unwrap();
        let got = found(
            &en,
            "Still waiting, on hold for 2 hours. Thanks for nothing 🙃",
            Lang::En,
        );
        assert!(got.contains(&("still waiting".into(), "wait")), "{got:?}");
        assert!(got.contains(&("for # hours".into(), "wait")), "{got:?}");
        assert!(
            got.contains(&("thanks for nothing".into(), "irony")),
            "{got:?}"
        );
        assert!(got.contains(&("🙃".into(), "sarcasm")), "{got:?}");
    }

    #[test]
    fn italian_phrases_match_after_elision() {
        let it = Lexicon::parse(IT, Lang::It).unwrap();
        let got = found(
            &it,
            "Addebitato due volte e l'assistenza non risponde",
            Lang::It,
        );
        assert!(
            got.contains(&("addebitato due volte".into(), "money")),
            "{got:?}"
        );
        assert!(got.contains(&("non risponde".into(), "failure")), "{got:?}");
        assert!(got.contains(&("assistenza".into(), "topic")), "{got:?}");
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let e = Lexicon::parse("failure\tok\nfeeling\tsad\n", Lang::En).unwrap_err();
        assert_eq!(e.line, 2);
        let e = Lexicon::parse("failure late\n", Lang::En).unwrap_err();
        assert_eq!(e.line, 1);
    }
}
