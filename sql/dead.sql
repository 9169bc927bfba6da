-- A key Valkey refuses for good (here it holds a list, someone else's data)
-- is parked as dead with its error, while the other keys land; it is
-- replayed once the key is fixed.  The list is never overwritten.
CREATE TABLE dk (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('dk');
\! $WTC_CLI RPUSH dk:1 not-ours > /dev/null
INSERT INTO dk VALUES (1, 'row one'), (2, 'row two');
SELECT wt_cache.cache_get('dk:2');
SELECT wait_for_dead('dk:1') AS parked_dead;
SELECT key, state, attempts, last_error FROM wt_cache.retry_queue WHERE rel = 'dk'::regclass;
SELECT wt_cache.cache_command('TYPE', 'dk:1') AS still_a_list;
SELECT dead_entries FROM wt_cache.stats;
-- fix the key, replay
\! $WTC_CLI DEL dk:1 > /dev/null
SELECT wt_cache.replay_dead(id) FROM wt_cache.retry_queue WHERE key = 'dk:1';
SELECT wait_for_cache('dk:1', '{"id":1,"v":"row one"}');
SELECT wait_for_queue();
SELECT count(*) AS left_in_queue FROM wt_cache.retry_queue WHERE rel = 'dk'::regclass;
-- purge: a dead entry that is not wanted any more (another application
-- took over the key: deleted it and its version key, made it a hash)
\! $WTC_CLI DEL dk:2 {dk:2}:v > /dev/null; $WTC_CLI HSET dk:2 f x > /dev/null
UPDATE dk SET v = 'two again' WHERE id = 2;
SELECT wait_for_dead('dk:2') AS parked_dead;
SELECT key, state, last_error FROM wt_cache.retry_queue WHERE rel = 'dk'::regclass;
SELECT wt_cache.purge_dead();
SELECT count(*) AS left_in_queue FROM wt_cache.retry_queue WHERE rel = 'dk'::regclass;
-- asking for an entry that is not dead
SELECT wt_cache.replay_dead(-1);
SELECT wt_cache.purge_dead(-1);
\! $WTC_CLI DEL dk:2 > /dev/null
