-- wt_cache.reply_spin: for its first microseconds, a commit waits for
-- Valkey's reply by yielding the CPU and reading again instead of sleeping
-- in poll().  Shown by the backend's own count of times it went to sleep
-- (voluntary_ctxt_switches in /proc): 200 commits of 100 rows each in one
-- procedure (Valkey takes long enough over 100 keys that the reply is never
-- there before the backend waits for it) sleep about once each with the
-- spin off, and hardly ever with a long spin.  The backend and Valkey are
-- pinned to different CPUs for the count: on a shared CPU, Valkey woken by
-- the request may take the backend's CPU before it waits, and the backend
-- then finds the reply without sleeping, spin or not (seen in CI: fewer
-- than half of the commits without spin slept).
CREATE TABLE spin (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO spin SELECT g, 0 FROM generate_series(1, 100) g;
SELECT wt_cache.attach('spin');
SELECT wait_for_queue();
SHOW wt_cache.reply_spin;
CREATE FUNCTION sleeps() RETURNS bigint LANGUAGE sql AS $$
    SELECT (regexp_match(pg_read_file('/proc/self/status'),
                         E'\nvoluntary_ctxt_switches:\\s+(\\d+)'))[1]::bigint
$$;
-- 200 commits of every row, each setting n to its number
CREATE PROCEDURE commit_200(first int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN first..first + 199 LOOP
        UPDATE spin SET n = i;
        COMMIT;
    END LOOP;
END $$;
-- no WAL flush to wait for inside the loop
SET synchronous_commit = off;
SELECT xacts_pushed AS pushed0, push_failures AS failures0 FROM wt_cache.stats \gset
SELECT pg_backend_pid() AS backend \gset
\setenv WTC_BACKEND :backend
\! taskset -pc 0 $WTC_BACKEND >/dev/null && taskset -pc 1 $WTC_VALKEY_PID >/dev/null
SET wt_cache.reply_spin = 0;
SELECT sleeps() AS s0 \gset
CALL commit_200(1);
SELECT sleeps() AS s1 \gset
SET wt_cache.reply_spin = 10000;
CALL commit_200(201);
SELECT sleeps() AS s2 \gset
-- Valkey back on every CPU this test may use
\! taskset -pc "$(awk '/^Cpus_allowed_list/ { print $2 }' /proc/self/status)" $WTC_VALKEY_PID >/dev/null
SELECT :s1 - :s0 >= 150 AS without_spin_commits_sleep,
       :s2 - :s1 < 50 AS with_spin_they_hardly_do;
-- every commit was pushed, and every key holds its last row
SELECT xacts_pushed - :pushed0 AS pushed, push_failures - :failures0 AS failures
  FROM wt_cache.stats;
SELECT count(*) FILTER (WHERE wt_cache.cache_get('spin:' || id) = row_to_json(s)::text) AS keys_right, count(*) AS rows
  FROM spin s;
-- a reply that takes longer than the spin is still waited for (in poll):
-- Valkey's writes paused for 300 ms, a 10 ms spin, the commit waits for the
-- write and it lands
\! $WTC_CLI CLIENT PAUSE 300 WRITE
SELECT clock_timestamp() AS t0 \gset
UPDATE spin SET n = -1 WHERE id = 1;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '200 ms' AS commit_waited;
SELECT wt_cache.cache_get('spin:1') AS at_commit;
SELECT push_failures - :failures0 AS failures FROM wt_cache.stats;
-- the command timeout still bounds the wait: 300 ms, Valkey paused for
-- 1.5 s, a 10 ms spin; the key is handed to the retry path and lands
SET wt_cache.command_timeout = '300ms';
\! $WTC_CLI CLIENT PAUSE 1500 WRITE
SELECT clock_timestamp() AS t0 \gset
UPDATE spin SET n = -2 WHERE id = 2;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '1200 ms' AS commit_timed_out;
SELECT wait_for_cache('spin:2', '{"id":2,"n":-2}');
RESET wt_cache.command_timeout;
-- only a superuser may change it
CREATE ROLE spin_user;
SET ROLE spin_user;
SET wt_cache.reply_spin = 0;
RESET ROLE;
DROP ROLE spin_user;
RESET wt_cache.reply_spin;
RESET synchronous_commit;
SELECT wt_cache.detach('spin');
DROP FUNCTION sleeps();
DROP PROCEDURE commit_200(int);
DROP TABLE spin;
SELECT wait_for_queue();
