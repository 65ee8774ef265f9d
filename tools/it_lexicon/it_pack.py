# -*- coding: utf-8 -*-
"""Italian language pack for the mentiond VADER-style engine: everything except the lexicon.

Pure data, hand-written (no list here was learned from SENTIPOLC or any other labelled corpus).
`python3 tools/it_lexicon/it_pack.py` writes data/sentiment/it/pack.json, the machine-readable form
mentiond embeds (src/sentiment/italian.rs).

Matching conventions (see SPEC.md, section 2):
  * lower(tok)  = token lower-cased, apostrophes normalised to U+0027.
  * key(tok)    = fold(lower(tok)): accents removed (NFD, drop combining marks).
  * NEGATORS are matched on lower(tok) (accent-sensitive: "né" is a negator, "ne" is a clitic).
  * every other table (lexicon, boosters, contrast, special words) is matched on key(tok), so
    all keys in this file are given in folded form or get folded by fold() when loaded.
  * multiword entries use "_" between tokens *after* tokenisation (elided prefixes are tokens of
    their own: "non vedo l'ora" -> "non_vedo_l'_ora").

Licence of this file's data: written for mentiond (same licence as the code).
"""
import json
import os
import sys
import unicodedata

B_INCR = 0.293
B_DECR = -0.293
# it2: every negative token sentiment (after boosters, negation, caps) is multiplied by NEG_WEIGHT before
# the "but" rule and the sum (SO-CAL-style negativity weighting; chosen by 5-fold CV on train+val).
NEG_WEIGHT = 2.0


def fold(s):
    """Lowercase + strip diacritics (à->a, é->e, ì->i, ò->o, ù->u, ...)."""
    s = unicodedata.normalize("NFD", s.lower())
    return "".join(c for c in s if not unicodedata.combining(c))


# --------------------------------------------------------------------------------------------
# Negation. One token (or merged multiword token) negates a lexicon word up to 3 tokens after it
# (VADER window). Italian has negative concord ("non ... mai/niente/nessuno/neanche/né") so the
# engine applies N_SCALAR at most ONCE per sentiment word however many negators sit in its window
# (Italian rule IT-1 in SPEC.md).
# Matched on lower(tok), i.e. accent-sensitive.
# --------------------------------------------------------------------------------------------
NEGATORS = [
    "non", "nn",              # nn is also normalised to non by ABBREVIATIONS
    "mai",
    "né", "nè",               # NOT "ne" (clitic pronoun, very frequent)
    "nessuno", "nessuna", "nessun",
    "niente", "nulla", "nnt",
    "senza",
    "neanche", "nemmeno", "neppure", "manco",
    "mica",
    "poco",                   # "poco chiaro/serio/gentile/affidabile" = not clear/...; IT-2 in SPEC
    "per_niente", "per_nulla", "niente_affatto", "nient'_affatto",   # merged multiword negators
    "per_niente_affatto",
    "tutto_altro_che",        # it2: "tutt'altro che bello" = anything but nice (tutt' -> tutto by ABBREVIATIONS)
]

# VADER's hard-coded English pairs, mapped onto Italian (rule IT-3):
#   "never so/this X"  -> x1.25 instead of negation     : "mai così bello", "mai cosi felice"
#   "without doubt X"  -> no negation                   : "senza dubbio ottimo"
#   "least X"          -> negation unless "at least"    : Italian has no equivalent; "il meno" is
#                                                         rare in opinions, so the list is empty.
NEVER_WORDS = ["mai"]
SO_THIS_WORDS = ["così", "cosi"]       # folded on load (English: so, this)
WITHOUT_WORDS = ["senza"]
DOUBT_WORDS = ["dubbio", "dubbi"]
LEAST_WORDS = []
LEAST_EXCEPT = []
NO_WORD = None       # VADER's special handling of English "no" is disabled for Italian

# --------------------------------------------------------------------------------------------
# Boosters / dampeners (VADER BOOSTER_DICT): a modifier 1..3 tokens before a sentiment word adds
# +/-0.293 (x0.95 at distance 2, x0.9 at distance 3), sign following the word's valence.
# Selection: Italian degree adverbs; Pattern it-sentiment.xml (BSD-3) adverbs with intensity >1 /
# <1 were used as a checklist, filtered by hand (Pattern also marks "sempre", "chiaramente",
# "oro" ... as intensifiers, which are not degree adverbs).
# --------------------------------------------------------------------------------------------
_INCR = """molto tanto troppo davvero veramente realmente proprio estremamente assai altamente
assolutamente completamente totalmente decisamente immensamente infinitamente incredibilmente
particolarmente profondamente enormemente tremendamente terribilmente straordinariamente
notevolmente parecchio talmente così più sommamente oltremodo esageratamente follemente
pazzescamente super iper ultra stra mega strabello davvvero sempre_più del_tutto un_sacco
fin_troppo alquanto_mai piu_che estremo estrema particolare pienamente seriamente""".split()
_INCR = [w for w in _INCR if w not in ("strabello", "davvvero", "alquanto_mai", "piu_che",
                                       "estremo", "estrema", "particolare", "seriamente")]
