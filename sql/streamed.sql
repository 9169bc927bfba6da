-- A push of more keys than wt_cache.keys_per_call is several script calls.
-- They are not built before the commit record: COMMIT builds each call in
-- buffers sized beforehand, sends it while Valkey runs the one before, and
-- then reads the replies.  Here calls of 3 keys.
ALTER SYSTEM SET wt_cache.keys_per_call = 3;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SHOW wt_cache.keys_per_call;
CREATE TABLE st (id int PRIMARY KEY, v text);
CREATE TABLE st_ttl (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('st');
SELECT wt_cache.attach('st_ttl', ttl => 3600);
INSERT INTO st VALUES (9, 'to delete'), (10, 'to delete');
SELECT wt_cache.cache_get('st:9');
SELECT wait_for_queue();
-- one transaction of 11 keys, so 4 calls: sets of very different sizes, a
-- row changed twice, an expiring table, deletes
SELECT xacts_pushed AS pushed0, keys_written AS written0 FROM wt_cache.stats \gset
\set calls0 `$WTC_CLI INFO commandstats | grep -o 'cmdstat_evalsha:calls=[0-9]*' | cut -d= -f2`
BEGIN;
INSERT INTO st SELECT g, repeat('x', g * 1000) FROM generate_series(1, 6) g;
UPDATE st SET v = 'changed twice' WHERE id = 2;
INSERT INTO st_ttl VALUES (1, 'expires'), (2, 'expires too');
DELETE FROM st WHERE id IN (9, 10);
INSERT INTO st VALUES (11, 'last');
COMMIT;
\set calls1 `$WTC_CLI INFO commandstats | grep -o 'cmdstat_evalsha:calls=[0-9]*' | cut -d= -f2`
SELECT :calls1 - :calls0 AS script_calls;
SELECT xacts_pushed - :pushed0 AS pushed, keys_written - :written0 AS written
  FROM wt_cache.stats;
-- every key, right after COMMIT
SELECT id, wt_cache.cache_get('st:' || id) = row_to_json(st)::text AS cached,
       length(wt_cache.cache_get('st:' || id)) AS json_bytes
  FROM st ORDER BY id;
SELECT wt_cache.cache_get('st:2');
SELECT wt_cache.cache_get('st:9') IS NULL AS deleted_9,
       wt_cache.cache_get('st:10') IS NULL AS deleted_10;
SELECT wt_cache.cache_get('st_ttl:2');
SELECT wt_cache.cache_command('TTL', 'st_ttl:2')::int BETWEEN 3590 AND 3600 AS ttl_set;
SELECT * FROM wt_cache.verify_summary('st');
-- a key Valkey refuses (it holds a list) in the third call: it is parked
-- dead, and the keys of the calls before and after it land
\! $WTC_CLI RPUSH st:20 not-ours > /dev/null
INSERT INTO st SELECT g, 'row ' || g FROM generate_series(12, 22) g;
SELECT wt_cache.cache_get('st:12') AS first_call, wt_cache.cache_get('st:22') AS last_call;
SELECT wait_for_dead('st:20') AS parked_dead;
SELECT key, state, last_error FROM wt_cache.retry_queue WHERE rel = 'st'::regclass;
SELECT wt_cache.cache_command('LRANGE', 'st:20', '0', '-1') AS still_the_list;
\! $WTC_CLI DEL st:20 > /dev/null
SELECT wt_cache.replay_dead(id) FROM wt_cache.retry_queue WHERE key = 'st:20';
SELECT wait_for_cache('st:20', '{"id":20,"v":"row 20"}');
SELECT wait_for_queue();
-- Valkey frozen during a push of 16 MB (2,000 keys of 8 kB, 667 calls):
-- the socket fills, COMMIT gives up after one command_timeout, and every
-- key reaches the cache through the worker
SET wt_cache.command_timeout = 300;
SELECT keys_handed_off AS handed0 FROM wt_cache.stats \gset
\! kill -STOP $WTC_VALKEY_PID
SELECT clock_timestamp() AS t0 \gset
INSERT INTO st SELECT g, repeat(md5(g::text), 256) FROM generate_series(1001, 3000) g;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000 AS ms \gset
\! kill -CONT $WTC_VALKEY_PID
SELECT :ms >= 290 AS waited_for_timeout, :ms < 300 + 3000 AS returned_in_time;
SELECT keys_handed_off - :handed0 AS handed_off FROM wt_cache.stats;
-- (the last key was never sent: it lands through the retry queue, so once
-- it is there the worker has queued the handed-off keys, and the queue can
-- be waited for)
SELECT wait_for_cache('st:3000', r) = r AS last_key_landed
  FROM (SELECT row_to_json(st)::text AS r FROM st WHERE id = 3000) s;
SELECT wait_for_queue();
SELECT * FROM wt_cache.verify_summary('st');
RESET wt_cache.command_timeout;
-- calls of the default 1,000 keys: 2,500 changes, deletes and sets of every
-- size from 0 to 3,000 characters, all written at COMMIT (a call that did
-- not fit its buffers would fail and be counted)
ALTER SYSTEM RESET wt_cache.keys_per_call;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SHOW wt_cache.keys_per_call;
SELECT push_failures AS failures0, keys_written AS written0 FROM wt_cache.stats \gset
BEGIN;
DELETE FROM st WHERE id > 2000;
INSERT INTO st SELECT g, repeat('y', (g * 7919) % 3001) FROM generate_series(5001, 6500) g;
COMMIT;
SELECT push_failures - :failures0 AS failures, keys_written - :written0 AS written
  FROM wt_cache.stats;
SELECT count(*) AS queued FROM wt_cache.retry_queue WHERE rel = 'st'::regclass;
SELECT * FROM wt_cache.verify_summary('st');
SELECT wt_cache.detach('st');
SELECT wt_cache.detach('st_ttl');
DROP TABLE st, st_ttl;
