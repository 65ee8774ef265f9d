-- The alert evaluator keeps each brand's detector state between evaluations and looks for
-- mentions that arrived after it moved past their bucket (late posts, backfills): by the time
-- they were stored.
CREATE INDEX mentions_ingested_at ON mentions (ingested_at);
