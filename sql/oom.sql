-- Valkey out of memory (maxmemory with noeviction) refuses writes with OOM,
-- a transient error: the commit succeeds, the keys go to the worker, which
-- backs off and retries until Valkey has room again.
CREATE TABLE om (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('om');
INSERT INTO om VALUES (1, 'before');
\! $WTC_CLI CONFIG SET maxmemory-policy noeviction > /dev/null; $WTC_CLI CONFIG SET maxmemory 1 > /dev/null
UPDATE om SET v = 'while full' WHERE id = 1;
SELECT v FROM om;
-- the key waits: retried with backoff (attempts grow), never parked
DO $$
BEGIN
  FOR i IN 1..1000 LOOP
    EXIT WHEN EXISTS (SELECT FROM wt_cache.retry_queue WHERE key = 'om:1' AND attempts > 0);
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
SELECT state, attempts > 0 AS retried, last_error LIKE 'OOM%' AS out_of_memory
  FROM wt_cache.retry_queue WHERE key = 'om:1';
SELECT wt_cache.cache_get('om:1');
-- room again: it lands
\! $WTC_CLI CONFIG SET maxmemory 0 > /dev/null
SELECT wait_for_cache('om:1', '{"id":1,"v":"while full"}');
SELECT wait_for_queue();
