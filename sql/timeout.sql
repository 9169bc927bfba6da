-- A frozen Valkey (SIGSTOP) cannot hold a commit past
-- wt_cache.command_timeout: the commit succeeds, with a WARNING naming the
-- number of keys, and the next commit after Valkey thaws lands.
CREATE TABLE tmo (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('tmo');
SET wt_cache.command_timeout = 300;
INSERT INTO tmo VALUES (1, 'before'), (2, 'before');
SELECT wt_cache.cache_get('tmo:1');
\! kill -STOP $WTC_VALKEY_PID
SELECT clock_timestamp() AS t0 \gset
UPDATE tmo SET v = 'while frozen';
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000 AS ms \gset
\! kill -CONT $WTC_VALKEY_PID
-- waited for the timeout, and not much longer (generous slack for a busy machine)
SELECT :ms >= 290 AS waited_for_timeout, :ms < 300 + 2000 AS returned_in_time;
-- the commit itself succeeded
SELECT id, v FROM tmo ORDER BY id;
\! $WTC_CLI PING
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
