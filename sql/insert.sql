-- INSERT sets <prefix>:<pk> to the row as JSON, byte for byte row_to_json.
CREATE TABLE ins (id int PRIMARY KEY, name text, price numeric, at timestamp);
SELECT wt_cache.attach('ins');
INSERT INTO ins VALUES (1, 'one', 1.50, '2025-10-01 11:19');
SELECT wt_cache.cache_get('ins:1');
SELECT wt_cache.cache_get('ins:1') = (SELECT row_to_json(i)::text FROM ins i WHERE id = 1)
    AS same_as_row_to_json;
-- several rows in one statement, and NULLs
INSERT INTO ins SELECT g, 'row ' || g, NULL, NULL FROM generate_series(2, 4) g;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('ins:2'), ('ins:3'), ('ins:4')) v(k);
-- every row in the table equals its key
SELECT count(*) AS rows, count(*) FILTER (WHERE wt_cache.cache_get('ins:' || id) = row_to_json(i)::text) AS cached
  FROM ins i;
-- a failed statement leaves no trace
INSERT INTO ins VALUES (5, 'five'), (1, 'duplicate');
SELECT wt_cache.cache_get('ins:5') IS NULL AS not_cached;
-- new keys cost Valkey one EXISTS per call, probing them and their version
-- keys together, and no TYPE each (INFO commandstats): 100 rows in one
-- transaction.  `:ncalls <command>` is how many times Valkey has run it.
\set ncalls '$WTC_CLI INFO commandstats | awk -F''[=,]'' ''BEGIN { c = ARGV[1]; ARGV[1] = "" } $1 == "cmdstat_" c ":calls" { n = $2 } END { print n + 0 }'''
\set type0 `:ncalls type`
\set exists0 `:ncalls exists`
INSERT INTO ins SELECT g, 'new ' || g FROM generate_series(100, 199) g;
\set type1 `:ncalls type`
\set exists1 `:ncalls exists`
SELECT :type1 - :type0 AS type_calls, :exists1 - :exists0 AS exists_calls;
SELECT count(*) FILTER (WHERE wt_cache.cache_get('ins:' || id) = row_to_json(i)::text) AS cached
  FROM ins i WHERE id >= 100;
-- a key that is there with no version (someone else's string) makes the
-- call check each new key's type (key and version key), and is taken over;
-- one holding a list is refused, and the other key of the call lands
\! $WTC_CLI SET ins:200 'not ours' > /dev/null
\set type0 `:ncalls type`
INSERT INTO ins VALUES (200, 'takes over'), (201, 'new too');
\set type1 `:ncalls type`
SELECT :type1 - :type0 AS type_calls;
SELECT wt_cache.cache_get('ins:200'), wt_cache.cache_get('ins:201');
\! $WTC_CLI RPUSH ins:202 'a list' > /dev/null
INSERT INTO ins VALUES (202, 'refused'), (203, 'lands');
SELECT wt_cache.cache_get('ins:203');
\! $WTC_CLI TYPE ins:202
SELECT wait_for_dead('ins:202') AS parked_dead;
\! $WTC_CLI DEL ins:202 > /dev/null
DELETE FROM wt_cache.retry_queue WHERE key = 'ins:202';
