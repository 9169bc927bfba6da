-- A frozen Valkey (SIGSTOP) cannot hold a commit past
-- wt_cache.command_timeout: the commit succeeds, without a warning (the
-- failure is logged and counted), and the worker writes the keys once
-- Valkey thaws.
CREATE TABLE tmo (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('tmo');
SET wt_cache.command_timeout = 300;
INSERT INTO tmo VALUES (1, 'before'), (2, 'before');
SELECT wt_cache.cache_get('tmo:1');
SELECT keys_handed_off AS handed_before FROM wt_cache.stats \gset
\! kill -STOP $WTC_VALKEY_PID
SELECT clock_timestamp() AS t0 \gset
UPDATE tmo SET v = 'while frozen';
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000 AS ms \gset
\! kill -CONT $WTC_VALKEY_PID
-- waited for the timeout, and not much longer (generous slack for a busy machine)
SELECT :ms >= 290 AS waited_for_timeout, :ms < 300 + 2000 AS returned_in_time;
-- the commit itself succeeded
SELECT id, v FROM tmo ORDER BY id;
-- its keys were handed to the worker, which writes them
SELECT keys_handed_off - :handed_before AS handed_off FROM wt_cache.stats;
SELECT wait_for_queue();
SELECT wait_for_cache('tmo:1', '{"id":1,"v":"while frozen"}');
SELECT wait_for_cache('tmo:2', '{"id":2,"v":"while frozen"}');
-- the next commit reconnects and lands
UPDATE tmo SET v = 'after thaw';
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('tmo:1'), ('tmo:2')) v(k);
-- the timeout is one deadline for the whole exchange
SHOW wt_cache.command_timeout;
RESET wt_cache.command_timeout;
-- only superusers may change it
CREATE ROLE tmo_user;
SET ROLE tmo_user;
SET wt_cache.command_timeout = 5;
RESET ROLE;
DROP ROLE tmo_user;
