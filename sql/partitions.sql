-- A partitioned table is attached as one table: every partition, present
-- and future, is served under its key prefix, with its columns in its
-- order; a row that moves between partitions leaves one key.
CREATE TABLE pt (region text NOT NULL, id int NOT NULL, v text, dropme int,
                 PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE pt_eu PARTITION OF pt FOR VALUES IN ('eu');
-- a partition with another physical column order and a dropped column
CREATE TABLE pt_us (x int, v text, id int NOT NULL, region text NOT NULL, dropme int);
ALTER TABLE pt_us DROP COLUMN x;
ALTER TABLE pt ATTACH PARTITION pt_us FOR VALUES IN ('us');
ALTER TABLE pt DROP COLUMN dropme;
INSERT INTO pt VALUES ('eu', 1, 'eu one'), ('us', 1, 'us one');
SELECT wt_cache.attach('pt');
SELECT wait_for_queue();
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('pt:eu:1'), ('pt:us:1')) v(k);
-- the triggers: the row trigger cloned to each partition, enabled ALWAYS;
-- a TRUNCATE trigger on each
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
 WHERE tgfoid = 'wt_cache.capture()'::regprocedure AND tgrelid::regclass::text LIKE 'pt%' ORDER BY tgrelid::regclass::text, tgname;
-- writes through the parent and straight into a partition
INSERT INTO pt VALUES ('us', 2, 'via parent');
INSERT INTO pt_us (region, id, v) VALUES ('us', 3, 'via partition');
UPDATE pt_us SET v = 'updated in partition' WHERE id = 1;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('pt:us:1'), ('pt:us:2'), ('pt:us:3')) v(k);
-- the JSON is row_to_json of the parent's row, byte for byte
SELECT region, id, wt_cache.cache_get('pt:' || region || ':' || id) = row_to_json(pt)::text AS same
  FROM pt ORDER BY 1, 2;
-- moving a row to another partition: the old key goes, the new one comes
UPDATE pt SET region = 'eu' WHERE region = 'us' AND id = 2;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('pt:us:2'), ('pt:eu:2')) v(k);
DELETE FROM pt WHERE id = 3;
SELECT wt_cache.cache_get('pt:us:3') IS NULL AS deleted;
-- a partition created later is served too, TRUNCATE trigger included
CREATE TABLE pt_ap PARTITION OF pt FOR VALUES IN ('ap');
INSERT INTO pt VALUES ('ap', 1, 'new partition');
SELECT wt_cache.cache_get('pt:ap:1');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'pt_ap'::regclass ORDER BY 1;
-- TRUNCATE of one partition removes its keys (the worker resyncs the
-- table); the others stay
TRUNCATE pt_eu;
SELECT wait_for_queue();
SELECT k AS pt_keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'pt:*')::json) k ORDER BY 1;
-- resync and verify look at every partition
SELECT wt_cache.cache_command('DEL', 'pt:ap:1');
SELECT wt_cache.cache_command('SET', 'pt:us:9', 'ghost');
SELECT * FROM wt_cache.verify('pt');
SELECT wt_cache.resync('pt');
SELECT * FROM wt_cache.verify_summary('pt');
-- the retry path looks rows up through the parent
SELECT wt_cache.cache_command('SET', 'pt:us:1', '"old"');
SET wt_cache.max_changes = 1;
UPDATE pt SET v = 'queued' WHERE region = 'us';
RESET wt_cache.max_changes;
SELECT wait_for_queue();
SELECT wt_cache.cache_get('pt:us:1');
-- a partition detached takes its rows away; one attached brings them
ALTER TABLE pt DETACH PARTITION pt_ap;
SELECT wait_for_queue();
SELECT wt_cache.cache_get('pt:ap:1') IS NULL AS detached_rows_gone;
SELECT count(*) AS triggers_on_detached FROM pg_trigger WHERE tgrelid = 'pt_ap'::regclass;
INSERT INTO pt_ap VALUES ('ap', 2, 'not served');
ALTER TABLE pt ATTACH PARTITION pt_ap FOR VALUES IN ('ap');
SELECT wait_for_queue();
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('pt:ap:1'), ('pt:ap:2')) v(k);
-- a partition of an attached table cannot be attached itself, and a
-- partitioned table whose partition is attached cannot be attached
SELECT wt_cache.attach('pt_eu');
CREATE TABLE qt (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE qt_1 PARTITION OF qt FOR VALUES FROM (0) TO (10);
SELECT wt_cache.attach('qt_1', load => false);
SELECT wt_cache.attach('qt');
-- nor can an attached table become a partition of an attached one
-- (PostgreSQL refuses to clone the row trigger over its own)
CREATE TABLE pt_sa (region text NOT NULL, id int NOT NULL, v text, PRIMARY KEY (region, id));
SELECT wt_cache.attach('pt_sa', load => false);
ALTER TABLE pt ATTACH PARTITION pt_sa FOR VALUES IN ('sa');
SELECT wt_cache.detach('qt_1');
SELECT wt_cache.detach('pt_sa');
-- detach removes every trigger it made
SELECT wt_cache.detach('pt');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgfoid = 'wt_cache.capture()'::regprocedure
   AND tgrelid::regclass::text ~ '^(pt|qt)';
INSERT INTO pt VALUES ('eu', 5, 'not cached');
SELECT wt_cache.cache_get('pt:eu:5') IS NULL AS not_cached;

-- Inheritance (not partitioning): a parent serves its own rows only
-- (what SELECT ... FROM ONLY parent returns); attach each child too
CREATE TABLE ih (id int PRIMARY KEY, v text);
CREATE TABLE ih_child (extra int) INHERITS (ih);
SELECT wt_cache.attach('ih', load => false);
INSERT INTO ih VALUES (1, 'parent row');
INSERT INTO ih_child VALUES (2, 'child row', 0);
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('ih:1'), ('ih:2')) v(k);
SELECT wt_cache.resync('ih');

DROP TABLE pt, qt, pt_sa, pt_ap, ih CASCADE;
SELECT count(*) AS left_over FROM wt_cache.tables WHERE key_prefix IN ('pt', 'qt', 'pt_sa', 'ih');
