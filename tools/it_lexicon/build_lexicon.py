# -*- coding: utf-8 -*-
"""Build the Italian lexicon of the mentiond language pack.

    python3 tools/it_lexicon/build_lexicon.py [--lexdir DIR] [--out data/sentiment/it/lexicon.tsv]
                                              [--curated tools/it_lexicon/it_curated.tsv]

DIR defaults to $MENTIOND_IT_LEXDIR, else ../shared/data/lexicons/it next to the repository.
The output goes to data/sentiment/it/lexicon.tsv, and the ELIta emoji valences next to it
(emoji_elita.tsv): the files mentiond embeds.

Sources that ship (see SPEC.md section 3 for the rules, in order):
  ELIta (CC0, human-rated valence 1..9)            v = (valenza - 5)                 tier 1
  Pattern it-sentiment.xml (BSD-3, polarity -1..1) v = 4 * polarity * SCALE_PATTERN  tier 2
  Sentix 3.1.1 (CC BY-SA 4.0, score -1..1)         v = 4 * score * SCALE_SENTIX * POLY_W[poly]  tier 3
  it_curated.tsv (hand-written)                    overrides everything              tier 0
MAL / W-MAL are only read with --dev-mal (ablation; never in a shipped build).

The output is a derivative of Sentix (CC BY-SA 4.0), so it is licensed CC BY-SA 4.0.
Everything in this file is deterministic: same inputs -> byte-identical output.
"""
import argparse
import collections
import csv
import hashlib
import os
import re
import sys
import unicodedata

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import it_pack  # noqa: E402
from it_pack import fold  # noqa: E402

# ---------------------------------------------------------------- global, tuned on train/val only
DEFAULTS = dict(
    use_elita=True, use_pattern=True, use_sentix=True, use_mal=False, use_curated=True,
    scale_elita=1.0, scale_pattern=1.0, scale_sentix=1.0,
    elita_min_abs=0.5,          # |valenza-5| < this -> ELIta says "neutral" (vetoes the word)
    elita_veto=True,            # ELIta neutral (human judgement) removes the word even if others are polar
    sentix_min_abs=0.5,         # |score| < this (raw -1..1 scale) -> dropped
    sentix_poly_w={"0": 1.0, "1": 1.0, "2": 1.0, "3": 0.5},
    pattern_min_abs=0.1,        # |polarity| < this -> neutral
    combine="priority",         # "priority": ELIta > Pattern > Sentix ; "mean": mean of available
    expand=True, superlatives=True, mwe=True, sentix_mwe=False,
    global_scale=1.0,           # multiplies every non-curated value
    pos_scale=0.7, neg_scale=1.0,   # asymmetric calibration of non-curated values
    elita_unconfirmed_w=0.0,    # weight of a medium ELIta value that no other source confirms
    confirm_by_label=False,     # Sentix confirms by its Positive/Negative label (any score, any poly)
    elita_strong=3.0,           # |valenza-5| >= this is accepted without confirmation
    dead_zone=0.0,              # |v| <= dead_zone -> 0, else sign(v)*(|v|-dead_zone) (all non-curated)
    # --- it2 additions (defaults = the it/ behaviour) ---
    elita_neg_confirm="strict",  # how a medium NEGATIVE ELIta value is confirmed: "strict" (as positives:
                                 # polar Pattern/Sentix entry of the same sign), "label" (any Sentix
                                 # Negative label or Pattern negative), "none" (accepted unconfirmed)
    elita_neg_unconfirmed_w=0.0, # weight of a medium negative ELIta value left unconfirmed under "strict"
    curated_forms_fill=True,     # forms generated from curated lemmas may fill strings that the sources
                                 # list but leave without a usable polar value (ladri, idioti)
    sentix_poly_min_abs=None,    # dict poly -> min |score| (overrides sentix_min_abs per poly class)
    scale_elita_medium=1.0,      # scale of medium (confirmed) ELIta values, 0.5 <= |e| < elita_strong
    neg_scale_curated=1.0,       # negative curated values are multiplied by this too
    min_pos=0.0,                 # non-curated positive values below this are dropped (after scaling)
    min_neg=0.0,                 # non-curated negative values with |v| below this are dropped
    extra_curated=None,          # path of an additional curated file (same format), applied after it_curated.tsv
)

LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


def default_lexdir():
    env = os.environ.get("MENTIOND_IT_LEXDIR")
    if env:
        return env
    return os.path.normpath(os.path.join(REPO, "..", "shared", "data", "lexicons", "it"))


# ------------------------------------------------------------------------------------ tokenising
ELISION = re.compile(r"^([^\W\d_]{1,7}')([^\W\d_].*)$", re.UNICODE)


def norm_entry(w):
    """Normalise a lexicon entry the way the engine tokenises text: lowercase, NFC, apostrophes to
    U+0027, spaces/underscores between words -> "_", elided prefixes split off ("d'azzardo" ->
    "d'_azzardo")."""
    w = unicodedata.normalize("NFC", w.strip().lower())
    for a in "\u2019\u2018`\u00b4\u02bc":
        w = w.replace(a, "'")
    parts = []
    for p in re.split(r"[\s_]+", w):
        if not p:
            continue
        while True:
            m = ELISION.match(p)
            if not m:
                break
            parts.append(m.group(1))
            p = m.group(2)
        parts.append(p)
    return "_".join(parts)


# ------------------------------------------------------------------------------------ readers
def read_sentix(d):
    out = {}
    with open(os.path.join(d, "sentix", "sentix_v.3.1.1.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out[norm_entry(r["lemma"])] = (float(r["score"]), r["poly"], r["polarity"])
    return out


def read_elita(d):
    out = {}
    with open(os.path.join(d, "elita", "ELIta_INTENSITY.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            item, dim, val = line.rsplit(",", 2)
            if dim == "valenza":
                out[norm_entry(item)] = float(val)
    return out


def read_pattern(d):
    txt = open(os.path.join(d, "pattern-it", "it-sentiment.xml"), encoding="utf-8-sig").read()
    acc = collections.defaultdict(list)
    for attrs in re.findall(r"<word ([^>]*)/>", txt):
        a = dict(re.findall(r'(\w+)="([^"]*)"', attrs))
        acc[norm_entry(a["form"])].append((a.get("pos", ""), float(a["polarity"])))
    return acc


def read_mal(d):
    acc = collections.defaultdict(list)
    with open(os.path.join(d, "mal-wmal", "MAL.tsv"), encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\r\n").split("\t")
            if len(p) >= 2:
                try:
                    acc[norm_entry(p[0])].append(float(p[1]))
                except ValueError:
                    pass
    return acc


def read_curated(path):
    """word<TAB>valence|DROP<TAB>expand(y/n)<TAB>justification ; '#' comments."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            p = line.split("\t")
            if len(p) < 4 or not p[3].strip():
                raise SystemExit("%s:%d: need word, valence, expand, justification" % (path, n))
            w = norm_entry(p[0])
            v = None if p[1].strip().upper() == "DROP" else float(p[1])
            if v is not None and not -4.0 <= v <= 4.0:
                raise SystemExit("%s:%d: valence out of range" % (path, n))
            out[w] = (v, p[2].strip().lower() == "y", p[3].strip())
    return out


# ------------------------------------------------------------------------------------ inflection
def inflect(w):
    """Candidate gender/number (and a few verb) forms of lemma w. Over-generation is harmless
    (forms that do not exist are never looked up); collisions with real words are prevented by
    the caller (a generated form never replaces a string that is an entry of any source)."""
    if "_" in w or not w.isalpha() or len(w) < 4:
        return []
    f = []
    # reflexive infinitive: lamentarsi -> lamentare
    if re.search(r"[aei]rsi$", w):
        w = w[:-3] + "re"
    if re.search(r"are$", w) and len(w) >= 5:
        s = w[:-3]
        f += [s + e for e in ("ato", "ata", "ati", "ate", "ando", "a", "o", "ano", "ava")]
    elif re.search(r"ere$", w) and len(w) >= 5:
        s = w[:-3]
        f += [s + e for e in ("uto", "uta", "uti", "ute", "endo", "e", "o", "ono", "eva")]
    elif re.search(r"ire$", w) and len(w) >= 5:
        s = w[:-3]
        f += [s + e for e in ("ito", "ita", "iti", "ite", "endo", "e", "o", "ono", "isce", "isco",
                              "iscono", "iva")]
    elif w.endswith("co"):
        s = w[:-2]
        f += [s + "ca", s + "ci", s + "chi", s + "che"]
    elif w.endswith("go"):
        s = w[:-2]
        f += [s + "ga", s + "gi", s + "ghi", s + "ghe"]
    elif w.endswith("io"):
        s = w[:-2]
        f += [s + "ia", s + "i", s + "ie"]
    elif w.endswith("o"):
        s = w[:-1]
        f += [s + "a", s + "i", s + "e"]
    elif w.endswith("e"):
        f += [w[:-1] + "i"]
    elif w.endswith("ca"):
        s = w[:-2]
        f += [s + "co", s + "che", s + "ci", s + "chi"]
    elif w.endswith("ga"):
        s = w[:-2]
        f += [s + "go", s + "ghe", s + "ghi"]
    elif w.endswith("cia") or w.endswith("gia"):
        s = w[:-1]
        f += [s + "e", w[:-2] + "e"]
    elif w.endswith("a"):
        s = w[:-1]
        f += [s + "e"]
        if re.search(r"(ista|ma|ota|ita|ida)$", w):   # idiota/idioti, problema/problemi, ipocrita
            f += [s + "i"]
    return [x for x in f if x != w]


def superlatives(w):
    if "_" in w or not w.isalpha() or len(w) < 4 or re.search(r"(are|ere|ire)$", w):
        return []
    if "issim" in w:
        return []
    # only masculine-singular adjective-like lemmas (-o, -e); -a lemmas are overwhelmingly nouns
    if w.endswith("co"):
        stems = [w[:-2] + "c", w[:-2] + "ch"]
    elif w.endswith("go"):
        stems = [w[:-2] + "gh"]
    elif w.endswith("io"):
        stems = [w[:-2]]
    elif w[-1] in "oe":
        stems = [w[:-1]]
    else:
        return []
    return [s + "issim" + e for s in stems for e in "oaie"]


SUPERLATIVE_INCR = 2 * it_pack.B_INCR   # absolute superlative ~ two boosters


# ------------------------------------------------------------------------------------ build
def sign(x):
    return (x > 0) - (x < 0)


def build(lexdir=None, curated_path=None, cfg=None, report=None):
    """Return (entries: dict word -> (valence, provenance), stats)."""
    c = dict(DEFAULTS)
    if cfg:
        c.update(cfg)
    lexdir = lexdir or default_lexdir()
    curated_path = curated_path or os.path.join(HERE, "it_curated.tsv")
    rule = it_pack.rule_words()
    stats = collections.Counter()

    sentix = read_sentix(lexdir) if c["use_sentix"] else {}
    elita = read_elita(lexdir) if c["use_elita"] else {}
    pattern = read_pattern(lexdir) if c["use_pattern"] else {}
    mal = read_mal(lexdir) if c["use_mal"] else {}
    curated = read_curated(curated_path) if c["use_curated"] else {}
    if c["use_curated"] and c["extra_curated"]:
        extra = c["extra_curated"]
        for path in ([extra] if isinstance(extra, str) else extra):
            curated.update(read_curated(path if os.path.isabs(path) else os.path.join(HERE, path)))

    def keep_word(w):
        if not LETTERS.search(w):          # emoji, symbols, punctuation: handled by the shared
            return False                   # emoji table and by rules ("!", "?")
        if fold(w) in rule:
            return False
        parts = w.split("_")
        if not c["mwe"] and len(parts) > 1:
            return False
        if not c["sentix_mwe"] and len(parts) > 1 and w not in elita and w not in pattern:
            return False   # Sentix multiwords (WordNet synsets: species, technical terms) are noisy
        if len(parts) > 1 and all(fold(p) in rule for p in parts):
            return False
        if len(w) < 2:
            return False
        return True

    # per-source values on the -4..4 scale (None = source knows the word and says neutral)
    E, P, S = {}, {}, {}
    for w, val in elita.items():
        v = (val - 5.0) * c["scale_elita"]
        E[w] = v if abs(val - 5.0) >= c["elita_min_abs"] else None
    for w, lst in pattern.items():
        pol = [p for pos, p in lst if abs(p) >= c["pattern_min_abs"]]
        if not pol:
            P[w] = None
            continue
        if len({sign(p) for p in pol}) > 1:        # POS homographs with opposite signs: unusable
            P[w] = None
            stats["pattern_sign_conflict"] += 1
            continue
        P[w] = 4.0 * (sum(pol) / len(pol)) * c["scale_pattern"]
    for w, (sc, poly, polarity) in sentix.items():
        wgt = c["sentix_poly_w"].get(poly, 1.0)
        thr = c["sentix_min_abs"]
        if c["sentix_poly_min_abs"] and poly in c["sentix_poly_min_abs"]:
            thr = c["sentix_poly_min_abs"][poly]
        if polarity == "Neutral" or abs(sc) < thr or wgt == 0:
            S[w] = None
            continue
        S[w] = 4.0 * sc * c["scale_sentix"] * wgt
    M = {}
    for w, lst in mal.items():   # dev-only ablation: duplicates -> largest |score|
        best = max(lst, key=lambda x: (abs(x), x))
        M[w] = 4.0 * best * c["scale_sentix"] if abs(best) >= c["sentix_min_abs"] else None

    known = set(E) | set(P) | set(S) | set(rule)   # strings that are entries of a shipped source
    entries = {}  # word -> (value, provenance, tier)
    for w in sorted(set(E) | set(P) | set(S) | set(M)):
        if not keep_word(w):
            stats["dropped_rule_or_symbol"] += 1
            continue
        e, p, s, m = E.get(w, "-"), P.get(w, "-"), S.get(w, "-"), M.get(w, "-")
        if c["combine"] == "priority":
            # ELIta (human) decides when it is clear; a medium ELIta value needs a polar Pattern or
            # Sentix entry of the same sign (ELIta rates the pleasantness of concepts: casa +3,
            # vita +2.3 are not evaluations); an ELIta value near 5 vetoes the word.
            if e not in ("-", None) and abs(e) >= c["elita_strong"]:
                v, prov, tier = e, "elita", 1
            elif e not in ("-", None):
                sx = sentix.get(w)
                sx_sign = {"Positive": 1, "Negative": -1}.get(sx[2], 0) if sx else 0
                conf = [x for x in (p,) if x not in ("-", None) and sign(x) == sign(e)]
                if c["confirm_by_label"]:
                    conf += [sx_sign] if sx_sign == sign(e) else []
                else:
                    conf += [x for x in (s,) if x not in ("-", None) and sign(x) == sign(e)]
                if not conf and e < 0 and c["elita_neg_confirm"] == "label":
                    conf = [sx_sign] if sx_sign < 0 else []
                    conf += [x for x in (p,) if x not in ("-", None) and x < 0]
                if not conf and e < 0 and c["elita_neg_confirm"] == "none":
                    conf = [e]
                if conf:
                    v, prov, tier = e * c["scale_elita_medium"], "elita+confirmed", 1
                elif e < 0 and c["elita_neg_unconfirmed_w"] > 0:
                    v, prov, tier = e * c["elita_neg_unconfirmed_w"], "elita(unconfirmed)", 1
                elif c["elita_unconfirmed_w"] > 0:
                    v, prov, tier = e * c["elita_unconfirmed_w"], "elita(unconfirmed)", 1
                else:
                    stats["elita_unconfirmed_dropped"] += 1
                    continue
            elif e is None and c["elita_veto"] and w in elita:
                stats["elita_veto"] += 1
                continue
            elif p not in ("-", None):
                v, prov, tier = p, "pattern", 2
                if s not in ("-", None) and sign(s) != sign(p):
                    stats["pattern_overrides_sentix_sign"] += 1
            elif s not in ("-", None):
                v, prov, tier = s, "sentix", 3
            elif m not in ("-", None):
                v, prov, tier = m, "mal(dev)", 4
            else:
                continue
        else:  # mean of the available polar values; ELIta neutral still vetoes if elita_veto
            if e is None and c["elita_veto"]:
                continue
            vals = [(x, n) for x, n in ((e, "elita"), (p, "pattern"), (s, "sentix"), (m, "mal(dev)"))
                    if x not in ("-", None)]
            if not vals:
                continue
            if len({sign(x) for x, _ in vals}) > 1 and e not in ("-", None):
                vals = [(e, "elita")]
            v = sum(x for x, _ in vals) / len(vals)
            prov = "+".join(n for _, n in vals)
            tier = 1 if e not in ("-", None) else (2 if p not in ("-", None) else 3)
        v *= c["global_scale"] * (c["pos_scale"] if v > 0 else c["neg_scale"])
        if c["dead_zone"]:
            v = sign(v) * max(0.0, abs(v) - c["dead_zone"])
        v = max(-4.0, min(4.0, v))
        if abs(v) < 0.0005 or (v > 0 and v < c["min_pos"]) or (v < 0 and -v < c["min_neg"]):
            continue
        entries[w] = (v, prov, tier)
        stats["base_" + prov] += 1

    # curated: overrides (tier 0); DROP removes
    dropped_forms = set()
    for w, (v, exp, note) in curated.items():
        if v is None:
            entries.pop(w, None)
            stats["curated_drop"] += 1
            if exp:   # DROP with expand=y removes the word's regular forms too (nuovo: nuova nuovi nuove)
                for f in inflect(w):
                    entries.pop(f, None)
                    dropped_forms.add(f)
        else:
            if v < 0:
                v = max(-4.0, v * c["neg_scale_curated"])
            entries[w] = (v, "curated", 0)
            stats["curated_set"] += 1
    no_expand = {w for w, (v, exp, _) in curated.items() if not exp or v == 0}
    curated_words = set(curated)

    # inflection expansion: forms never replace a string that any shipped source lists
    if c["expand"] or c["superlatives"]:
        gen = collections.defaultdict(list)  # form -> [(tier, value, lemma)]
        for w, (v, prov, tier) in entries.items():
            if w in no_expand:
                continue
            if c["expand"]:
                for f in inflect(w):
                    gen[f].append((tier, v, w))
            if c["superlatives"]:
                for f in superlatives(w):
                    vv = sign(v) * min(4.0, abs(v) + SUPERLATIVE_INCR)
                    gen[f].append((tier, vv, w))
        blocked = known | set(entries) | curated_words | set(M) | dropped_forms
        for f in sorted(gen):
            cands = gen[f]
            if c["curated_forms_fill"] and f not in entries and f not in curated_words \
                    and f not in dropped_forms and fold(f) not in rule and any(t == 0 for t, _, _ in cands):
                cands = [x for x in cands if x[0] == 0]     # a curated lemma fills a neutral/unusable string
            elif f in blocked or fold(f) in rule:
                continue
            best_tier = min(t for t, _, _ in cands)
            vals = [v for t, v, _ in cands if t == best_tier]
            if len({sign(v) for v in vals}) > 1:
                stats["generated_sign_conflict"] += 1
                continue
            entries[f] = (sum(vals) / len(vals), "inflected", 5 + best_tier)
            stats["generated"] += 1

    # accent-folding uniqueness: the engine looks words up by fold(word)
    byfold = collections.defaultdict(list)
    for w in entries:
        byfold[fold(w)].append(w)
    for k, ws in byfold.items():
        if len(ws) > 1:
            ws.sort(key=lambda w: (entries[w][2], -abs(entries[w][0]), w))
            for w in ws[1:]:
                del entries[w]
                stats["fold_collision_dropped"] += 1
    return entries, stats


DROP_CHARS = {"\ufe0f", "\ufe0e", "\u200d"} | {chr(c) for c in range(0x1F3FB, 0x1F400)}


def elita_emoji(lexdir=None, min_abs=1.0):
    """ELIta human valence for single-codepoint emojis/symbols (after dropping VS16, ZWJ and skin
    tones, as the tokeniser does): char -> valence on -4..4 (0.0 when ELIta says neutral).
    These override the English-derived shared emoji values in the Italian pack."""
    out = {}
    for item, val in sorted(read_elita(lexdir or default_lexdir()).items()):
        if LETTERS.search(item):
            continue
        ch = "".join(c for c in item if c not in DROP_CHARS)
        if len(ch) != 1 or unicodedata.category(ch).startswith("P"):
            continue   # punctuation (‼, ❗, ⁉, ❓) is handled by the ! and ? rules
        v = val - 5.0
        out[ch] = round(v, 3) if abs(v) >= min_abs else 0.0
    return out


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


HEADER = """# mentiond Italian sentiment lexicon (VADER scale -4..+4), generated by build_lexicon.py - do not edit,
# edit it_curated.tsv or the build rules instead.
# Format: UTF-8, LF, one entry per line: word<TAB>valence (3 decimals). Lines starting with '#' are comments.
# Multiword entries join tokens with '_' (after elision splitting: "gioco_d'_azzardo").
# Look words up by fold(lowercase(word)) (accents removed); the build guarantees folded keys are unique.
#
# LICENCE: CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). This file is an adaptation of:
#   - Sentix 3.1.1, Basile, Nissim, Bosco, Vassallo, Gabrieli (2025), doi:10.5281/zenodo.15609185, CC BY-SA 4.0
#   - ELIta, Di Palma (2024), CLiC-it 2024, http://hdl.handle.net/20.500.11752/OPEN-1036, CC0 1.0
#   - Pattern it-sentiment.xml, Copyright (c) 2011-2013 University of Antwerp, Belgium, BSD-3-Clause
#     (Redistributions must retain this copyright notice, the conditions and the disclaimer; see
#     https://github.com/clips/pattern/blob/master/LICENSE.txt)
#   - hand-curated entries of the mentiond project (it_curated.tsv)
# Changes: values rescaled to -4..+4, sources merged by priority (ELIta > Pattern > Sentix), function words
# removed, inflected forms generated, manual corrections. No MAL/W-MAL data is included.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lexdir", default=None)
    ap.add_argument("--curated", default=os.path.join(HERE, "it_curated.tsv"))
    ap.add_argument("--out", default=os.path.join(REPO, "data", "sentiment", "it", "lexicon.tsv"))
    ap.add_argument("--provenance", default=None, help="optional TSV word/valence/provenance for review")
    ap.add_argument("--dev-mal", action="store_true", help="ablation only: add MAL forms (NOT shippable)")
    a = ap.parse_args()
    cfg = {"use_mal": a.dev_mal}
    lexdir = a.lexdir or default_lexdir()
    entries, stats = build(lexdir, a.curated, cfg)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(HEADER)
        if a.dev_mal:
            f.write("# WARNING: built with --dev-mal (MAL data, licence unconfirmed): NOT FOR SHIPPING\n")
        f.write("# entries: %d\n" % len(entries))
        for w in sorted(entries):
            f.write("%s\t%.3f\n" % (w, entries[w][0]))
    emo_path = os.path.join(os.path.dirname(os.path.abspath(a.out)), "emoji_elita.tsv")
    with open(emo_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("# ELIta (Di Palma 2024, CC0 1.0) human valence of emojis, mapped to -4..+4 as valenza-5 (|v|<1 -> 0).\n")
        f.write("# Format: emoji<TAB>codepoint<TAB>valence. Overrides the English-derived shared emoji valences in the Italian pack.\n")
        for ch, v in sorted(elita_emoji(lexdir).items()):
            f.write("%s\tU+%04X\t%.3f\n" % (ch, ord(ch), v))
    if a.provenance:
        with open(a.provenance, "w", encoding="utf-8") as f:
            for w in sorted(entries):
                f.write("%s\t%.3f\t%s\n" % (w, entries[w][0], entries[w][1]))
    for k in sorted(stats):
        print("%-32s %d" % (k, stats[k]), file=sys.stderr)
    print("wrote %s (%d entries, sha256 %s)" % (a.out, len(entries), file_sha256(a.out)), file=sys.stderr)


if __name__ == "__main__":
    main()
