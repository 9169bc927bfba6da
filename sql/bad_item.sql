-- One bad queue entry never crash-loops the worker: an entry whose key
-- cannot even be read back (not an integer, for an integer key) makes its
-- batch fail; the worker retries the entries one by one, parks the bad one
-- as dead with its error, and the others land.
CREATE TABLE bi (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('bi');
INSERT INTO bi VALUES (1, 'one'), (2, 'two');
\! $WTC_CLI DEL bi:1 bi:2 > /dev/null
INSERT INTO wt_cache.retry_queue (rel, key, key_offset) VALUES
    ('bi'::regclass, 'bi:1', 3),
    ('bi'::regclass, 'bi:not-a-number', 3),
    ('bi'::regclass, 'bi:2', 3);
SELECT wt_cache._wake();
DO $$
BEGIN
  FOR i IN 1..1500 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM wt_cache.retry_queue WHERE rel = 'bi'::regclass AND state = 'pending');
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
SELECT key, state, last_error FROM wt_cache.retry_queue WHERE rel = 'bi'::regclass;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('bi:1'), ('bi:2')) v(k);
-- the worker is still there and still working
UPDATE bi SET v = 'two again' WHERE id = 2;
SELECT wt_cache.cache_get('bi:2');
SELECT count(*) AS workers FROM pg_stat_activity
 WHERE backend_type = 'wt_cache worker' AND datname = current_database();
SELECT wt_cache.purge_dead();
