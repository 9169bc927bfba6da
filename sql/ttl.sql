-- ttl sets the keys' expiry; without it keys do not expire.
CREATE TABLE tt (id int PRIMARY KEY, v text);
CREATE TABLE nott (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('tt', ttl => 3600);
SELECT wt_cache.attach('nott');
INSERT INTO tt VALUES (1, 'expires');
INSERT INTO nott VALUES (1, 'stays');
SELECT wt_cache.cache_get('tt:1');
SELECT wt_cache.cache_command('TTL', 'tt:1')::int BETWEEN 3590 AND 3600 AS ttl_set;
SELECT wt_cache.cache_command('TTL', 'nott:1') AS no_ttl;
-- an update sets the expiry again
SELECT wt_cache.cache_command('EXPIRE', 'tt:1', '10');
UPDATE tt SET v = 'renewed' WHERE id = 1;
SELECT wt_cache.cache_command('TTL', 'tt:1')::int > 3000 AS ttl_renewed;
-- a short ttl really expires: poll, bounded
SELECT wt_cache.attach('tt', ttl => 1);
UPDATE tt SET v = 'short' WHERE id = 1;
SELECT wt_cache.cache_get('tt:1');
DO $$
BEGIN
  FOR i IN 1..60 LOOP
    EXIT WHEN wt_cache.cache_get('tt:1') IS NULL;
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT wt_cache.cache_get('tt:1') IS NULL AS expired;
