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
