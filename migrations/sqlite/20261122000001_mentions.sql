-- mentiond schema, version 1: brands, mentions, their links, and full-text search.
-- Timestamps are RFC 3339 UTC text with milliseconds ("2026-03-01T09:30:00.000Z"): fixed width,
-- so text order is time order, and SQLite's date functions read them directly.

CREATE TABLE brands (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
);

-- One row per post, whatever the number of brands it mentions.
CREATE TABLE mentions (
    id               INTEGER PRIMARY KEY,
    source           TEXT NOT NULL,            -- mastodon, bluesky, reddit, hackernews, rss, x, ...
    external_id      TEXT NOT NULL,            -- the platform's id of the post
    url              TEXT,
    author           TEXT,
    author_followers INTEGER,
    reply_to         TEXT,
    text             TEXT NOT NULL,            -- normalised: HTML to text, NFC, whitespace collapsed
    lang             TEXT,                     -- ISO 639-1, NULL when unknown
    lang_origin      TEXT CHECK (lang_origin IN ('post', 'detected', 'guessed')),
    created_at       TEXT NOT NULL,            -- when the post was published
    ingested_at      TEXT NOT NULL,            -- when mentiond stored it
    engagement       TEXT,                     -- JSON object of counts, e.g. {"likes":3,"reposts":1}
    compound         REAL,                     -- VADER compound, -1..1; NULL when unscored
    pos              REAL,
    neu              REAL,
    neg              REAL,
    label            TEXT CHECK (label IN ('positive', 'neutral', 'negative')),
    scorer_version   TEXT NOT NULL,
    UNIQUE (source, external_id)
);

CREATE INDEX mentions_created_at ON mentions (created_at);

-- Which brands a post mentions. created_at is copied from mentions so that per-brand time
-- ranges (alerts, digests, queries) are answered from this index alone.
CREATE TABLE mention_brands (
    brand_id   INTEGER NOT NULL REFERENCES brands (id),
    mention_id INTEGER NOT NULL REFERENCES mentions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (brand_id, mention_id)
) WITHOUT ROWID;

CREATE INDEX mention_brands_brand_time ON mention_brands (brand_id, created_at);
CREATE INDEX mention_brands_mention ON mention_brands (mention_id);

-- Full-text search over the text, accent-insensitive ("caffe" finds "caffè").
CREATE VIRTUAL TABLE mentions_fts USING fts5 (
    text,
    content = 'mentions',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER mentions_fts_insert AFTER INSERT ON mentions BEGIN
    INSERT INTO mentions_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER mentions_fts_delete AFTER DELETE ON mentions BEGIN
    INSERT INTO mentions_fts (mentions_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER mentions_fts_update AFTER UPDATE OF text ON mentions BEGIN
    INSERT INTO mentions_fts (mentions_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO mentions_fts (rowid, text) VALUES (new.id, new.text);
END;

-- The view analysts usually want: one row per (mention, brand).
CREATE VIEW brand_mentions AS
SELECT b.name AS brand,
       m.id AS mention_id,
       m.source, m.external_id, m.url, m.author, m.author_followers, m.reply_to,
       m.text, m.lang, m.lang_origin, m.created_at, m.ingested_at, m.engagement,
       m.compound, m.pos, m.neu, m.neg, m.label, m.scorer_version
FROM mention_brands mb
JOIN mentions m ON m.id = mb.mention_id
JOIN brands b ON b.id = mb.brand_id;
