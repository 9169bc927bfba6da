-- wt_cache.verify(rel): every row compared with what Valkey holds, one row
-- per key still wrong; wt_cache.verify_summary(rel): the same as counts.
-- Tables are attached while empty, and any load job is waited for, so
-- that nothing writes to Valkey beside the test.
CREATE TABLE vf (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('vf');
SELECT wait_for_queue();
INSERT INTO vf SELECT g, 'row ' || g FROM generate_series(1, 3000) g;
-- a clean table verifies empty
SELECT * FROM wt_cache.verify('vf');
SELECT * FROM wt_cache.verify_summary('vf');

-- each problem, made by hand
SELECT wt_cache.cache_command('DEL', 'vf:10');                     -- missing
SELECT wt_cache.cache_command('SET', 'vf:20', '{"id":20,"v":"old"}'); -- stale
\! $WTC_CLI SET vf:ghost 'no row' > /dev/null
SELECT wt_cache.cache_command('SET', 'vf:4000', 'no row either');  -- unexpected
SELECT wt_cache.cache_command('DEL', 'vf:30');
SELECT wt_cache.cache_command('RPUSH', 'vf:30', 'a list');          -- stale (not a string)
-- keys of other tables and version keys are not vf's
CREATE TABLE vfx (id int PRIMARY KEY);
SELECT wt_cache.attach('vfx');
SELECT wait_for_queue();
INSERT INTO vfx VALUES (1);
SELECT wt_cache.cache_command('SET', 'vfx:2', 'another table''s key');
SELECT wt_cache.cache_command('SET', 'vfother:1', 'not under any prefix');
SELECT wt_cache.cache_command('EXISTS', '{vf:1}:v') AS version_key_exists;
SELECT * FROM wt_cache.verify('vf');
SELECT * FROM wt_cache.verify_summary('vf');
SELECT * FROM wt_cache.verify('vfx');
-- the values Valkey holds were only read
SELECT wt_cache.cache_get('vf:20'), wt_cache.cache_get('vf:ghost'),
       wt_cache.cache_command('EXISTS', 'vf:10') AS vf10_exists;
-- a change made since is not reported: the row is written again
UPDATE vf SET v = 'fixed' WHERE id IN (10, 20);
SELECT * FROM wt_cache.verify('vf');
-- resync repairs the rest
SELECT wt_cache.resync('vf');
SELECT * FROM wt_cache.verify('vf');
SELECT * FROM wt_cache.verify_summary('vf');

-- keys with ':' and '%' in them: the encoded keys round-trip
CREATE TABLE vfk (a text, b date, v int, PRIMARY KEY (a, b));
SELECT wt_cache.attach('vfk', key_prefix => 'app:vfk');
SELECT wait_for_queue();
INSERT INTO vfk VALUES ('x:y', '2025-01-02', 1), ('50%', '2025-01-03', 2),
                       ('{t}', '2025-01-04', 3);
SELECT * FROM wt_cache.verify('vfk');
SELECT wt_cache.cache_command('DEL', 'app:vfk:x%3Ay:2025-01-02');
SELECT wt_cache.cache_command('SET', 'app:vfk:50%25:2025-01-03', 'wrong');
SELECT wt_cache.cache_command('SET', 'app:vfk:gone%3A:2025-01-05', 'no row');
SELECT wt_cache.cache_command('SET', 'app:vfk:only-one-part', 'no row');
SELECT wt_cache.cache_command('SET', 'app:vfk:x:2025-13-45', 'no row, bad date');
SELECT * FROM wt_cache.verify('vfk');
SELECT * FROM wt_cache.verify_summary('vfk');
-- the same under other session settings (dates in keys are rendered ISO)
SET DateStyle = 'SQL, DMY';
SELECT * FROM wt_cache.verify_summary('vfk');
RESET DateStyle;

-- a table with a ttl: missing keys have expired, they are no problem
CREATE TABLE vft (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('vft', ttl => 3600);
SELECT wait_for_queue();
INSERT INTO vft VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT wt_cache.cache_command('DEL', 'vft:1');
SELECT wt_cache.cache_command('SET', 'vft:2', 'wrong');
SELECT * FROM wt_cache.verify('vft');
SELECT * FROM wt_cache.verify_summary('vft');

-- bad input
SELECT * FROM wt_cache.verify(NULL);
SELECT * FROM wt_cache.verify_summary(NULL);
CREATE TABLE vf_not_attached (id int PRIMARY KEY);
SELECT * FROM wt_cache.verify('vf_not_attached');
CREATE TABLE vf_inval (id int PRIMARY KEY);
SELECT wt_cache.attach('vf_inval', mode => 'invalidate');
SELECT wait_for_queue();
SELECT * FROM wt_cache.verify('vf_inval');
SELECT * FROM wt_cache.verify_summary('vf_inval');
CREATE ROLE vf_other;
SET ROLE vf_other;
SELECT * FROM wt_cache.verify('vf');
SELECT * FROM wt_cache.verify_summary('vf');
RESET ROLE;
-- a table owner who is not a superuser may verify their table
ALTER TABLE vft OWNER TO vf_other;
SET ROLE vf_other;
SELECT * FROM wt_cache.verify('vft');
RESET ROLE;
ALTER TABLE vft OWNER TO CURRENT_USER;
DROP ROLE vf_other;

-- a frozen Valkey is an error, within the deadline (10 s for a round trip)
SET wt_cache.command_timeout = 300;
\! kill -STOP $WTC_VALKEY_PID
SELECT clock_timestamp() AS t0 \gset
SELECT * FROM wt_cache.verify('vf');
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) < 10 + 5 AS in_time;
\! kill -CONT $WTC_VALKEY_PID
RESET wt_cache.command_timeout;
SELECT count(*) FROM wt_cache.verify('vf');
