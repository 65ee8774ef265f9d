#!/usr/bin/env python3
"""Measure the throughput of the Python VADER reference (vaderSentiment) on one core.

Scores all texts of tweets_GroundTruth.txt with
SentimentIntensityAnalyzer().polarity_scores(text), repeating the whole file
enough times that one run takes at least --min-seconds (default 5), does 3 such
runs and reports the median. The process is pinned to a single CPU where the OS
allows it (Python runs the scoring on one thread anyway).

Output: informational lines on stderr, and on stdout a single machine-readable line:
    python_vader_texts_per_sec=NNNN python=X.Y.Z vaderSentiment=A.B.C texts=N reps=R runs=3

Usage (from the repository root):
    pip install vaderSentiment==3.3.2
    python3 tools/vader_speed.py [--data-dir DIR] [--min-seconds S] [--runs N]
"""

import argparse
import importlib.metadata
import math
import os
import platform
import statistics
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "sentiment"))


def load_texts(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    texts = []
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if line:
            texts.append(line.split("\t", 2)[2])
    return texts


def one_run(score, texts, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        for t in texts:
            score(t)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    version = importlib.metadata.version("vaderSentiment")
    if version != "3.3.2":
        print("warning: vaderSentiment %s installed; the reference is 3.3.2" % version, file=sys.stderr)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if hasattr(os, "sched_setaffinity"):
        try:
            cpu = min(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpu})
            print("pinned to CPU %d" % cpu, file=sys.stderr)
        except OSError as e:
            print("could not pin to one CPU: %s" % e, file=sys.stderr)

    texts = load_texts(os.path.join(args.data_dir, "tweets_GroundTruth.txt"))
    score = SentimentIntensityAnalyzer().polarity_scores  # lexicon loading is not timed

    # Warm-up and calibration: one pass over the file.
    one_pass = one_run(score, texts, 1)
    # 15% margin: the first pass includes warm-up, so later passes tend to be faster.
    reps = max(1, math.ceil(args.min_seconds * 1.15 / one_pass))
    print("texts=%d, one pass %.3f s, %d passes per run" % (len(texts), one_pass, reps), file=sys.stderr)

    rates = []
    for r in range(args.runs):
        elapsed = one_run(score, texts, reps)
        rate = len(texts) * reps / elapsed
        rates.append(rate)
        print("run %d: %.2f s, %.0f texts/s" % (r + 1, elapsed, rate), file=sys.stderr)
    if hasattr(os, "getloadavg"):
        print("load average: %.2f %.2f %.2f" % os.getloadavg(), file=sys.stderr)

    print("python_vader_texts_per_sec=%d python=%s vaderSentiment=%s texts=%d reps=%d runs=%d"
          % (round(statistics.median(rates)), platform.python_version(), version, len(texts), reps, args.runs))


if __name__ == "__main__":
    main()
