-- The label copied into each brand link, as created_at is: a brand's series and the detector's
-- counts then read only the (brand, time, label) index, never the mentions' rows (at ten
-- million mentions, 125,000 random reads for a 90-day series). Kept in step by ingest and
-- rescore.
ALTER TABLE mention_brands ADD COLUMN label TEXT;
UPDATE mention_brands SET label = (SELECT m.label FROM mentions m WHERE m.id = mention_brands.mention_id);
CREATE INDEX mention_brands_brand_time_label ON mention_brands (brand_id, created_at, label);
DROP INDEX mention_brands_brand_time;
