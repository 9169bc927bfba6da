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
    key_columns text[] DEFAULT NULL)
RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_attach';
COMMENT ON FUNCTION wt_cache.attach(regclass, text, text[], text[], integer, text, text[]) IS
    'Cache the rows of a table you own in Valkey; attaching again replaces the options';

CREATE FUNCTION wt_cache.detach(rel regclass) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'wtc_detach';
COMMENT ON FUNCTION wt_cache.detach(regclass) IS
    'Stop caching a table (keys already in Valkey stay)';

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
