-- wt_cache.unix_socket: Valkey's unix socket instead of host and port
-- (the harness starts Valkey with one, in its directory)
\getenv valkey_dir WTC_VALKEY_DIR
CREATE TABLE us (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('us');
SELECT wait_for_queue();
-- the default, auto: connected by host and port, wt_cache asks the server
-- for its socket and moves to it
SHOW wt_cache.unix_socket;
INSERT INTO us VALUES (1, 'found by auto');
SELECT wt_cache.cache_get('us:1');
SELECT wt_cache.cache_command('CLIENT', 'INFO') ~ 'valkey\.sock' AS connected_by_socket;
-- empty: host and port only
ALTER SYSTEM SET wt_cache.unix_socket = '';
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
UPDATE us SET v = 'via TCP';
SELECT wt_cache.cache_get('us:1');
SELECT wt_cache.cache_command('CLIENT', 'INFO') ~ 'valkey\.sock' AS connected_by_socket;
-- a path: (not echoed: it differs from run to run)
\set ECHO none
SELECT format('ALTER SYSTEM SET wt_cache.unix_socket = %L', :'valkey_dir' || '/valkey.sock') \gexec
\set ECHO all
-- a port nobody listens on: only the socket can work
ALTER SYSTEM SET wt_cache.port = 1;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
UPDATE us SET v = 'via the socket';
SELECT wt_cache.cache_get('us:1');
SELECT wt_cache.cache_command('CLIENT', 'INFO') ~ 'valkey\.sock' AS connected_by_socket;
SELECT count(*) AS queued FROM wt_cache.retry_queue WHERE rel = 'us'::regclass;
-- auto, logged in as an ACL user that may not run CONFIG: it cannot learn
-- the socket, and stays on TCP
\! $WTC_CLI ACL SETUSER wtc_noconfig on '>noconfigPW' '~*' '+@all' '-config' > /dev/null
\! printf 'noconfigPW\n' > "$WTC_VALKEY_DIR/noconfig.pw" && chmod 600 "$WTC_VALKEY_DIR/noconfig.pw"
\set ECHO none
SELECT format('ALTER SYSTEM SET wt_cache.password_file = %L', :'valkey_dir' || '/noconfig.pw') \gexec
\set ECHO all
ALTER SYSTEM SET wt_cache.username = 'wtc_noconfig';
ALTER SYSTEM RESET wt_cache.unix_socket;
ALTER SYSTEM RESET wt_cache.port;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
UPDATE us SET v = 'as wtc_noconfig';
SELECT wt_cache.cache_get('us:1');
SELECT wt_cache.cache_command('CLIENT', 'INFO') ~ 'user=wtc_noconfig' AS as_that_user,
       wt_cache.cache_command('CLIENT', 'INFO') ~ 'valkey\.sock' AS connected_by_socket;
SELECT count(*) AS queued FROM wt_cache.retry_queue WHERE rel = 'us'::regclass;
-- back to the default user: auto moves to the socket again
ALTER SYSTEM RESET wt_cache.username;
ALTER SYSTEM RESET wt_cache.password_file;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
\! $WTC_CLI ACL DELUSER wtc_noconfig > /dev/null
UPDATE us SET v = 'by auto again';
SELECT wt_cache.cache_get('us:1');
SELECT wt_cache.cache_command('CLIENT', 'INFO') ~ 'valkey\.sock' AS connected_by_socket;
SELECT wait_for_queue();
