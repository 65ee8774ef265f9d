-- For analysts: mentions and net sentiment per UTC day, brand, source and language, read with
-- any SQL client (sqlite3, DuckDB's sqlite extension). `net` is (positive - negative) / scored
-- mentions x 100, NULL when none is scored; `mentiond query --group-by` gives the same figures
-- in other time zones and with empty days.
CREATE VIEW daily_brand_sentiment AS
SELECT substr(mb.created_at, 1, 10)         AS day,
       b.name                               AS brand,
       m.source                             AS source,
       m.lang                               AS lang,
       count(*)                             AS mentions,
       sum(m.label = 'positive')            AS positive,
       sum(m.label = 'neutral')             AS neutral,
       sum(m.label = 'negative')            AS negative,
       sum(m.label IS NULL)                 AS unscored,
       CASE WHEN sum(m.label IS NOT NULL) > 0
            THEN round(100.0 * (sum(m.label = 'positive') - sum(m.label = 'negative'))
                       / sum(m.label IS NOT NULL), 1)
       END                                  AS net
FROM mention_brands mb
JOIN mentions m ON m.id = mb.mention_id
JOIN brands b ON b.id = mb.brand_id
GROUP BY day, brand, source, lang;
