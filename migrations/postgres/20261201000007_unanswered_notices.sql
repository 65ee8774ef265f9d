-- Complaints already notified as left unanswered ([responses] alert_unanswered_after): one
-- notice per mention and brand, written in the same transaction as its messages.
CREATE TABLE unanswered_notices (
    mention_id  bigint NOT NULL REFERENCES mentions (id) ON DELETE CASCADE,
    brand       text NOT NULL,
    notified_at timestamptz NOT NULL,
    PRIMARY KEY (mention_id, brand)
);
