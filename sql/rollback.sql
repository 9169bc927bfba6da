-- A rolled-back transaction leaves no trace; a committed one lands.
CREATE TABLE rb (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('rb');
INSERT INTO rb VALUES (1, 'kept'), (2, 'kept');
BEGIN;
INSERT INTO rb VALUES (3, 'rolled back');
UPDATE rb SET v = 'rolled back' WHERE id = 1;
DELETE FROM rb WHERE id = 2;
ROLLBACK;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('rb:1'), ('rb:2'), ('rb:3')) v(k);
-- an error aborts the transaction: nothing of it reaches the cache
BEGIN;
UPDATE rb SET v = 'doomed' WHERE id = 1;
SELECT 1 / 0;
COMMIT;
SELECT wt_cache.cache_get('rb:1');
-- and the next committed change does land
UPDATE rb SET v = 'committed' WHERE id = 1;
SELECT wt_cache.cache_get('rb:1');
