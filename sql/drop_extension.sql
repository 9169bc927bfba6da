-- DROP EXTENSION (last in the schedule: it detaches every table).
-- DROP EXTENSION: refused while tables are attached (their triggers call
-- its function); with CASCADE their triggers go, writes to the tables go
-- on, uncached, and CREATE EXTENSION again starts afresh
SELECT count(wt_cache.detach(rel)) >= 0 AS others_detached FROM wt_cache.tables;
CREATE TABLE survivor (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('survivor', load => false);
DROP EXTENSION wt_cache;
DROP EXTENSION wt_cache CASCADE;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'wt\_cache%';
SELECT count(*) AS event_triggers_left FROM pg_event_trigger WHERE evtname LIKE 'wt\_cache%';
INSERT INTO survivor VALUES (1, 'after drop extension');
UPDATE survivor SET v = 'still writable';
TRUNCATE survivor;
ALTER TABLE survivor ADD COLUMN w int;
DROP TABLE survivor;
CREATE EXTENSION wt_cache;
CREATE TABLE survivor (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('survivor', load => false);
INSERT INTO survivor VALUES (1, 'attached again');
SELECT wt_cache.cache_get('survivor:1');
DROP TABLE survivor;
SELECT count(*) AS left_over FROM wt_cache.tables;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'wt\_cache%';
