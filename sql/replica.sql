-- Changes applied with session_replication_role = replica (as logical
-- replication subscribers apply them) reach the cache: the triggers are
-- enabled ALWAYS.
CREATE TABLE rep (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('rep');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'rep'::regclass ORDER BY tgname;
SET session_replication_role = replica;
INSERT INTO rep VALUES (1, 'replicated');
UPDATE rep SET v = 'replicated update' WHERE id = 1;
INSERT INTO rep VALUES (2, 'to delete');
DELETE FROM rep WHERE id = 2;
RESET session_replication_role;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('rep:1'), ('rep:2')) v(k);
-- a TRUNCATE applied as a replica (logical replication replays TRUNCATE
-- too) removes the table's keys: the TRUNCATE trigger is enabled ALWAYS
INSERT INTO rep VALUES (3, 'before truncate');
SET session_replication_role = replica;
TRUNCATE rep;
INSERT INTO rep VALUES (4, 'after truncate');
RESET session_replication_role;
SELECT wait_for_queue();
SELECT k AS rep_keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'rep:*')::json) k;