_DECR = """abbastanza piuttosto un_po' un_poco un_pochino un_pochettino un_tantino pochino
leggermente lievemente appena quasi relativamente moderatamente parzialmente minimamente
vagamente alquanto discretamente sufficientemente meno mezzo_mezzo""".split()
BOOSTERS = {}
for _w in _INCR:
    BOOSTERS[fold(_w)] = B_INCR
for _w in _DECR:
    BOOSTERS[fold(_w)] = B_DECR

# --------------------------------------------------------------------------------------------
# Contrast ("but") words: the FIRST token whose key is in this set splits the text; sentiment
# before it x0.5, after it x1.5 (VADER _but_check).  "anche se" / "sebbene" / "benché" are NOT
# here: their main clause comes first ("mi piace, anche se costa"), the opposite of "but".
# --------------------------------------------------------------------------------------------
CONTRAST = ["ma", "però", "pero", "tuttavia", "eppure", "xò", "xo"]

# --------------------------------------------------------------------------------------------
# Abbreviations / social-media spellings, applied to key(tok) after punctuation stripping and
# elision splitting (before multiword merging). A value with spaces becomes several tokens.
# --------------------------------------------------------------------------------------------
ABBREVIATIONS = {
    "nn": "non", "n": None,   # None = leave unchanged (listed to document the decision)
    "cmq": "comunque", "cm": "come", "x": "per", "xk": "perché", "xké": "perché", "xke": "perché",
    "xche": "perché", "xché": "perché", "perke": "perché", "perké": "perché", "pke": "perché",
    "ke": "che", "k": "che", "ki": "chi", "qnd": "quando", "qlc": "qualcosa", "qlcs": "qualcosa",
    "qls": "qualcosa", "sn": "sono", "cn": "con", "tt": "tutto", "dv": "dove", "nnt": "niente",
    "xò": "però", "xo": "però", "pò": "po'", "po": "po'", "tvb": "ti voglio bene",
    "tvtb": "ti voglio tanto bene", "tvtttb": "ti voglio tanto bene", "tat": "ti amo tanto",
    "grz": "grazie", "grazi": "grazie", "thx": "grazie", "tnx": "grazie", "ty": "grazie",
    "bn": "bene", "dp": "dopo", "msg": "messaggio", "risp": "risposta", "nient'": "niente",
    "senz'": "senza", "nessun'": "nessuna", "bell'": "bello", "brutt'": "brutto",
    "grand'": "grande", "buon'": "buona", "tutt'": "tutto", "quest'": "questo",
    "quell'": "quello",
}
ABBREVIATIONS = {k: v for k, v in ABBREVIATIONS.items() if v is not None}

# Laughter: a token whose key matches this regex becomes the canonical token "ahah" (lexicon
# value in LEXICON_EXTRA). Written as a Python/Rust-regex compatible pattern, full match.
LAUGHTER_REGEX = r"(?:a?h?(?:ah|ha){2,}[ah]*|(?:eh){3,}|(?:ih|hi){3,}|lo+l|xd+|ahah\w*)"
LAUGHTER_TOKEN = "ahah"

# Elongation: runs of >=3 identical letters are collapsed (Italian has no triple letters); the
# engine tries the 1-letter collapse first, then the 2-letter one (belloooo -> bello, nooo -> no).
ELONGATION_MIN_RUN = 3

# --------------------------------------------------------------------------------------------
# Extra lexicon entries that belong to the pack's preprocessing (canonical tokens), merged into
# the lexicon at load time. Values follow VADER's scale (English "haha" 2.0, "lol" 1.8).
# --------------------------------------------------------------------------------------------
LEXICON_EXTRA = {
    "ahah": 1.5,      # laughter; below English "haha" 2.0 because Italian tweets use it for mockery too
}

