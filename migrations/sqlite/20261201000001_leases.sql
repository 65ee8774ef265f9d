-- Leases: which daemon instance does a piece of work that must be done by one at a time (poll
-- one source query, evaluate alerts). SQLite has one daemon per database; the table exists so
-- that both backends run the same code.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,          -- poll:<source id>:<query>, alerts
    holder     TEXT NOT NULL,             -- host:pid:random of the instance
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
