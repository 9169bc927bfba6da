-- wt_cache.unix_socket: Valkey's unix socket instead of host and port
-- (the harness starts Valkey with one, in its directory)
\getenv valkey_dir WTC_VALKEY_DIR
CREATE TABLE us (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('us');
SELECT wait_for_queue();
-- (not echoed: the path differs from run to run)
\set ECHO none
SELECT format('ALTER SYSTEM SET wt_cache.unix_socket = %L', :'valkey_dir' || '/valkey.sock') \gexec
\set ECHO all
-- a port nobody listens on: only the socket can work
ALTER SYSTEM SET wt_cache.port = 1;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
INSERT INTO us VALUES (1, 'via the socket');
SELECT wt_cache.cache_get('us:1');
SELECT wt_cache.cache_command('CLIENT', 'INFO') ~ 'valkey\.sock' AS connected_by_socket;
SELECT count(*) AS queued FROM wt_cache.retry_queue WHERE rel = 'us'::regclass;
ALTER SYSTEM RESET wt_cache.unix_socket;
ALTER SYSTEM RESET wt_cache.port;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
UPDATE us SET v = 'via TCP again';
SELECT wt_cache.cache_get('us:1');
SELECT wt_cache.cache_command('CLIENT', 'INFO') ~ 'valkey\.sock' AS connected_by_socket;
SELECT wait_for_queue();
