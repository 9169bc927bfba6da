-- Attaching an attached table again replaces its options, at once, in
-- this session and in others.
CREATE TABLE ra (id int PRIMARY KEY, a text, b text);
SELECT wt_cache.attach('ra');
INSERT INTO ra VALUES (1, 'a', 'b');
SELECT wt_cache.cache_get('ra:1');
SELECT wt_cache.attach('ra', key_prefix => 'v2:ra', columns => ARRAY['id', 'b'], ttl => 600);
SELECT key_prefix, key_attnums, column_attnums, ttl, mode FROM wt_cache.tables WHERE rel = 'ra'::regclass;
UPDATE ra SET a = 'a2';
SELECT wt_cache.cache_get('v2:ra:1'), wt_cache.cache_command('TTL', 'v2:ra:1')::int > 0 AS has_ttl;
-- the old key is left as it was (attach does not touch existing keys)
SELECT wt_cache.cache_get('ra:1');
-- options changed inside a transaction apply to its later changes
BEGIN;
SELECT wt_cache.attach('ra', key_prefix => 'v3:ra');
UPDATE ra SET a = 'a3';
COMMIT;
SELECT wt_cache.cache_get('v3:ra:1');
-- a re-attach that is rolled back changes nothing
BEGIN;
SELECT wt_cache.attach('ra', key_prefix => 'v4:ra');
ROLLBACK;
UPDATE ra SET a = 'a4';
SELECT wt_cache.cache_get('v3:ra:1'), wt_cache.cache_get('v4:ra:1');
-- another session sees the new options (relcache invalidation)
\! psql -X -q -d contrib_regression -c "SELECT wt_cache.attach('ra', key_prefix => 'v5:ra')" > /dev/null
UPDATE ra SET a = 'a5';
SELECT wt_cache.cache_get('v5:ra:1');
SELECT count(*) FROM wt_cache.tables WHERE rel = 'ra'::regclass;
