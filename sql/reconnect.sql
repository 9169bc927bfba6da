-- The backend keeps one connection and reuses it; a connection the server
-- closed while idle is noticed before the commit and reopened, so no
-- change is lost to it.
CREATE TABLE rc (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('rc');
INSERT INTO rc VALUES (1, 'first');
SELECT wt_cache.cache_get('rc:1');
-- kill every normal client connection, ours included
\! $WTC_CLI CLIENT KILL TYPE normal > /dev/null
UPDATE rc SET v = 'after kill' WHERE id = 1;
SELECT wt_cache.cache_get('rc:1');
-- one connection per backend, reused by every commit
SELECT wt_cache.cache_command('CLIENT', 'ID') AS id1 \gset
UPDATE rc SET v = 'again' WHERE id = 1;
SELECT wt_cache.cache_command('CLIENT', 'ID') = :'id1' AS same_connection;
