/* wt_cache--0.1.sql */

\echo Use "CREATE EXTENSION wt_cache" to load this file. \quit

-- Table owners call attach and detach; what is private is revoked below.
GRANT USAGE ON SCHEMA wt_cache TO PUBLIC;

-- Options of attached tables.  Column numbers, not names, so that renaming
-- a column does not break a table's key; wt_cache.attached shows names.
CREATE TABLE wt_cache.tables (
    rel regclass PRIMARY KEY,
    key_prefix text NOT NULL UNIQUE,
    key_attnums int2[] NOT NULL,
    column_attnums int2[],
    exclude_attnums int2[],
    ttl integer CHECK (ttl > 0),
    mode text NOT NULL DEFAULT 'write' CHECK (mode IN ('write', 'invalidate')),
    attached_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON wt_cache.tables FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('wt_cache.tables', '');
COMMENT ON TABLE wt_cache.tables IS
    'Tables attached to wt_cache and their options (change them with wt_cache.attach and wt_cache.detach)';

-- The attached tables, with column names; each role sees the tables it owns.
CREATE VIEW wt_cache.attached WITH (security_barrier) AS
SELECT t.rel AS "table",
       t.key_prefix,
       ARRAY(SELECT a.attname FROM pg_catalog.unnest(t.key_attnums) WITH ORDINALITY AS k(n, o)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = t.rel AND a.attnum = k.n
             ORDER BY k.o) AS key_columns,
       CASE WHEN t.column_attnums IS NULL AND t.exclude_attnums IS NULL THEN NULL
            ELSE ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
                         AND (t.column_attnums IS NULL OR a.attnum = ANY (t.column_attnums))
                         AND (t.exclude_attnums IS NULL OR a.attnum <> ALL (t.exclude_attnums))
                       ORDER BY a.attnum)
       END AS columns,
       t.ttl,
       t.mode,
       t.attached_at
  FROM wt_cache.tables t
  JOIN pg_catalog.pg_class c ON c.oid = t.rel
 WHERE pg_catalog.pg_has_role(c.relowner, 'USAGE');
GRANT SELECT ON wt_cache.attached TO PUBLIC;
COMMENT ON VIEW wt_cache.attached IS
    'Attached tables you own, with key and cached columns by name (NULL columns: all)';

CREATE FUNCTION wt_cache.capture() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'wtc_capture';
REVOKE ALL ON FUNCTION wt_cache.capture() FROM PUBLIC;
COMMENT ON FUNCTION wt_cache.capture() IS
    'Trigger function that wt_cache.attach puts on a table; acts only as wt_cache.tables says';

CREATE FUNCTION wt_cache.attach(
    rel regclass,
    key_prefix text DEFAULT NULL,
    columns text[] DEFAULT NULL,
    exclude text[] DEFAULT NULL,
    ttl integer DEFAULT NULL,
    mode text DEFAULT 'write',
    key_columns text[] DEFAULT NULL,
    load boolean DEFAULT true)
RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_attach';
COMMENT ON FUNCTION wt_cache.attach(regclass, text, text[], text[], integer, text, text[], boolean) IS
    'Cache the rows of a table you own in Valkey; attaching again replaces the options; load: the worker writes the existing rows';

CREATE FUNCTION wt_cache.detach(rel regclass) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_detach';
COMMENT ON FUNCTION wt_cache.detach(regclass) IS
    'Stop caching a table (keys already in Valkey stay)';

CREATE FUNCTION wt_cache.resync(rel regclass) RETURNS bigint
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_resync';
COMMENT ON FUNCTION wt_cache.resync(regclass) IS
    'Write every row of an attached table you own to Valkey and remove the keys of rows that are gone; returns the rows written';

CREATE FUNCTION wt_cache.verify(rel regclass)
RETURNS TABLE (key text, problem text)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_verify';
COMMENT ON FUNCTION wt_cache.verify(regclass) IS
    'Compare every row of an attached table you own with Valkey; one row per key still wrong at the end: missing, stale or unexpected';

