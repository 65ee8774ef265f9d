-- `mentiond migrate-storage` marks a database it fills with the database it copies, so that a
-- second run resumes the same copy and a copy into a database holding other data is refused.
CREATE TABLE storage_copies (
    source      text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
);
