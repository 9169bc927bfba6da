-- Who may do what.
CREATE ROLE wtc_owner;
CREATE ROLE wtc_other;
CREATE ROLE wtc_app;
GRANT USAGE, CREATE ON SCHEMA public TO wtc_owner, wtc_other;
SET ROLE wtc_owner;
CREATE TABLE owned (id int PRIMARY KEY, v text, secret text);
GRANT SELECT, INSERT, UPDATE, DELETE ON owned TO wtc_app;
RESET ROLE;
-- another role may not attach or detach the table
SET ROLE wtc_other;
SELECT wt_cache.attach('owned');
RESET ROLE;
-- its owner may
SET ROLE wtc_owner;
SELECT wt_cache.attach('owned', exclude => ARRAY['secret']);
-- the owner sees its table in wt_cache.attached, but cannot read the
-- config table itself, nor write it
SELECT "table", key_prefix, columns FROM wt_cache.attached;
SELECT * FROM wt_cache.tables;
DELETE FROM wt_cache.tables;
RESET ROLE;
SET ROLE wtc_other;
SELECT wt_cache.detach('owned');
SELECT count(*) AS visible FROM wt_cache.attached;
-- nor can a role without rights point the trigger function at a table
CREATE TABLE others_table (id int PRIMARY KEY);
CREATE TRIGGER sneaky AFTER INSERT ON others_table FOR EACH ROW EXECUTE FUNCTION wt_cache.capture();
RESET ROLE;
-- an application role with only DML rights gets its changes cached: the
-- trigger reads the options with the extension's rights, not the role's
SET ROLE wtc_app;
INSERT INTO owned VALUES (1, 'by app', 'hidden');
UPDATE owned SET v = 'updated by app' WHERE id = 1;
RESET ROLE;
SELECT wt_cache.cache_get('owned:1');
SET ROLE wtc_app;
DELETE FROM owned WHERE id = 1;
RESET ROLE;
SELECT wt_cache.cache_get('owned:1') IS NULL AS deleted;
-- the owner detaches
SET ROLE wtc_owner;
SELECT wt_cache.detach('owned');
RESET ROLE;
-- a hostile search_path changes nothing: attach and the trigger qualify
-- every name
CREATE SCHEMA evil;
CREATE FUNCTION evil.row_to_json(record) RETURNS json LANGUAGE plpgsql AS $$ BEGIN RETURN '{"evil":1}'; END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
-- an "=" that matches everything would make attach's DELETE of the
-- table's old options delete every table's
CREATE FUNCTION evil.eq(regclass, regclass) RETURNS bool LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR evil.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = evil.eq);
CREATE TABLE bystander (id int PRIMARY KEY);
SELECT wt_cache.attach('bystander');
SET search_path = evil, public, pg_catalog;
SELECT wt_cache.attach('bystander', key_prefix => 'by');
RESET search_path;
SET search_path = evil, public, pg_catalog;
CREATE TABLE public.sp_tab (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('public.sp_tab');
INSERT INTO public.sp_tab VALUES (1, 'safe');
SELECT wt_cache.cache_get('sp_tab:1');
SELECT wt_cache.detach('public.sp_tab');
RESET search_path;
SELECT wt_cache.attach('sp_tab');
SELECT attached_at > '2000-01-01' AS real_now FROM wt_cache.tables WHERE rel = 'sp_tab'::regclass;
SELECT wt_cache.detach('sp_tab');
SELECT rel FROM wt_cache.tables WHERE rel = 'bystander'::regclass;
SELECT wt_cache.detach('bystander');
DROP TABLE sp_tab, bystander;
DROP SCHEMA evil CASCADE;
DROP TABLE owned, others_table;
REVOKE ALL ON SCHEMA public FROM wtc_owner, wtc_other;
DROP ROLE wtc_owner;
DROP ROLE wtc_other;
DROP ROLE wtc_app;

-- wt_cache.capture() acts only as wt_cache.tables says.  Nobody but a
-- superuser may create a trigger calling it (EXECUTE is revoked), not even
-- the owner of an attached table; and a trigger that is not attach's own
-- refuses or does nothing.
CREATE ROLE wtc_owner2;
GRANT USAGE, CREATE ON SCHEMA public TO wtc_owner2;
SET ROLE wtc_owner2;
CREATE TABLE mine (id int PRIMARY KEY, v text);
CREATE TABLE mine_too (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('mine', load => false);
CREATE TRIGGER mine_too_capture AFTER INSERT ON mine_too
    FOR EACH ROW EXECUTE FUNCTION wt_cache.capture();
CREATE TRIGGER second_capture AFTER INSERT ON mine
    FOR EACH ROW EXECUTE FUNCTION wt_cache.capture();
-- the owner may rename or drop attach's triggers (its own table), which
-- only stops its own caching; a renamed trigger is still attach's: attach
-- and detach find it by its function, not its name
ALTER TRIGGER wt_cache_capture ON mine RENAME TO renamed_capture;
INSERT INTO mine VALUES (1, 'via renamed trigger');
RESET ROLE;
SELECT wt_cache.cache_get('mine:1');
SET ROLE wtc_owner2;
SELECT wt_cache.attach('mine', load => false);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'mine'::regclass ORDER BY 1;
SELECT wt_cache.detach('mine');
SELECT count(*) AS capture_triggers_left FROM pg_trigger
 WHERE tgrelid = 'mine'::regclass AND tgfoid = 'wt_cache.capture()'::regprocedure;
SELECT wt_cache.attach('mine', load => false);
RESET ROLE;
-- a superuser's stray triggers: on a table that is not attached, the
-- function does nothing
CREATE TRIGGER stray AFTER INSERT OR UPDATE OR DELETE ON mine_too
    FOR EACH ROW EXECUTE FUNCTION wt_cache.capture();
CREATE TRIGGER stray_stmt AFTER INSERT ON mine_too
    FOR EACH STATEMENT EXECUTE FUNCTION wt_cache.capture();
INSERT INTO mine_too VALUES (1, 'not attached');
SELECT wt_cache.cache_command('KEYS', 'mine_too*') AS mine_too_keys;
-- on an attached table, a BEFORE trigger or a statement trigger refuses
CREATE TRIGGER stray_before BEFORE INSERT ON mine
    FOR EACH ROW EXECUTE FUNCTION wt_cache.capture();
INSERT INTO mine VALUES (2, 'before');
DROP TRIGGER stray_before ON mine;
CREATE TRIGGER stray_stmt AFTER INSERT ON mine
    FOR EACH STATEMENT EXECUTE FUNCTION wt_cache.capture();
INSERT INTO mine VALUES (2, 'statement');
DROP TRIGGER stray_stmt ON mine;
-- a second AFTER ROW trigger on an attached table writes the same key and
-- value as attach's (the last change per key wins): nothing else
CREATE TRIGGER stray_row AFTER UPDATE OF v ON mine
    FOR EACH ROW EXECUTE FUNCTION wt_cache.capture();
INSERT INTO mine VALUES (2, 'row');
UPDATE mine SET v = 'row, updated' WHERE id = 2;
SELECT wt_cache.cache_get('mine:2');
SELECT k AS mine_keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'mine*')::json) k ORDER BY 1;
-- attach again keeps only its own two triggers
SELECT wt_cache.attach('mine', load => false);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'mine'::regclass ORDER BY 1;

