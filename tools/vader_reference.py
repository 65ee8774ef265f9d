#!/usr/bin/env python3
"""Generate VADER reference scores for mentiond's Rust reimplementation tests.

Reads the four VADER ground-truth files in ../shared/data/sentiment/ (relative to
the repository root) and writes, for each one,

    tests/data/vader_reference/<name>.tsv   (id, compound, pos, neu, neg)

plus tests/data/vader_reference/extra_cases.tsv, which holds hand-written edge
cases (text, compound, pos, neu, neg).

The scores are exactly what vaderSentiment 3.3.2's
SentimentIntensityAnalyzer().polarity_scores(text) returns, printed with repr()
(shortest round-trip form, no further rounding). The ground-truth texts are NOT
written out: the Rust test reads them from ../shared/data/sentiment/ and joins on id.

Usage (from the repository root):
    pip install vaderSentiment==3.3.2
    python3 tools/vader_reference.py [--data-dir DIR] [--out-dir DIR] [--allow-sha-mismatch]
"""

import argparse
import hashlib
import importlib.metadata
import os
import re
import sys

REQUIRED_VADER_VERSION = "3.3.2"
GENERATOR = "tools/vader_reference.py"

INPUT_FILES = [
    "tweets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "sentiment"))
DEFAULT_OUT_DIR = os.path.join(REPO_ROOT, "tests", "data", "vader_reference")

# Hand-written edge cases. Rules for this list: no TAB, LF or CR inside a text
# (checked below); no escaping of any kind is applied, so each text is written
# to extra_cases.tsv byte-for-byte as UTF-8. Leading/trailing spaces are kept,
# so readers must not trim the text field.
_LONG_TEXT = " ".join(
    [
        "The staff were friendly and the room was clean, but the wait was awfully long and not great at all!",
        "Honestly I kinda liked the view :) yet the breakfast was NOT good??",
    ]
    * 30
)

EXTRA_CASES = [
    # punctuation emphasis
    "Hello!",
    "Hello?",
    "Great!!!",
    "Great?!?",
    "Is it good??",
    "Good!!!!!!",
    "Good????",
    "!!!",
    "?!?!",
    ".,;:",
    # capitals, incl. accented capitals and the "some but not all caps" rule
    "PERFETTO È BUONO",
    "TRÈS GOOD",
    "The movie was GREAT",
    "GREAT",
    "I LOVE it",
    "VERY good movie",
    "great :D",
    # negation
    "not good",
    "isn't bad",
    "doesnt work well",
    "I don\u2019t like it",
    "I don't like it",
    "not not good",
    "The film was not very good",
    "It isn't really all that bad",
    "never so good",
    "it was never so good",
    "why is this good",
    "I am so happy",
    "without doubt",
    "Without a doubt, an excellent idea.",
    "cannot stand it",
    # least
    "at least good",
    "the least good",
    "least good",
    "at the very least good",
    # but
    "the food was good but the service was terrible",
    "But it was good",
    "good but good",
    "I feel affection for it but it is ok",
    "it was meh but ok and nice",
    # kind of / sort of / kinda
    "kind of good",
    "the food was kind of good",
    "sort of good",
    "it is sort of bad",
    "kinda good",
    "sorta great",
    # "no" rules (3.3)
    "no problems",
    "no good",
    "there is no way this is good",
    "no no good",
    "NO good at all",
    "no fun or joy",
    # substrings of boosters/negations inside words must not count
    "the reason is good",
    "unless it is good",
    # idioms and special cases
    "that movie can cut the mustard",
    "the bomb",
    "this party was the bomb",
    "that concert was the bomb",
    "this guy is a bad ass",
    "the food here is to die for",
    # emoji
    "\u2764",
    "\u2764\ufe0f",
    "\U0001F44D\U0001F3FD",
    "\U0001F602\U0001F602",
    "I \u2764\ufe0f it",
    "I\u2764it",
    "\U0001F625 today",
    "level \U0001F199 now",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467 family",
    # emoticons
    ":)",
    ":-(",
    # words with punctuation attached, short tokens, URL-like tokens, hashtags
    "good.",
    "good,bad",
    "ok.",
    "#great day @happy",
    "see http://example.com/great-deal now",
    # degenerate inputs
    _LONG_TEXT,
    "",
    "   ",
]


def parse_readme_sha256(readme_path):
    """Return {file name: sha256} from the table in the data README."""
    expected = {}
    with open(readme_path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*([A-Za-z_]+_GroundTruth\.txt)\s*\|.*\|\s*([0-9a-f]{64})\s*\|\s*$", line)
            if m:
                expected[m.group(1)] = m.group(2)
    return expected


def read_ground_truth(raw):
    """Parse a ground-truth file's bytes into [(id, text)].

    Format: UTF-8, CRLF line endings, last line without line ending,
    ID<TAB>MEAN<TAB>TEXT split on the first two tabs only.
    """
    text = raw.decode("utf-8")
    rows = []
    for n, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line == "":
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise ValueError("line %d: expected ID<TAB>MEAN<TAB>TEXT" % n)
        rows.append((parts[0], parts[2]))
    ids = [r[0] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate ids")
    return rows


def fmt_scores(s):
    return "\t".join(repr(s[k]) for k in ("compound", "pos", "neu", "neg"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--out-dir", default=DEFAULT_OUT_DIR)
    ap.add_argument("--allow-sha-mismatch", action="store_true",
                    help="write outputs even if an input's sha256 differs from the README")
    args = ap.parse_args()

    try:
        version = importlib.metadata.version("vaderSentiment")
    except importlib.metadata.PackageNotFoundError:
        sys.exit("vaderSentiment is not installed: pip install vaderSentiment==%s" % REQUIRED_VADER_VERSION)
    if version != REQUIRED_VADER_VERSION:
        sys.exit("vaderSentiment %s is installed, but exactly %s is required: pip install vaderSentiment==%s"
                 % (version, REQUIRED_VADER_VERSION, REQUIRED_VADER_VERSION))
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    python_version = sys.version.split()[0]
    print("vaderSentiment %s, Python %s" % (version, python_version))
    if sys.version_info >= (3, 12):
        # Python 3.12 made sum() of floats compensated (Neumaier); vaderSentiment uses
        # sum() for the compound score, so a few results can differ in the last bit
        # (seen: compound -0.0 instead of 0.0 for 4 snippets). The committed files
        # were generated with 3.11, i.e. plain left-to-right addition.
        print("warning: Python >= 3.12 sums floats with compensation; results may differ in the last bit"
              " from files generated with Python <= 3.11", file=sys.stderr)

    expected = parse_readme_sha256(os.path.join(args.data_dir, "README.md"))
    os.makedirs(args.out_dir, exist_ok=True)

    inputs = []
    mismatch = False
    for name in INPUT_FILES:
        with open(os.path.join(args.data_dir, name), "rb") as f:
            raw = f.read()
        sha = hashlib.sha256(raw).hexdigest()
        want = expected.get(name)
        status = "OK" if sha == want else ("MISMATCH (README: %s)" % want if want else "NOT IN README")
        if sha != want:
            mismatch = True
        print("%s sha256=%s %s" % (name, sha, status))
        inputs.append((name, raw, sha))
    if mismatch and not args.allow_sha_mismatch:
        sys.exit("input sha256 does not match the README; re-run with --allow-sha-mismatch to proceed anyway")

    for name, raw, sha in inputs:
        rows = read_ground_truth(raw)
        out_name = name[: -len(".txt")] + ".tsv"
        out_path = os.path.join(args.out_dir, out_name)
        with open(out_path, "w", encoding="utf-8", newline="\n") as out:
            out.write("# generator: %s\n" % GENERATOR)
            out.write("# vaderSentiment: %s\n" % version)
            out.write("# python: %s\n" % python_version)
            out.write("# input: ../shared/data/sentiment/%s sha256=%s\n" % (name, sha))
            out.write("# scores: SentimentIntensityAnalyzer().polarity_scores(text), floats printed with Python repr\n")
            out.write("id\tcompound\tpos\tneu\tneg\n")
            for rid, text in rows:
                out.write("%s\t%s\n" % (rid, fmt_scores(analyzer.polarity_scores(text))))
        print("wrote %s (%d rows)" % (out_path, len(rows)))

    if not 40 <= len(EXTRA_CASES) <= 80:
        sys.exit("EXTRA_CASES must hold 40-80 texts, has %d" % len(EXTRA_CASES))
    if len(set(EXTRA_CASES)) != len(EXTRA_CASES):
        sys.exit("EXTRA_CASES has duplicates")
    out_path = os.path.join(args.out_dir, "extra_cases.tsv")
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        out.write("# generator: %s\n" % GENERATOR)
        out.write("# vaderSentiment: %s\n" % version)
        out.write("# python: %s\n" % python_version)
        out.write("# input: hand-written edge cases in %s (EXTRA_CASES)\n" % GENERATOR)
        out.write("# text: raw UTF-8, no escaping; texts contain no TAB/LF/CR; do not trim the field"
                  " (some texts are empty or spaces only)\n")
        out.write("text\tcompound\tpos\tneu\tneg\n")
        for text in EXTRA_CASES:
            if any(c in text for c in "\t\n\r"):
                sys.exit("extra case contains TAB/LF/CR: %r" % text)
            out.write("%s\t%s\n" % (text, fmt_scores(analyzer.polarity_scores(text))))
    print("wrote %s (%d rows)" % (out_path, len(EXTRA_CASES)))


if __name__ == "__main__":
    main()
