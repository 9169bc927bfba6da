-- Bad input to every SQL function: NULLs, empty and odd arrays, huge
-- numbers, odd prefixes and key values, large values.  Each is refused
-- with an error before anything changes, or works; none crashes.
-- (errors.sql has the prefix characters and relation kinds; render.sql
-- the column types; keys.sql the encoding of key parts.)
CREATE TABLE bi (id int PRIMARY KEY, a text, b text);
-- NULL for the table, everywhere
SELECT wt_cache.detach(NULL);
SELECT wt_cache.resync(NULL);
SELECT * FROM wt_cache.verify(NULL);
SELECT * FROM wt_cache.verify_summary(NULL);
-- a table OID that does not exist
SELECT wt_cache.attach(4000000000::oid::regclass);
SELECT wt_cache.detach(4000000000::oid::regclass);
SELECT wt_cache.resync(4000000000::oid::regclass);
SELECT * FROM wt_cache.verify(4000000000::oid::regclass);
-- a table that is not attached
SELECT wt_cache.detach('bi');
SELECT wt_cache.resync('bi');
SELECT * FROM wt_cache.verify('bi');
SELECT * FROM wt_cache.verify_summary('bi');
-- NULL options mean the default: the table's name, all columns, no
-- ttl, mode 'write', the primary key, load
SELECT wt_cache.attach('bi', key_prefix => NULL, columns => NULL, exclude => NULL,
                       ttl => NULL, mode => NULL, key_columns => NULL, load => NULL);
SELECT "table", key_prefix, key_columns, columns, ttl, mode FROM wt_cache.attached WHERE "table" = 'bi'::regclass;
SELECT wait_for_queue();
-- an empty exclude leaves nothing out
SELECT wt_cache.attach('bi', exclude => '{}', load => false);
SELECT "table", columns FROM wt_cache.attached WHERE "table" = 'bi'::regclass;
-- duplicate, NULL and unknown key columns; exclude naming a key column
SELECT wt_cache.attach('bi', key_columns => ARRAY['id', 'id']);
SELECT wt_cache.attach('bi', key_columns => ARRAY['id', NULL]);
SELECT wt_cache.attach('bi', key_columns => ARRAY['nope']);
SELECT wt_cache.attach('bi', key_columns => ARRAY['a']);
SELECT wt_cache.attach('bi', exclude => ARRAY['id'], load => false);
INSERT INTO bi VALUES (1, 'a', 'b');
SELECT wt_cache.cache_get('bi:1') AS key_column_left_out_of_value;
-- column names are case-sensitive names, not SQL identifiers
SELECT wt_cache.attach('bi', columns => ARRAY['ID']);
SELECT wt_cache.attach('bi', columns => ARRAY['"id"']);
-- a two-dimensional array is read element by element
SELECT wt_cache.attach('bi', columns => '{{id,a}}', load => false);
SELECT "table", columns FROM wt_cache.attached WHERE "table" = 'bi'::regclass;
-- more prefixes: a tab, a DEL byte, a double colon inside (allowed), UTF-8
SELECT wt_cache.attach('bi', key_prefix => E'tab\there');
SELECT wt_cache.attach('bi', key_prefix => E'del\x7f');
SELECT wt_cache.attach('bi', key_prefix => 'app::bi', load => false);
SELECT wt_cache.attach('bi', key_prefix => 'ünï/bi', load => false);
INSERT INTO bi VALUES (2, 'x', 'y');
SELECT wt_cache.cache_get('ünï/bi:2');
-- ttl: 0, negative, past 2^31 (the argument is an integer), the largest
-- integer (Valkey accepts it)
SELECT wt_cache.attach('bi', ttl => 2147483648);
SELECT wt_cache.attach('bi', ttl => -2147483648);
SELECT wt_cache.attach('bi', ttl => 2147483647, load => false);
INSERT INTO bi VALUES (3, 'long', 'lived');
SELECT wt_cache.cache_command('TTL', 'bi:3')::bigint > 2147483000 AS ttl_set;
SELECT wt_cache.cache_command('TTL', '{bi:3}:v')::bigint > 2147483000 AS version_ttl_set;
-- mode: unknown, empty, another case
SELECT wt_cache.attach('bi', mode => '');
SELECT wt_cache.attach('bi', mode => 'WRITE');
-- nothing of the refused calls changed the options
SELECT "table", key_prefix, ttl, mode FROM wt_cache.attached WHERE "table" = 'bi'::regclass;
SELECT wt_cache.detach('bi');

-- replay_dead and purge_dead: NULL means all (none here), an id that is
-- not a dead entry is an error
SELECT wt_cache.replay_dead(NULL), wt_cache.purge_dead(NULL);
SELECT wt_cache.replay_dead(-1);
SELECT wt_cache.purge_dead(0);

-- cache_get and cache_command: NULL in, NULL out; no command; a NULL
-- argument; an unknown command; a binary-safe key
SELECT wt_cache.cache_get(NULL) IS NULL AS get_null;
SELECT wt_cache.cache_command(VARIADIC NULL::text[]) IS NULL AS command_null;
SELECT wt_cache.cache_command(VARIADIC '{}'::text[]);
SELECT wt_cache.cache_command('GET', NULL);
SELECT wt_cache.cache_command('NOSUCHCOMMAND');
SELECT wt_cache.cache_get('');
SELECT wt_cache.cache_command('SET', E'bi:\r\nodd key', E'val\r\nue');
SELECT wt_cache.cache_get(E'bi:\r\nodd key') = E'val\r\nue' AS binary_safe;
SELECT wt_cache.cache_command('DEL', E'bi:\r\nodd key');

-- Key values that are odd for Valkey: empty, glob characters, a
-- closing brace alone, a long one
CREATE TABLE bk (k text PRIMARY KEY, v int);
SELECT wt_cache.attach('bk', load => false);
INSERT INTO bk VALUES ('', 1), ('*', 2), ('a?[b]\c', 3), ('}', 4), (repeat('k', 2000), 5);
SELECT k AS raw_key FROM json_array_elements_text(wt_cache.cache_command('KEYS', 'bk:*')::json) k
 WHERE length(k) < 100 ORDER BY k COLLATE "C";
SELECT wt_cache.cache_get('bk:' || repeat('k', 2000)) = row_to_json(bk)::text AS long_key FROM bk WHERE v = 5;
SELECT * FROM wt_cache.verify('bk');
-- KEYS with a glob character in a key value matches only what it says
SELECT wt_cache.resync('bk');
SELECT * FROM wt_cache.verify_summary('bk');
SELECT wt_cache.detach('bk');

-- A value of 20 MB lands (Valkey takes values up to proto-max-bulk-len,
-- 512 MB by default), within the commit's own round trip or through the
-- worker
CREATE TABLE big (id int PRIMARY KEY, doc text);
SELECT wt_cache.attach('big', load => false);
INSERT INTO big VALUES (1, repeat('0123456789', 2 * 1024 * 1024));
SELECT wait_for_queue();
SELECT wt_cache.cache_command('STRLEN', 'big:1') AS json_bytes,
       length(row_to_json(big)::text) AS row_to_json_bytes FROM big;
SELECT md5(wt_cache.cache_get('big:1')) = md5(row_to_json(big)::text) AS same_bytes FROM big;
UPDATE big SET doc = 'small';
SELECT wt_cache.cache_get('big:1');
SELECT wt_cache.detach('big');
DROP TABLE bi, bk, big;
