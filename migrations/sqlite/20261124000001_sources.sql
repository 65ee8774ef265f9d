-- Polling state of the sources: cursors, health, a log of polls, and billed usage.

-- Where each (source, query) stands; advanced in the same transaction as the page it stored.
CREATE TABLE source_cursors (
    source_id  TEXT NOT NULL,            -- e.g. mastodon:mastodon.social, rss:acme-reviews
    query      TEXT NOT NULL,            -- e.g. tag:acme, search:acme coffee, feed
    cursor     TEXT NOT NULL,            -- JSON: floor, round in progress, platform state
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source_id, query)
) WITHOUT ROWID;

-- Health of each (source, query) as `mentiond status` shows it.
CREATE TABLE source_status (
    source_id            TEXT NOT NULL,
    query                TEXT NOT NULL,
    platform             TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('ok', 'failing', 'rate_limited', 'auth_failed', 'budget')),
    last_poll_at         TEXT,
    last_success_at      TEXT,
    last_error           TEXT,
    last_error_at        TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at         TEXT,
    rate_remaining       REAL,
    rate_reset_at        TEXT,
    newest_post_at       TEXT,             -- newest post the platform returned: shows staleness
    note                 TEXT,
    PRIMARY KEY (source_id, query)
) WITHOUT ROWID;

-- One row per page stored and per failed attempt: the history behind "stored in the last
-- hour/day" and the digests' source-health section.
CREATE TABLE source_polls (
    id          INTEGER PRIMARY KEY,
    source_id   TEXT NOT NULL,
    query       TEXT NOT NULL,
    at          TEXT NOT NULL,
    fetched     INTEGER NOT NULL DEFAULT 0,
    stored      INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    unmatched   INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);

CREATE INDEX source_polls_at ON source_polls (at);

-- Posts billed per month by platforms that charge per post read (X).
CREATE TABLE source_usage (
    source_id TEXT NOT NULL,
    month     TEXT NOT NULL,                -- YYYY-MM (UTC)
    posts     INTEGER NOT NULL,
    PRIMARY KEY (source_id, month)
) WITHOUT ROWID;
