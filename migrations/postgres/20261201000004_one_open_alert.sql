-- At most one open alert per brand, whatever several daemons sharing a database (or a stalled
-- one whose lease lapsed) decide at the same moment: a second alert for an episode already
-- alerted is refused by the database, so it is never mailed twice.
UPDATE alerts SET state = 'resolved', resolved_at = fired_at
WHERE state = 'open' AND id NOT IN (SELECT max(id) FROM alerts WHERE state = 'open' GROUP BY brand);
CREATE UNIQUE INDEX alerts_one_open_per_brand ON alerts (brand) WHERE state = 'open';
