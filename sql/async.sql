-- wt_cache.async_push: COMMIT sends the changes and does not wait for
-- Valkey's reply (no read-your-writes); the reply is read when the backend
-- next uses its connection, and keys that failed go to the retry path then.
CREATE TABLE asy (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('asy');
SELECT wait_for_queue();
SET wt_cache.async_push = on;
-- the write lands, though COMMIT did not wait for it
INSERT INTO asy VALUES (1, 'async');
SELECT wait_for_cache('asy:1', '{"id":1,"v":"async"}');
-- COMMIT does not wait: Valkey's writes are paused for 600 ms, the commit
-- returns at once; the next commit reads the reply (the pause is within
-- wt_cache.command_timeout) and the row is there
SELECT xacts_pushed AS pushed_before FROM wt_cache.stats \gset
\! $WTC_CLI CLIENT PAUSE 600 WRITE
SELECT clock_timestamp() AS t0 \gset
UPDATE asy SET v = 'paused' WHERE id = 1;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '300 ms' AS commit_did_not_wait;
SELECT wt_cache.cache_get('asy:1');
SELECT xacts_pushed > :pushed_before AS reply_counted FROM wt_cache.stats;
-- a key Valkey refuses (it holds a list): known at the next use of the
-- connection, and parked as dead by the worker; the other key lands
\! $WTC_CLI RPUSH asy:2 not-ours > /dev/null
INSERT INTO asy VALUES (2, 'refused'), (3, 'fine');
SELECT wt_cache.cache_get('asy:3');
SELECT wait_for_dead('asy:2') AS parked_dead;
SELECT key, state, last_error FROM wt_cache.retry_queue WHERE rel = 'asy'::regclass;
\! $WTC_CLI DEL asy:2 > /dev/null
SELECT wt_cache.replay_dead(id) FROM wt_cache.retry_queue WHERE key = 'asy:2';
SELECT wait_for_cache('asy:2', '{"id":2,"v":"refused"}');
-- Valkey frozen past the deadline: commits still return at once, and the
-- keys go to the retry path when the deadline has passed
SET wt_cache.command_timeout = 300;
SELECT keys_handed_off AS handed_off_before FROM wt_cache.stats \gset
\! $WTC_CLI CLIENT PAUSE 1500 WRITE
UPDATE asy SET v = 'timed out' WHERE id = 3;
SELECT pg_sleep(0.4);
SELECT 1 AS next_transaction;
SELECT keys_handed_off - :handed_off_before AS handed_off FROM wt_cache.stats;
SELECT wait_for_cache('asy:3', '{"id":3,"v":"timed out"}');
RESET wt_cache.command_timeout;
-- only a superuser may change it
CREATE ROLE asy_user;
SET ROLE asy_user;
SET wt_cache.async_push = off;
RESET ROLE;
DROP ROLE asy_user;
RESET wt_cache.async_push;
SELECT wait_for_queue();
