#!/usr/bin/env python3
"""The references `cargo bench --bench ingest` compares `mentiond ingest` with.

    python3 tools/ingest_reference.py python INPUT.jsonl DB
        The same job as a short Python program: read each JSONL line, score it with
        vaderSentiment 3.3.2, insert the rows with sqlite3's executemany in one transaction,
        then build an FTS5 index of the texts. Prints the seconds it took.

    python3 tools/ingest_reference.py sqlite INPUT.jsonl DB
        SQLite's own cost for the storage part: the rows are parsed beforehand (not timed);
        timed are executemany of the rows and the FTS5 build. Prints the seconds.

Requires: pip install vaderSentiment==3.3.2 (for the `python` mode).
"""

import json
import sqlite3
import sys
import time

SCHEMA = """
CREATE TABLE mentions (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    author TEXT,
    text TEXT NOT NULL,
    lang TEXT,
    created_at TEXT NOT NULL,
    compound REAL,
    UNIQUE (source, external_id)
);
CREATE VIRTUAL TABLE mentions_fts USING fts5 (text, content='mentions', content_rowid='id');
"""


def open_db(path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.executescript(SCHEMA)
    return db


def store(db, rows):
    with db:
        db.executemany(
            "INSERT OR IGNORE INTO mentions (source, external_id, author, text, lang, created_at, compound) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("INSERT INTO mentions_fts (mentions_fts) VALUES ('rebuild')")


def parse(line, score):
    m = json.loads(line)
    compound = score(m["text"]) if score else None
    return (m["source"], m["external_id"], m.get("author"), m["text"], m.get("lang"),
            m["created_at"], compound)


def main():
    mode, path, db_path = sys.argv[1:4]
    db = open_db(db_path)
    if mode == "python":
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        started = time.perf_counter()
        with open(path, encoding="utf-8") as f:
            rows = [parse(l, lambda t: analyzer.polarity_scores(t)["compound"]) for l in f if l.strip()]
        store(db, rows)
    elif mode == "sqlite":
        with open(path, encoding="utf-8") as f:
            rows = [parse(l, lambda t: 0.0) for l in f if l.strip()]
        started = time.perf_counter()
        store(db, rows)
    else:
        sys.exit(f"unknown mode {mode!r}: python or sqlite")
    print(f"{time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
