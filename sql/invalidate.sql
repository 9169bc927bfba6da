-- mode 'invalidate' deletes the key on every change.
CREATE TABLE inv (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('inv', mode => 'invalidate');
-- the application filled the cache itself (cache-aside)
\! $WTC_CLI MSET inv:1 cached-1 inv:2 cached-2 inv:3 cached-3 > /dev/null
INSERT INTO inv VALUES (1, 'new');
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('inv:1'), ('inv:2'), ('inv:3')) v(k);
INSERT INTO inv VALUES (2, 'x'), (3, 'y');
\! $WTC_CLI MSET inv:2 cached-2 inv:3 cached-3 > /dev/null
UPDATE inv SET v = 'changed' WHERE id = 2;
DELETE FROM inv WHERE id = 3;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('inv:1'), ('inv:2'), ('inv:3')) v(k);
-- a key change invalidates both keys
\! $WTC_CLI MSET inv:2 cached-2 inv:20 cached-20 > /dev/null
UPDATE inv SET id = 20 WHERE id = 2;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('inv:2'), ('inv:20')) v(k);
SELECT mode FROM wt_cache.attached WHERE "table" = 'inv'::regclass;