CREATE FUNCTION wt_cache.verify_summary(rel regclass)
RETURNS TABLE (rows bigint, keys bigint, missing bigint, stale bigint, unexpected bigint)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_verify_summary';
COMMENT ON FUNCTION wt_cache.verify_summary(regclass) IS
    'What wt_cache.verify would report, as counts, for monitoring';

CREATE FUNCTION wt_cache.cache_get(key text) RETURNS text
    LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'wtc_cache_get';
REVOKE ALL ON FUNCTION wt_cache.cache_get(text) FROM PUBLIC;
COMMENT ON FUNCTION wt_cache.cache_get(text) IS
    'GET a key from Valkey (superuser only)';

CREATE FUNCTION wt_cache.cache_command(VARIADIC args text[]) RETURNS text
    LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'wtc_cache_command';
REVOKE ALL ON FUNCTION wt_cache.cache_command(text[]) FROM PUBLIC;
COMMENT ON FUNCTION wt_cache.cache_command(text[]) IS
    'Run one Valkey command and return its reply as text (superuser only)';

-- The retry queue: keys whose cache write could not happen at commit, and
-- tables to resync.  Logged, so that nothing is lost when Valkey is down or
-- the server crashes.  The worker retries each key by re-reading its row.
CREATE TABLE wt_cache.retry_queue (
    id bigserial PRIMARY KEY,
    rel oid NOT NULL,
    kind text NOT NULL DEFAULT 'key' CHECK (kind IN ('key', 'resync', 'load')),
    key text,
    key_offset int2 NOT NULL DEFAULT 0,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    enqueued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_error text,
    dead_at timestamptz,
    CHECK ((kind = 'key') = (key IS NOT NULL))
);
CREATE INDEX retry_queue_due ON wt_cache.retry_queue (next_attempt_at, id)
    WHERE state = 'pending';
REVOKE ALL ON wt_cache.retry_queue FROM PUBLIC;
REVOKE ALL ON SEQUENCE wt_cache.retry_queue_id_seq FROM PUBLIC;
COMMENT ON TABLE wt_cache.retry_queue IS
    'Keys waiting to be written to Valkey by the wt_cache worker, and dead ones (state = ''dead'')';

CREATE FUNCTION wt_cache._wake() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_wake';
COMMENT ON FUNCTION wt_cache._wake() IS
    'Wake this database''s wt_cache worker (at commit)';

CREATE FUNCTION wt_cache._stats(
    OUT xacts_pushed bigint, OUT keys_written bigint, OUT push_failures bigint,
    OUT keys_handed_off bigint, OUT keys_queued bigint, OUT keys_lost bigint,
    OUT retry_keys_written bigint, OUT retry_failures bigint, OUT keys_parked_dead bigint,
    OUT resyncs bigint, OUT circuit text, OUT circuit_changed_at timestamptz,
    OUT last_error text, OUT last_error_at timestamptz, OUT avg_round_trip_ms float8,
    OUT consecutive_failures bigint, OUT stale_rejected bigint, OUT epoch integer)
RETURNS record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_stats_function';
REVOKE ALL ON FUNCTION wt_cache._stats() FROM PUBLIC;
COMMENT ON FUNCTION wt_cache._stats() IS
    'Shared-memory counters behind wt_cache.stats';

-- Counters since server start (all databases), and this database's queue
CREATE VIEW wt_cache.stats AS
SELECT s.xacts_pushed, s.keys_written, s.push_failures, s.keys_handed_off,
       s.keys_queued, s.keys_lost, s.retry_keys_written AS retries_written,
       s.retry_failures, q.queue_depth, q.oldest_pending_age, q.dead_entries,
       q.tables_needing_resync, s.resyncs, s.stale_rejected, s.circuit, s.circuit_changed_at,
       s.consecutive_failures, s.last_error, s.last_error_at, s.avg_round_trip_ms,
       s.epoch
  FROM wt_cache._stats() s,
       LATERAL (SELECT pg_catalog.count(*) FILTER (WHERE state = 'pending' AND kind = 'key') AS queue_depth,
                       pg_catalog.now() OPERATOR(pg_catalog.-)
                         pg_catalog.min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest_pending_age,
                       pg_catalog.count(*) FILTER (WHERE state = 'dead') AS dead_entries,
                       pg_catalog.count(DISTINCT rel) FILTER (WHERE kind <> 'key' AND state = 'pending')
                         AS tables_needing_resync
                  FROM wt_cache.retry_queue) q;
