-- TRUNCATE of an attached table removes its keys, in the worker, without
-- blocking the truncating transaction; other tables' keys stay.
CREATE TABLE tr (id int PRIMARY KEY, v text);
CREATE TABLE tra (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('tr');
SELECT wt_cache.attach('tra');
INSERT INTO tr SELECT g, 'v' || g FROM generate_series(1, 2500) g;
INSERT INTO tra VALUES (1, 'bystander');
SELECT count(*) AS keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'tr:*')::json);
TRUNCATE tr;
-- the worker removes them (SCAN tr:* and UNLINK, in batches)
DO $$
BEGIN
  FOR i IN 1..1000 LOOP
    EXIT WHEN wt_cache.cache_command('KEYS', 'tr:*') = '[]';
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
SELECT wt_cache.cache_command('KEYS', 'tr:*') AS keys_after;
SELECT wt_cache.cache_get('tra:1');
-- rows written after the TRUNCATE in the same transaction stay cached;
-- those written before it do not
BEGIN;
INSERT INTO tr VALUES (1, 'before truncate'), (2, 'before truncate');
TRUNCATE tr;
INSERT INTO tr VALUES (3, 'after truncate');
COMMIT;
SELECT wait_for_queue();
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('tr:1'), ('tr:2'), ('tr:3')) v(k);
-- a TRUNCATE rolled back changes nothing
BEGIN;
TRUNCATE tr;
ROLLBACK;
SELECT wt_cache.cache_get('tr:3');
SELECT count(*) AS queue FROM wt_cache.retry_queue WHERE rel = 'tr'::regclass;
