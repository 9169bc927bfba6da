-- DDL on an attached table: it keeps working, or the command is refused
-- with a clear error; never a wrong key.
CREATE TABLE dd (id int PRIMARY KEY, a text, b int);
INSERT INTO dd VALUES (1, 'one', 10), (2, 'two', 20);
SELECT wt_cache.attach('dd');
SELECT wait_for_queue();
SELECT wt_cache.cache_get('dd:1');

-- renaming the table keeps it cached under its prefix
ALTER TABLE dd RENAME TO dd2;
UPDATE dd2 SET a = 'one, renamed table' WHERE id = 1;
SELECT wt_cache.cache_get('dd:1');
SELECT "table", key_prefix FROM wt_cache.attached WHERE key_prefix = 'dd';
ALTER TABLE dd2 RENAME TO dd;

-- renaming a column: every row's JSON names it anew (the worker rewrites
-- the rows, without removing keys)
ALTER TABLE dd RENAME COLUMN a TO label;
SELECT wait_for_queue();
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('dd:1'), ('dd:2')) v(k);

-- adding a column (with a default), dropping one: the same
ALTER TABLE dd ADD COLUMN c text DEFAULT 'new';
SELECT wait_for_queue();
SELECT wt_cache.cache_get('dd:2');
ALTER TABLE dd DROP COLUMN b;
SELECT wait_for_queue();
SELECT wt_cache.cache_get('dd:2');
INSERT INTO dd VALUES (3, 'three');
SELECT wt_cache.cache_get('dd:3');
-- a column's type changed: the same
ALTER TABLE dd ALTER COLUMN c TYPE varchar(10);
SELECT wait_for_queue();
SELECT * FROM wt_cache.verify('dd');
-- a command that changes no value queues nothing
ALTER TABLE dd SET (fillfactor = 90);
ALTER TABLE dd ALTER COLUMN c SET DEFAULT 'newer';
CREATE INDEX dd_label ON dd (label);
SELECT count(*) AS jobs FROM wt_cache.retry_queue WHERE rel = 'dd'::regclass;

-- the key: dropping it, or its column, is refused (rolled back)
ALTER TABLE dd DROP CONSTRAINT dd_pkey;
ALTER TABLE dd DROP COLUMN id;
ALTER TABLE dd DROP COLUMN id CASCADE;
-- replacing it by another key is refused too ...
ALTER TABLE dd DROP CONSTRAINT dd_pkey, ADD PRIMARY KEY (label);
-- ... but a key on the same columns again keeps the table cached
ALTER TABLE dd DROP CONSTRAINT dd_pkey, ADD PRIMARY KEY (id);
-- a key made DEFERRABLE is refused
ALTER TABLE dd DROP CONSTRAINT dd_pkey, ADD PRIMARY KEY (id) DEFERRABLE;
SELECT "table", key_columns FROM wt_cache.attached WHERE "table" = 'dd'::regclass;
UPDATE dd SET label = 'one, still cached' WHERE id = 1;
SELECT wt_cache.cache_get('dd:1');
-- a key of key_columns: its index may not be dropped, its columns may not
-- become nullable
CREATE TABLE du (id int PRIMARY KEY, email text NOT NULL);
CREATE UNIQUE INDEX du_email ON du (email);
SELECT wt_cache.attach('du', key_columns => ARRAY['email'], load => false);
DROP INDEX du_email;
ALTER TABLE du ALTER COLUMN email DROP NOT NULL;
-- the way to change a key: detach, change, attach, resync
INSERT INTO du VALUES (1, 'a@example.com');
BEGIN;
SELECT wt_cache.detach('du');
DROP INDEX du_email;
SELECT wt_cache.attach('du', load => false);
COMMIT;
SELECT wt_cache.resync('du');
SELECT k AS du_keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'du:*')::json) k;

-- the type of a key column changed: its keys are written anew, the old
-- ones removed (a resync)
CREATE TABLE dk (at timestamp PRIMARY KEY, v text);
INSERT INTO dk VALUES ('2025-10-01 12:00', 'x');
SELECT wt_cache.attach('dk');
SELECT wait_for_queue();
SELECT k AS dk_keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'dk:*')::json) k;
SET TimeZone = 'UTC';
ALTER TABLE dk ALTER COLUMN at TYPE timestamptz;
RESET TimeZone;
SELECT wait_for_queue();
SELECT k AS dk_keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'dk:*')::json) k;
SELECT * FROM wt_cache.verify('dk');

-- DROP TABLE forgets the table's options and queue entries: its prefix
-- can be used again



CREATE TABLE gone (id int PRIMARY KEY);
SELECT wt_cache.attach('gone', key_prefix => 'reuse', load => false);
INSERT INTO wt_cache.retry_queue (rel, key, key_offset, state)
    VALUES ('gone'::regclass, 'reuse:1', 6, 'dead');
SELECT count(*) AS gone_queue FROM wt_cache.retry_queue WHERE rel = 'gone'::regclass;
DROP TABLE gone;
SELECT count(*) AS gone_options FROM wt_cache.tables t
  LEFT JOIN pg_class c ON c.oid = t.rel WHERE c.oid IS NULL;
SELECT count(*) AS gone_queue FROM wt_cache.retry_queue WHERE key = 'reuse:1';
CREATE TABLE reused (id int PRIMARY KEY);
SELECT wt_cache.attach('reused', key_prefix => 'reuse', load => false);
-- a DROP TABLE rolled back keeps everything
BEGIN;
DROP TABLE reused;
ROLLBACK;
SELECT "table", key_prefix FROM wt_cache.attached WHERE key_prefix = 'reuse';
-- DROP SCHEMA ... CASCADE too
CREATE SCHEMA doomed;
CREATE TABLE doomed.t (id int PRIMARY KEY);
SELECT wt_cache.attach('doomed.t', key_prefix => 'doomed', load => false);
DROP SCHEMA doomed CASCADE;
SELECT count(*) AS doomed FROM wt_cache.tables WHERE key_prefix = 'doomed';

-- TRUNCATE ... CASCADE reaches attached tables that reference the table
CREATE TABLE parent_t (id int PRIMARY KEY);
CREATE TABLE child_t (id int PRIMARY KEY, p int REFERENCES parent_t);
INSERT INTO parent_t VALUES (1);
INSERT INTO child_t VALUES (1, 1), (2, 1);
SELECT wt_cache.attach('child_t');
SELECT wait_for_queue();
SELECT count(*) AS child_keys FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'child_t:*')::json);
TRUNCATE parent_t CASCADE;
SELECT wait_for_queue();
SELECT wt_cache.cache_command('KEYS', 'child_t:*') AS child_keys_after;

DROP TABLE dd, du, dk, reused, child_t, parent_t;
SELECT count(*) AS left_over FROM wt_cache.tables
 WHERE key_prefix IN ('dd', 'du', 'dk', 'reuse', 'child_t');

