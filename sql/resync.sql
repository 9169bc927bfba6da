-- wt_cache.resync(rel): write every row, remove the keys of rows that are
-- gone (cache warm-up and repair); only the owner may.
CREATE TABLE rs (id int PRIMARY KEY, v text);
INSERT INTO rs SELECT g, 'loaded before attach ' || g FROM generate_series(1, 300) g;
SELECT wt_cache.attach('rs', load => false);
-- with load => false, rows that existed before attach are not in the cache
SELECT wt_cache.cache_get('rs:1');
-- a stale value and a key of a row that does not exist
\! $WTC_CLI SET rs:2 stale > /dev/null; $WTC_CLI SET rs:999 ghost > /dev/null
SELECT wt_cache.resync('rs');
SELECT count(*) AS rows,
       count(*) FILTER (WHERE wt_cache.cache_get('rs:' || id) = row_to_json(rs)::text) AS cached
  FROM rs;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('rs:2'), ('rs:999')) v(k);
-- resync does not write over a newer write: changes after it land as usual
UPDATE rs SET v = 'after resync' WHERE id = 1;
SELECT wt_cache.cache_get('rs:1');
-- attach loads the rows a table already has (the worker does, at once;
-- 12,000 rows: several batches)
CREATE TABLE rs_load (id int PRIMARY KEY, v text);
INSERT INTO rs_load SELECT g, 'row ' || g FROM generate_series(1, 12000) g;
SELECT wt_cache.attach('rs_load');
SELECT wait_for_queue();
SELECT count(*) AS rows,
       count(*) FILTER (WHERE wt_cache.cache_get('rs_load:' || id) = row_to_json(rs_load)::text) AS cached
  FROM rs_load;
-- versions carry the epoch that wt_cache.stats shows
SELECT epoch >= 1 AS epoch_known,
       left(wt_cache.cache_get('{rs_load:1}:v'), 4) = lpad(upper(to_hex(epoch)), 4, '0') AS version_has_epoch
  FROM wt_cache.stats;
-- and the launcher keeps this server's identity beside them
SELECT wt_cache.cache_command('HGET', '{wt_cache}:meta', 'sysid') = s.system_identifier::text
       AS meta_names_this_server
  FROM pg_control_system() s;
-- nothing is running now
SELECT count(*) AS resyncs_running FROM wt_cache.resync_progress;
-- bad input
SELECT wt_cache.resync(NULL);
CREATE TABLE rs_not_attached (id int PRIMARY KEY);
SELECT wt_cache.resync('rs_not_attached');
CREATE ROLE rs_other;
SET ROLE rs_other;
SELECT wt_cache.resync('rs');
RESET ROLE;
DROP ROLE rs_other;
