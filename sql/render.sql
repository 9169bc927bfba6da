-- The JSON is row_to_json's, byte for byte, under TimeZone = UTC,
-- DateStyle = ISO, IntervalStyle = postgres, bytea_output = hex and
-- extra_float_digits = 1, whatever the writing session has set.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE rt (
    id int PRIMARY KEY,
    ts timestamp, tstz timestamptz, d date, t time, tz timetz, iv interval,
    f4 float4, f8 float8, n numeric, i2 int2, i8 int8,
    b bytea, bo bool, tx text, j json, jb jsonb,
    arr int[], tarr text[], nested int[][], tsarr timestamptz[],
    comp pair, m mood, p posint, u uuid, ip inet, r int4range, pt point,
    bc char(12), vc varchar(300),
    dropped text,
    gen int GENERATED ALWAYS AS (id * 2) STORED
);
ALTER TABLE rt DROP COLUMN dropped;
SELECT wt_cache.attach('rt');
-- hostile session settings
SET TimeZone = 'America/St_Johns';
SET DateStyle = 'Postgres, DMY';
SET IntervalStyle = 'sql_standard';
SET bytea_output = 'escape';
SET extra_float_digits = -15;
INSERT INTO rt VALUES (1,
    '2025-10-01 11:19:00.123456', '2025-10-01 11:19:00+05:30', '2025-10-01', '11:19', '11:19+02',
    '1 year 2 months 3 days 04:05:06.5',
    1.1, 0.1, 3.14159265358979323846, -32768, 9223372036854775807,
    '\x00ff41', true, E'quote " backslash \\ tab \t newline \n bell \x07 é 😀', '{"a": [1, 2]}',
    '{"b": {"c": null}}',
    '{1,NULL,3}', '{"x y","q\"uote"}', '{{1,2},{3,4}}', '{"2025-01-01 00:00+00"}',
    ROW(1, 'one'), 'happy', 42, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24',
    '[1,10)', '(1.5,2.5)');
INSERT INTO rt (id, f4, f8, n, ts, tstz, d) VALUES
    (2, 'NaN', 'Infinity', 'NaN', 'infinity', '-infinity', 'infinity'),
    (3, '-Infinity', '-0', 'Infinity', '-infinity', 'infinity', '-infinity'),
    (4, NULL, 1e300, '-Infinity', NULL, NULL, NULL);
-- text, varchar and char are rendered from their bytes: every ASCII
-- character, multibyte ones, char's padding, a long value stored compressed
INSERT INTO rt (id, tx, bc, vc) SELECT 5, string_agg(chr(c), '' ORDER BY c) || ' é 😀',
    E'a\tb"', string_agg(chr(c), '' ORDER BY c DESC)
  FROM generate_series(1, 127) c;
INSERT INTO rt (id, tx, bc, vc) VALUES (6, repeat(E'x\n"', 100000), '', ''),
    (7, '', NULL, '\');
-- the session keeps what it set
SHOW TimeZone;
SHOW extra_float_digits;
SELECT wt_cache.cache_get('rt:1');
SELECT wt_cache.cache_get('rt:2');
SELECT wt_cache.cache_get('rt:3');
SELECT wt_cache.cache_get('rt:4');
SELECT wt_cache.cache_get('rt:5');
SELECT length(wt_cache.cache_get('rt:6'));
SELECT wt_cache.cache_get('rt:7');
SELECT pg_column_compression(tx) AS rt6_stored FROM rt WHERE id = 6;
-- compare with row_to_json under the fixed settings
BEGIN;
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';
SET LOCAL IntervalStyle = 'postgres';
SET LOCAL bytea_output = 'hex';
SET LOCAL extra_float_digits = 1;
SELECT id, wt_cache.cache_get('rt:' || id) = row_to_json(rt)::text AS same_bytes
  FROM rt ORDER BY id;
COMMIT;
-- the same row written from another session setting gives the same bytes
SELECT wt_cache.cache_get('rt:1') AS before \gset
RESET ALL;
UPDATE rt SET id = id WHERE id = 1;
SELECT wt_cache.cache_get('rt:1') = :'before' AS same_bytes_other_settings;
