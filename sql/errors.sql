-- Bad input: a clear error, with a hint, and nothing changed.
CREATE TABLE good (id int PRIMARY KEY, a text, b text);
CREATE TABLE nopk (a int, b text);
CREATE VIEW v AS SELECT * FROM good;
CREATE MATERIALIZED VIEW mv AS SELECT * FROM good;
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER dummy_srv FOREIGN DATA WRAPPER dummy_fdw;
CREATE FOREIGN TABLE ft (id int) SERVER dummy_srv;
CREATE TEMP TABLE tmp (id int PRIMARY KEY);
CREATE UNLOGGED TABLE unl (id int PRIMARY KEY);
CREATE TABLE part (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE other (id int PRIMARY KEY);
SELECT wt_cache.attach('other', key_prefix => 'shop:orders');
SELECT wt_cache.attach(NULL);
SELECT wt_cache.attach('nopk');
SELECT wt_cache.attach('good', columns => ARRAY['nope']);
SELECT wt_cache.attach('good', columns => ARRAY['a', 'a']);
SELECT wt_cache.attach('good', columns => ARRAY['a', NULL]);
SELECT wt_cache.attach('good', columns => '{}');
SELECT wt_cache.attach('good', columns => ARRAY['ctid']);
SELECT wt_cache.attach('good', exclude => ARRAY['b', 'b']);
SELECT wt_cache.attach('good', columns => ARRAY['a'], exclude => ARRAY['b']);
SELECT wt_cache.attach('good', ttl => -1);
SELECT wt_cache.attach('good', ttl => 0);
SELECT wt_cache.attach('good', mode => 'writeback');
SELECT wt_cache.attach('good', key_columns => '{}');
SELECT wt_cache.attach('good', key_prefix => '');
SELECT wt_cache.attach('good', key_prefix => 'has space');
SELECT wt_cache.attach('good', key_prefix => E'new\nline');
SELECT wt_cache.attach('good', key_prefix => 'glob*');
SELECT wt_cache.attach('good', key_prefix => 'q?');
SELECT wt_cache.attach('good', key_prefix => 'br[a]');
SELECT wt_cache.attach('good', key_prefix => 'back\slash');
SELECT wt_cache.attach('good', key_prefix => '{tag}');
SELECT wt_cache.attach('good', key_prefix => '50%');
SELECT wt_cache.attach('good', key_prefix => 'trailing:');
SELECT wt_cache.attach('good', key_prefix => ':leading');
SELECT wt_cache.attach('good', key_prefix => repeat('x', 513));
-- prefixes that overlap another table's
SELECT wt_cache.attach('good', key_prefix => 'shop:orders');
SELECT wt_cache.attach('good', key_prefix => 'shop');
SELECT wt_cache.attach('good', key_prefix => 'shop:orders:eu');
-- these do not overlap
SELECT wt_cache.attach('good', key_prefix => 'shop:orders2');
SELECT wt_cache.detach('good');
-- relations that are not plain tables
SELECT wt_cache.attach('v');
SELECT wt_cache.attach('mv');
SELECT wt_cache.attach('ft');
SELECT wt_cache.attach('tmp');
SELECT wt_cache.attach('unl');
SELECT wt_cache.attach('pg_class');
SELECT wt_cache.attach('wt_cache.tables');
-- nothing was attached, no trigger was created
SELECT rel, key_prefix FROM wt_cache.tables WHERE rel::text IN ('good', 'nopk', 'v', 'tmp', 'unl', 'part', 'other') ORDER BY 1;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname LIKE 'wt\_cache%'
   AND tgrelid IN ('good'::regclass, 'nopk'::regclass, 'tmp'::regclass, 'unl'::regclass, 'part'::regclass);
-- and writes to the tables are not cached
INSERT INTO good VALUES (1, 'a', 'b');
SELECT wt_cache.cache_command('KEYS', 'good:*') AS good_keys;
SELECT wt_cache.detach('other');
