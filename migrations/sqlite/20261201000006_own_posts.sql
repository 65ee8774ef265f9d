-- The brands' own posts (their accounts' replies to customers): kept to measure first-response
-- time and response rate, never counted as mentions (issue 17).
CREATE TABLE own_posts (
    id          INTEGER PRIMARY KEY,
    brand_id    INTEGER NOT NULL REFERENCES brands (id),
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    reply_to    TEXT,                    -- the platform's id of the post it answers
    author      TEXT,
    url         TEXT,
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    UNIQUE (source, external_id)
);

CREATE INDEX own_posts_reply ON own_posts (source, reply_to);
CREATE INDEX own_posts_brand_time ON own_posts (brand_id, created_at);