REVOKE ALL ON wt_cache.stats FROM PUBLIC;
GRANT SELECT ON wt_cache.stats TO pg_monitor;
COMMENT ON VIEW wt_cache.stats IS
    'What wt_cache did since the server started, and the retry queue of this database';

CREATE FUNCTION wt_cache._resync_progress(
    OUT pid integer, OUT datid oid, OUT relid oid, OUT kind text, OUT phase text,
    OUT keys_removed bigint, OUT rows_written bigint, OUT started_at timestamptz)
RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_progress_function';
REVOKE ALL ON FUNCTION wt_cache._resync_progress() FROM PUBLIC;

-- Resyncs and loads running now in this database, by the worker or by
-- wt_cache.resync(); rows_estimate is the planner's estimate of the table
CREATE VIEW wt_cache.resync_progress AS
SELECT p.pid, p.relid::pg_catalog.regclass AS "table", p.kind, p.phase,
       p.keys_removed, p.rows_written,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS rows_estimate,
       p.started_at
  FROM wt_cache._resync_progress() p
  LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid
 WHERE p.datid OPERATOR(pg_catalog.=)
       (SELECT d.oid FROM pg_catalog.pg_database d
         WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database());
REVOKE ALL ON wt_cache.resync_progress FROM PUBLIC;
GRANT SELECT ON wt_cache.resync_progress TO pg_monitor;
COMMENT ON VIEW wt_cache.resync_progress IS
    'Resyncs and loads of attached tables running now in this database';

CREATE FUNCTION wt_cache.replay_dead(id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE wt_cache.retry_queue q
       SET state = 'pending', attempts = 0, next_attempt_at = now(),
           last_error = NULL, dead_at = NULL
     WHERE q.state = 'dead' AND (replay_dead.id IS NULL OR q.id = replay_dead.id);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 AND replay_dead.id IS NOT NULL THEN
        RAISE EXCEPTION 'no dead entry with id %', replay_dead.id
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT id, key, last_error FROM wt_cache.retry_queue WHERE state = ''dead'' lists them.';
    END IF;
    PERFORM wt_cache._wake();
    RETURN n;
END $$;
COMMENT ON FUNCTION wt_cache.replay_dead(bigint) IS
    'Retry one dead entry of the retry queue, or all of them (NULL); returns how many';

CREATE FUNCTION wt_cache.purge_dead(id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM wt_cache.retry_queue q
     WHERE q.state = 'dead' AND (purge_dead.id IS NULL OR q.id = purge_dead.id);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 AND purge_dead.id IS NOT NULL THEN
        RAISE EXCEPTION 'no dead entry with id %', purge_dead.id
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT id, key, last_error FROM wt_cache.retry_queue WHERE state = ''dead'' lists them.';
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION wt_cache.purge_dead(bigint) IS
    'Delete one dead entry of the retry queue, or all of them (NULL); returns how many';

-- Start this database's worker once the extension is committed
SELECT wt_cache._wake();

-- DDL on attached tables (see wtc_on_ddl): a dropped table's options and
-- queue entries go with it; a command that would drop or change a table's
-- key is refused; a command that changes its rows' JSON (a column added,
-- dropped, renamed or of another type) makes the worker rewrite them;
-- new partitions of an attached partitioned table get its TRUNCATE trigger.
CREATE FUNCTION wt_cache._on_ddl() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'wtc_on_ddl';
REVOKE ALL ON FUNCTION wt_cache._on_ddl() FROM PUBLIC;
COMMENT ON FUNCTION wt_cache._on_ddl() IS
    'Event trigger function: keeps wt_cache.tables in step with DDL on attached tables';
CREATE EVENT TRIGGER wt_cache_ddl ON ddl_command_end
    EXECUTE FUNCTION wt_cache._on_ddl();
CREATE EVENT TRIGGER wt_cache_drop ON sql_drop
    EXECUTE FUNCTION wt_cache._on_ddl();