-- The config table, the retry queue, the counters: no access for a
-- plain role, nor for a table owner
SET ROLE wtc_owner2;
SELECT * FROM wt_cache.tables;
SELECT * FROM wt_cache.retry_queue;
INSERT INTO wt_cache.retry_queue (rel, key) VALUES ('mine'::regclass, 'mine:9');
UPDATE wt_cache.retry_queue SET state = 'dead';
DELETE FROM wt_cache.retry_queue;
SELECT nextval('wt_cache.retry_queue_id_seq');
SELECT * FROM wt_cache.stats;
SELECT * FROM wt_cache.resync_progress;
SELECT wt_cache.replay_dead();
SELECT wt_cache.purge_dead();
SELECT wt_cache._stats();
RESET ROLE;
SELECT c.relname, c.relacl FROM pg_class c
 WHERE c.relnamespace = 'wt_cache'::regnamespace ORDER BY 1;
SELECT p.proname, p.proacl, p.prosecdef, p.proconfig FROM pg_proc p
 WHERE p.pronamespace = 'wt_cache'::regnamespace ORDER BY 1;

-- An application role with only INSERT, UPDATE and DELETE (no SELECT)
-- gets its changes cached, and queued when they go to the retry queue
CREATE ROLE wtc_writer;
GRANT INSERT, UPDATE, DELETE ON mine TO wtc_writer;
SET ROLE wtc_writer;
INSERT INTO mine VALUES (3, 'by writer');
UPDATE mine SET v = 'all updated by writer';
RESET ROLE;
SELECT wt_cache.cache_get('mine:3');
-- past wt_cache.max_changes the keys go to the queue, inserted with the
-- extension's rights inside the writer's transaction
SET wt_cache.max_changes = 1;
SET ROLE wtc_writer;
INSERT INTO mine VALUES (4, 'queued'), (5, 'queued');
RESET ROLE;
RESET wt_cache.max_changes;
SELECT wait_for_queue();
SELECT wt_cache.cache_get('mine:4'), wt_cache.cache_get('mine:5');
SET ROLE wtc_writer;
DELETE FROM mine;
RESET ROLE;
SELECT wt_cache.cache_command('KEYS', 'mine*') AS mine_keys_after_delete;

