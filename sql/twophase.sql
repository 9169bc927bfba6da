-- Two-phase commit: PREPARE keeps the change (its keys wait in the retry
-- queue, inside the prepared transaction); COMMIT PREPARED makes it reach
-- Valkey promptly; ROLLBACK PREPARED leaves no trace.
CREATE TABLE tp (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('tp');
INSERT INTO tp VALUES (1, 'committed'), (2, 'committed');
-- attach's load job done first
SELECT wait_for_queue();
BEGIN;
UPDATE tp SET v = 'prepared' WHERE id = 1;
INSERT INTO tp VALUES (3, 'prepared');
PREPARE TRANSACTION 'wtc_tp1';
-- not in the cache yet, and the queued keys are invisible until commit
SELECT wt_cache.cache_get('tp:1'), wt_cache.cache_get('tp:3');
SELECT count(*) AS visible_queue FROM wt_cache.retry_queue WHERE rel = 'tp'::regclass;
SELECT clock_timestamp() AS t0 \gset
COMMIT PREPARED 'wtc_tp1';
SELECT wait_for_cache('tp:1', '{"id":1,"v":"prepared"}');
SELECT wait_for_cache('tp:3', '{"id":3,"v":"prepared"}');
-- promptly: the worker is woken by COMMIT PREPARED, not by a timer
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 s' AS prompt;
-- ROLLBACK PREPARED: no trace; a committed change afterwards lands
BEGIN;
UPDATE tp SET v = 'rolled back' WHERE id = 2;
DELETE FROM tp WHERE id = 1;
PREPARE TRANSACTION 'wtc_tp2';
ROLLBACK PREPARED 'wtc_tp2';
UPDATE tp SET v = 'after' WHERE id = 3;
SELECT wait_for_queue();
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('tp:1'), ('tp:2'), ('tp:3')) v(k);
SELECT count(*) AS queue FROM wt_cache.retry_queue WHERE rel = 'tp'::regclass;
-- a prepared transaction that does not touch an attached table
BEGIN;
CREATE TABLE not_attached (id int);
PREPARE TRANSACTION 'wtc_other';
COMMIT PREPARED 'wtc_other';