# Words removed from the lexicon because the rules handle them (negators, boosters, contrast) or
# because they are function words / topic words whose source scores are artefacts. Folded keys.
# Sentix gives e.g. non -0.58, ma +0.88, mai -0.63, essere +0.13, avere +0.13, fare +0.15.
FUNCTION_WORDS = """
a ad al allo ai agli alla alle col coi da dal dallo dai dagli dalla dalle di del dello dei degli
della delle in nel nello nei negli nella nelle su sul sullo sui sugli sulla sulle per tra fra con
il lo la i gli le l un uno una un' d' c' s' m' t' v' dell' all' dall' nell' sull' quest' quell'
e ed o od oppure anche pure ancora inoltre quindi dunque allora poi che chi cui quale quali
quando come dove perche perciò percio mentre se sebbene benche anche_se infatti cioe ossia
io tu lui lei noi voi loro esso essa essi esse me te se sé ce ve ne ci vi mi ti si gli glielo
mio mia miei mie tuo tua tuoi tue suo sua suoi sue nostro nostra nostri nostre vostro vostra
vostri vostre questo questa questi queste quello quella quelli quelle quel quei stesso stessa
stessi stesse altro altra altri altre tutto tutta tutti tutte ogni ognuno qualche qualcosa
qualcuno alcuni alcune alcuno certo certa certi certe tale tali molti molte tanti tante pochi
poche ciascuno entrambi
essere sono sei e' è siamo siete era erano ero eri fui fu furono sara sarà saranno sarei sarebbe
sarebbero sia siano fosse fossero stato stata stati state essendo
avere ho hai ha abbiamo avete hanno avevo aveva avevano ebbe avra avrà avrei avrebbe abbia
abbiano avuto avendo
fare faccio fai fa facciamo fate fanno fatto fatta fatti fatte faceva facevano farà fara farei
farebbe
stare sto stai sta stiamo state stanno stava stavano
dire dico dici dice diciamo dite dicono detto detta detti dette diceva
andare vado vai va andiamo andate vanno andato andata andati andate
venire vengo vieni viene vengono venuto venuta
potere posso puoi puo può possiamo potete possono potuto poteva potrebbe
volere voglio vuoi vuole vogliamo volete vogliono voluto voleva vorrei vorrebbe
dovere devo devi deve dobbiamo dovete devono dovuto doveva dovrebbe
sapere so sai sa sappiamo sanno saputo
vedere vedo vedi vede vediamo vedono visto vista
dare do dai da' diamo danno dato data
prendere mettere messo passare trovare parlare sentire tenere
qui qua li lì la là sopra sotto dentro fuori prima dopo oggi ieri domani ora adesso gia già
sempre spesso ancora solo soltanto tipo cosa cose volta volte modo parte fine caso punto
anno anni giorno giorni mese mesi ora ore tempo momento settimana
uno due tre quattro cinque sei sette otto nove dieci cento mille primo prima secondo
no si sì
eh ah oh beh boh mah
governo politica politico politici partito partiti ministro ministri presidente stato stati
paese citta città italia italiano italiana italiani roma milano
gente persona persone uomo donna uomini donne
personale
""".split()


def fold_list(xs):
    return sorted({fold(x) for x in xs})


def as_dict():
    return {
        "language": "it",
        "matching": {"negators": "lower", "everything_else": "fold(lower)"},
        "constants": {"B_INCR": B_INCR, "B_DECR": B_DECR, "C_INCR": 0.733, "N_SCALAR": -0.74,
                      "negation_window": 3, "negative_concord": True, "but_before": 0.5,
                      "but_after": 1.5,
                      # it2 (SPEC_DELTA.md): chosen by 5-fold CV on SENTIPOLC train+val
                      "neg_weight": NEG_WEIGHT, "pos_weight": 1.0, "n_scalar_neg": -0.74,
                      "question_block": "pos", "titlecase_names": "mixed_clause"},
        "negators": sorted(set(NEGATORS)),
        "never_words": fold_list(NEVER_WORDS),
        "so_this_words": fold_list(SO_THIS_WORDS),
        "without_words": fold_list(WITHOUT_WORDS),
        "doubt_words": fold_list(DOUBT_WORDS),
        "least_words": fold_list(LEAST_WORDS),
        "least_except": fold_list(LEAST_EXCEPT),
        "no_word": NO_WORD,
        "boosters": dict(sorted(BOOSTERS.items())),
        "contrast": fold_list(CONTRAST),
        "abbreviations": dict(sorted(ABBREVIATIONS.items())),
        "laughter_regex": LAUGHTER_REGEX,
        "laughter_token": LAUGHTER_TOKEN,
        "elongation_min_run": ELONGATION_MIN_RUN,
        "lexicon_extra": LEXICON_EXTRA,
        "function_words": fold_list(FUNCTION_WORDS),
    }


def rule_words():
    """Folded keys that must never be lexicon entries (rules handle them)."""
    s = set(fold_list(FUNCTION_WORDS))
    s |= {fold(w) for w in NEGATORS}
    s |= set(BOOSTERS)
    s |= {fold(w) for w in CONTRAST}
    return s


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "sentiment", "it", "pack.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(as_dict(), f, ensure_ascii=False, indent=1, sort_keys=False)
        f.write("\n")
    print("wrote", out)
