-- One transaction changing several attached tables and many rows: all of
-- it lands, in one round trip.
CREATE TABLE mt_a (id int PRIMARY KEY, v text);
CREATE TABLE mt_b (id text PRIMARY KEY, n int);
SELECT wt_cache.attach('mt_a');
SELECT wt_cache.attach('mt_b');
BEGIN;
INSERT INTO mt_a SELECT g, 'a' || g FROM generate_series(1, 1000) g;
INSERT INTO mt_b SELECT 'b' || g, g FROM generate_series(1, 1000) g;
UPDATE mt_a SET v = v || '!' WHERE id % 100 = 0;
DELETE FROM mt_b WHERE n > 990;
COMMIT;
SELECT count(*) AS a_rows,
       count(*) FILTER (WHERE wt_cache.cache_get('mt_a:' || id) = row_to_json(mt_a)::text) AS a_cached
  FROM mt_a;
SELECT count(*) AS b_rows,
       count(*) FILTER (WHERE wt_cache.cache_get('mt_b:' || id) = row_to_json(mt_b)::text) AS b_cached
  FROM mt_b;
SELECT wt_cache.cache_get('mt_b:b995') IS NULL AS deleted, wt_cache.cache_get('mt_a:100');
-- a large value
UPDATE mt_a SET v = repeat('x', 5000000) WHERE id = 1;
SELECT length(wt_cache.cache_get('mt_a:1')) AS cached_length;
