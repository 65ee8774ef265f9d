-- Digest runs: one row per digest decided (sent, skipped or empty), written in the same
-- transaction as its e-mail in the outbox. The unique index makes a scheduled digest happen at
-- most once, whatever restarts or (later) several instances do.

CREATE TABLE digest_runs (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,            -- [[digests]] name
    scheduled_at  TEXT NOT NULL,            -- the run time, the end of the period
    period_start  TEXT NOT NULL,
    period_end    TEXT NOT NULL,
    trigger       TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'skipped', 'empty')),
    note          TEXT,                     -- why skipped or empty
    mentions      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

CREATE UNIQUE INDEX digest_runs_scheduled ON digest_runs (name, scheduled_at) WHERE trigger = 'schedule';
CREATE INDEX digest_runs_name_time ON digest_runs (name, scheduled_at);

-- A sender takes a message before delivering it, so that two senders (the daemon and
-- `mentiond digest --send`) never deliver it at the same time.
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;           -- daemon | cli

-- When the daemon first scheduled each digest: only run times after it count as missed
-- while mentiond was down (a new digest does not fire for a time before it existed).
CREATE TABLE digest_schedules (
    name     TEXT PRIMARY KEY,
    armed_at TEXT NOT NULL
) WITHOUT ROWID;
