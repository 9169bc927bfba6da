-- Installing the extension, its settings, and reading Valkey from SQL.
CREATE EXTENSION wt_cache;
SELECT nspname FROM pg_namespace WHERE nspname = 'wt_cache';
SELECT name, setting, unit, context FROM pg_settings
 WHERE name LIKE 'wt\_cache.%' AND name <> 'wt_cache.port' ORDER BY name;
-- The harness tells the server and this script where Valkey is
\getenv valkey_port WTC_VALKEY_PORT
SELECT current_setting('wt_cache.port') = :'valkey_port' AS port_from_harness;

-- cache_get against valkey-cli/redis-cli, both ways
\! $WTC_CLI SET init:cli 'written by the cli' > /dev/null
SELECT wt_cache.cache_get('init:cli');
SELECT wt_cache.cache_command('SET', 'init:sql', 'written by SQL');
\! $WTC_CLI GET init:sql
SELECT wt_cache.cache_get('init:missing') IS NULL AS missing_is_null;
SELECT wt_cache.cache_command('DEL', 'init:cli', 'init:sql');

-- Only superusers read Valkey directly
CREATE ROLE init_user;
SET ROLE init_user;
SELECT wt_cache.cache_get('init:cli');
SELECT wt_cache.cache_command('GET', 'init:cli');
RESET ROLE;
DROP ROLE init_user;

-- Helpers for the tests that wait for the worker: poll, bounded, never a
-- fixed sleep.  Each returns what it saw last.
CREATE FUNCTION wait_for_cache(k text, want text, timeout_s float8 DEFAULT 20)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout_s * interval '1 s';
    got text;
BEGIN
    LOOP
        got := wt_cache.cache_get(k);
        EXIT WHEN got IS NOT DISTINCT FROM want OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN got;
END $$;
CREATE FUNCTION wait_for_dead(k text, timeout_s float8 DEFAULT 20)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout_s * interval '1 s';
    dead boolean;
BEGIN
    LOOP
        dead := EXISTS (SELECT FROM wt_cache.retry_queue WHERE key = k AND state = 'dead');
        EXIT WHEN dead OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN dead;
END $$;
CREATE FUNCTION wait_for_stat(counter text, at_least bigint, timeout_s float8 DEFAULT 20)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout_s * interval '1 s';
    n bigint;
BEGIN
    LOOP
        EXECUTE format('SELECT %I FROM wt_cache.stats', counter) INTO n;
        EXIT WHEN n >= at_least OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN n >= at_least;
END $$;
CREATE FUNCTION wait_for_queue(timeout_s float8 DEFAULT 30)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout_s * interval '1 s';
    n bigint;
BEGIN
    LOOP
        SELECT count(*) INTO n FROM wt_cache.retry_queue WHERE state = 'pending';
        EXIT WHEN n = 0 OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN n;
END $$;
