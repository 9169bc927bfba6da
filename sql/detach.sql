-- detach stops caching the table; keys already written stay.
CREATE TABLE dt (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('dt');
INSERT INTO dt VALUES (1, 'attached');
SELECT wt_cache.detach('dt');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'dt'::regclass;
SELECT count(*) FROM wt_cache.tables WHERE rel = 'dt'::regclass;
UPDATE dt SET v = 'detached';
INSERT INTO dt VALUES (2, 'detached');
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('dt:1'), ('dt:2')) v(k);
-- detaching a table that is not attached is an error
SELECT wt_cache.detach('dt');
-- a trigger pointed at the function by hand does nothing: only attach's
-- options make wt_cache write
CREATE TRIGGER by_hand AFTER INSERT ON dt FOR EACH ROW EXECUTE FUNCTION wt_cache.capture();
INSERT INTO dt VALUES (3, 'by hand');
SELECT wt_cache.cache_get('dt:3') IS NULL AS not_cached;
DROP TRIGGER by_hand ON dt;
-- attach again works, and a detach rolled back keeps the table attached
SELECT wt_cache.attach('dt');
BEGIN;
SELECT wt_cache.detach('dt');
ROLLBACK;
UPDATE dt SET v = 'attached again' WHERE id = 2;
SELECT wt_cache.cache_get('dt:2');
