-- The label copied into each brand link, as created_at is: a brand's series and the detector's
-- counts then read only the (brand, time, label) index. Kept in step by ingest and rescore.
ALTER TABLE mention_brands ADD COLUMN label text;
UPDATE mention_brands mb SET label = m.label FROM mentions m WHERE m.id = mb.mention_id;
CREATE INDEX mention_brands_brand_time_label ON mention_brands (brand_id, created_at, label);
DROP INDEX mention_brands_brand_time;
