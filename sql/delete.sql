-- DELETE deletes the key.
CREATE TABLE del (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('del');
INSERT INTO del SELECT g, 'v' || g FROM generate_series(1, 5) g;
SELECT count(*) FILTER (WHERE wt_cache.cache_get('del:' || g) IS NOT NULL) AS cached
  FROM generate_series(1, 5) g;
DELETE FROM del WHERE id = 3;
SELECT wt_cache.cache_get('del:3') IS NULL AS deleted, wt_cache.cache_get('del:2');
DELETE FROM del WHERE id > 3;
SELECT g, wt_cache.cache_get('del:' || g) FROM generate_series(1, 5) g ORDER BY g;
-- deleting a row whose key is not in the cache is fine
SELECT wt_cache.cache_command('DEL', 'del:1');
DELETE FROM del WHERE id = 1;
SELECT wt_cache.cache_get('del:1') IS NULL AS deleted;
