-- wt_cache.async_push: COMMIT hands the push to the worker through shared
-- memory and returns without waiting for Valkey (no read-your-writes); the
-- worker sends what commits gathered, counts the pushes, and sends keys
-- that failed to the retry path.
CREATE TABLE asy (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('asy');
SELECT wait_for_queue();
SET wt_cache.async_push = on;
-- the write lands, though COMMIT did not wait for it, and the worker
-- counts the push
SELECT xacts_pushed AS pushed_before FROM wt_cache.stats \gset
INSERT INTO asy VALUES (1, 'async');
SELECT wait_for_cache('asy:1', '{"id":1,"v":"async"}');
SELECT wait_for_stat('xacts_pushed', :pushed_before + 1) AS push_counted;
-- COMMIT does not wait: Valkey's writes are paused for 600 ms (within the
-- worker's wt_cache.command_timeout), the commit returns at once, and the
-- row lands when the pause ends
\! $WTC_CLI CLIENT PAUSE 600 WRITE
SELECT clock_timestamp() AS t0 \gset
UPDATE asy SET v = 'paused' WHERE id = 1;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '300 ms' AS commit_did_not_wait;
SELECT wait_for_cache('asy:1', '{"id":1,"v":"paused"}');
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '500 ms' AS landed_after_the_pause;
-- commits that come while the worker waits for Valkey go out together: 20
-- commits while Valkey's writes are paused cost Valkey a few reads, not 20
SELECT xacts_pushed AS pushed_before FROM wt_cache.stats \gset
\set reads_before `$WTC_CLI INFO stats | tr -d '\r' | awk -F: '/^total_reads_processed:/ { print $2 }'`
\! $WTC_CLI CLIENT PAUSE 500 WRITE
DO $$
BEGIN
    FOR i IN 1..20 LOOP
        UPDATE asy SET v = 'batch ' || i WHERE id = 1;
        COMMIT;
    END LOOP;
END $$;
SELECT wait_for_stat('xacts_pushed', :pushed_before + 20) AS all_counted;
\set reads_after `$WTC_CLI INFO stats | tr -d '\r' | awk -F: '/^total_reads_processed:/ { print $2 }'`
SELECT :reads_after - :reads_before < 12 AS fewer_reads_than_commits;
SELECT wait_for_cache('asy:1', '{"id":1,"v":"batch 20"}');
-- a key Valkey refuses (it holds a list): parked as dead by the worker;
-- the other key of the same commit lands
\! $WTC_CLI RPUSH asy:2 not-ours > /dev/null
INSERT INTO asy VALUES (2, 'refused'), (3, 'fine');
SELECT wait_for_cache('asy:3', '{"id":3,"v":"fine"}');
SELECT wait_for_dead('asy:2') AS parked_dead;
SELECT key, state, last_error FROM wt_cache.retry_queue WHERE rel = 'asy'::regclass;
\! $WTC_CLI DEL asy:2 > /dev/null
SELECT wt_cache.replay_dead(id) FROM wt_cache.retry_queue WHERE key = 'asy:2';
SELECT wait_for_cache('asy:2', '{"id":2,"v":"refused"}');
-- Valkey frozen past the worker's wt_cache.command_timeout (1 s): commits
-- still return at once; the worker hands the keys to the retry path, which
-- writes them once Valkey is back
SELECT keys_handed_off AS handed_off_before FROM wt_cache.stats \gset
\! $WTC_CLI CLIENT PAUSE 2500 WRITE
SELECT clock_timestamp() AS t0 \gset
UPDATE asy SET v = 'timed out' WHERE id = 3;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '300 ms' AS commit_did_not_wait;
SELECT wait_for_stat('keys_handed_off', :handed_off_before + 1) AS handed_off;
SELECT wait_for_cache('asy:3', '{"id":3,"v":"timed out"}');
-- a push larger than a quarter of the worker's ring (wt_cache.
-- handoff_ring_size) is made by the backend, as without the setting: this
-- COMMIT waits for Valkey, and the rows are there when it returns
\! $WTC_CLI CLIENT PAUSE 400 WRITE
SELECT clock_timestamp() AS t0 \gset
INSERT INTO asy SELECT g, repeat('x', 200) FROM generate_series(10, 2009) g;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '300 ms' AS commit_waited;
SELECT wt_cache.cache_get('asy:2009') = (SELECT row_to_json(asy)::text FROM asy WHERE id = 2009) AS there_at_commit;
-- only a superuser may change it
CREATE ROLE asy_user;
SET ROLE asy_user;
SET wt_cache.async_push = off;
RESET ROLE;
DROP ROLE asy_user;
RESET wt_cache.async_push;
SELECT wait_for_queue();
