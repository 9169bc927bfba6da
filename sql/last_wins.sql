-- Several changes of one key in one transaction: the last one wins.
CREATE TABLE lw (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('lw');
BEGIN;
INSERT INTO lw VALUES (1, 'first');
UPDATE lw SET v = 'second' WHERE id = 1;
UPDATE lw SET v = 'third' WHERE id = 1;
COMMIT;
SELECT wt_cache.cache_get('lw:1');
-- insert then delete: nothing
BEGIN;
INSERT INTO lw VALUES (2, 'short-lived');
DELETE FROM lw WHERE id = 2;
COMMIT;
SELECT wt_cache.cache_get('lw:2') IS NULL AS absent;
-- delete then insert again: present
BEGIN;
DELETE FROM lw WHERE id = 1;
INSERT INTO lw VALUES (1, 'reborn');
COMMIT;
SELECT wt_cache.cache_get('lw:1');
-- a key moved twice: 1 -> 5 -> 6; both old keys gone
BEGIN;
UPDATE lw SET id = 5 WHERE id = 1;
UPDATE lw SET id = 6 WHERE id = 5;
COMMIT;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('lw:1'), ('lw:5'), ('lw:6')) v(k);
-- keys swapped through a spare key, in three statements
INSERT INTO lw VALUES (7, 'seven');
BEGIN;
UPDATE lw SET id = 100 WHERE id = 6;
UPDATE lw SET id = 6 WHERE id = 7;
UPDATE lw SET id = 7 WHERE id = 100;
COMMIT;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('lw:6'), ('lw:7'), ('lw:100')) v(k);
SELECT count(*) FILTER (WHERE wt_cache.cache_get('lw:' || id) = row_to_json(lw)::text) AS matching,
       count(*) AS rows FROM lw;
