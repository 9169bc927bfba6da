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