-- A hostile search_path (a role's own row_to_json, =, lower, unnest, now
-- and text cast functions, found before pg_catalog) changes nothing:
-- attach, commit, a queued commit, resync and verify qualify every name
CREATE SCHEMA hostile AUTHORIZATION wtc_owner2;
SET ROLE wtc_owner2;
CREATE FUNCTION hostile.row_to_json(record) RETURNS json LANGUAGE plpgsql AS $$ BEGIN RETURN '{"evil":1}'; END $$;
CREATE FUNCTION hostile.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION hostile.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS $$ SELECT NULL::anyelement WHERE false $$;
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::pg_catalog.timestamptz $$;
CREATE FUNCTION hostile.eq(int, int) RETURNS bool LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR hostile.= (LEFTARG = int, RIGHTARG = int, FUNCTION = hostile.eq);
CREATE FUNCTION hostile.eqo(oid, oid) RETURNS bool LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR hostile.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = hostile.eqo);
CREATE FUNCTION hostile.eqt(text, text) RETURNS bool LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.eqt);
SET search_path = hostile, public, pg_catalog;
SELECT 1 = 2 AS hostile_eq_in_effect, lower('X') AS hostile_lower;
CREATE TABLE public.hp (id int PRIMARY KEY, v text);
INSERT INTO public.hp VALUES (1, 'one'), (2, 'two');
SELECT wt_cache.attach('public.hp');
RESET ROLE;
SET search_path = hostile, public, pg_catalog;
SELECT wait_for_queue();
SET ROLE wtc_owner2;
SET search_path = hostile, public, pg_catalog;
UPDATE public.hp SET v = 'one, updated' WHERE id OPERATOR(pg_catalog.=) 1;
INSERT INTO public.hp VALUES (3, 'three');
RESET ROLE;
SET search_path = hostile, public, pg_catalog;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('hp:1'), ('hp:2'), ('hp:3')) v(k);
SET wt_cache.max_changes = 1;
INSERT INTO public.hp VALUES (4, 'four'), (5, 'five');
RESET wt_cache.max_changes;
SELECT wait_for_queue();
SELECT wt_cache.cache_get('hp:4'), wt_cache.cache_get('hp:5');
SELECT wt_cache.cache_command('SET', 'hp:2', 'stale');
SET ROLE wtc_owner2;
SET search_path = hostile, public, pg_catalog;
SELECT * FROM wt_cache.verify('public.hp');
SELECT * FROM wt_cache.verify_summary('public.hp');
SELECT wt_cache.resync('public.hp');
SELECT * FROM wt_cache.verify('public.hp');
SELECT wt_cache.detach('public.hp');
RESET ROLE;
RESET search_path;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('hp:1'), ('hp:2'), ('hp:5')) v(k);
SELECT count(*) AS hp_rows FROM wt_cache.tables WHERE rel = 'hp'::regclass;

DROP TABLE hp, mine, mine_too;
DROP SCHEMA hostile CASCADE;
REVOKE ALL ON SCHEMA public FROM wtc_owner2;
DROP ROLE wtc_owner2;
DROP ROLE wtc_writer;
