-- Alerts, silences and the outbox of e-mails; an index for the per-query poll history.

CREATE INDEX source_polls_query_at ON source_polls (source_id, query, at);

-- One row per negative-spike episode that was (or would have been) notified.
CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY,
    brand          TEXT NOT NULL,
    fired_at       TEXT NOT NULL,             -- when mentiond decided
    bucket_at      TEXT NOT NULL,             -- start of the bucket that crossed the threshold
    window_start   TEXT NOT NULL,             -- the tested window [start, end)
    window_end     TEXT NOT NULL,
    observed       REAL NOT NULL,             -- negative mentions in the window
    expected       REAL NOT NULL,             -- expected negative mentions in the window
    p_value        REAL NOT NULL,
    p_threshold    REAL NOT NULL,
    threshold_rule TEXT NOT NULL,             -- alpha | recent_peak
    window_total   REAL,                      -- all mentions in the window (share gate)
    usual_share    REAL,                      -- learned negative share
    severe         INTEGER NOT NULL DEFAULT 0,
    worst          TEXT NOT NULL,             -- JSON array of mentions.id, worst first
    details        TEXT NOT NULL,             -- JSON: the 24 h series shown in the e-mail
    state          TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
    resolved_at    TEXT,
    silenced       TEXT                       -- the silence's reason, if one covered the alert
);

CREATE INDEX alerts_brand_time ON alerts (brand, fired_at);

-- `mentiond silence`: no alert e-mail for a brand ('*': every brand) between the times.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY,
    brand      TEXT NOT NULL,
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Every e-mail, written in the same transaction as the decision that caused it, and kept
-- until delivered (or given up on): a crash never loses one.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('alert', 'recovery', 'digest')),
    ref_id          INTEGER,                  -- alerts.id, digest_runs.id
    brand           TEXT,
    message_id      TEXT NOT NULL UNIQUE,     -- stable: a resend after a crash is recognisable
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,            -- JSON array of addresses
    subject         TEXT NOT NULL,
    message         BLOB NOT NULL,            -- the complete RFC 5322 message
    html            TEXT,                     -- its HTML part, for the file transport and previews
    created_at      TEXT NOT NULL,
    not_before      TEXT NOT NULL,            -- quiet hours hold an alert until then
    next_attempt_at TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'silenced')),
    last_error      TEXT,
    sent_at         TEXT
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
