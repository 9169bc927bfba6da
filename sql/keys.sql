-- Keys: <prefix>:<pk1>:<pk2> in key column order, parts percent-encoded.
CREATE TABLE k2 (region text, id int, note text, PRIMARY KEY (id, region));
SELECT wt_cache.attach('k2', key_prefix => 'app:k2');
INSERT INTO k2 VALUES ('eu', 7, 'x');
-- key order is the primary key's (id, region), not the table's
SELECT wt_cache.cache_get('app:k2:7:eu');
-- characters that would make a key ambiguous are encoded
INSERT INTO k2 VALUES ('a:b', 1, 'colon'), ('50%', 2, 'percent'),
    ('{tag}', 3, 'braces'), (E'two\nlines', 4, 'newline'), ('sp ace', 5, 'space'),
    ('ünï', 6, 'utf8');
SELECT k AS raw_key FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'app:k2:*')::json) k
 ORDER BY k COLLATE "C";
SELECT id, wt_cache.cache_get(k)::json->>'note' AS note
  FROM (VALUES (1, 'app:k2:1:a%3Ab'), (2, 'app:k2:2:50%25'), (3, 'app:k2:3:%7Btag%7D'),
               (4, 'app:k2:4:two%0Alines'), (5, 'app:k2:5:sp ace'), (6, 'app:k2:6:ünï')) v(id, k)
 ORDER BY id;
-- a part that looks like an encoded byte is encoded itself, so no clash
INSERT INTO k2 VALUES ('a%3Ab', 1, 'literal percent');
SELECT wt_cache.cache_get('app:k2:1:a%253Ab')::json->>'note' AS literal,
       wt_cache.cache_get('app:k2:1:a%3Ab')::json->>'note' AS colon;
-- key parts print under fixed settings, whatever the session's
CREATE TABLE kt (at timestamptz PRIMARY KEY, d date UNIQUE NOT NULL, f float8);
SELECT wt_cache.attach('kt');
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
INSERT INTO kt VALUES ('2025-10-01 12:00:00+00', '2025-10-01', 1.5);
RESET TimeZone;
RESET DateStyle;
SELECT wt_cache.cache_command('KEYS', 'kt:*') AS timestamptz_key;
SELECT wt_cache.cache_get('kt:2025-10-01 12%3A00%3A00+00')::json->>'d' AS d;
