-- UPDATE sets the new row; an UPDATE of the key deletes the old key.
CREATE TABLE upd (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('upd');
INSERT INTO upd VALUES (1, 'a'), (2, 'b');
UPDATE upd SET v = 'a2' WHERE id = 1;
SELECT wt_cache.cache_get('upd:1'), wt_cache.cache_get('upd:2');
-- the key changes: old key gone, new key set
UPDATE upd SET id = 10 WHERE id = 1;
SELECT wt_cache.cache_get('upd:1') IS NULL AS old_key_gone, wt_cache.cache_get('upd:10');
-- an update that changes nothing still writes the (same) row
SELECT wt_cache.cache_command('SET', 'upd:2', 'stale');
UPDATE upd SET v = v WHERE id = 2;
SELECT wt_cache.cache_get('upd:2');
-- keys move in a chain inside one statement: 10 -> 11, 2 -> 3
UPDATE upd SET id = id + 1;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('upd:2'), ('upd:3'), ('upd:10'), ('upd:11')) v(k);
