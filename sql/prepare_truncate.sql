-- Until the retry path exists, PREPARE TRANSACTION after changes to an
-- attached table, and TRUNCATE of one, are refused rather than lost.
CREATE TABLE pt (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('pt');
INSERT INTO pt VALUES (1, 'committed');
BEGIN;
UPDATE pt SET v = 'prepared' WHERE id = 1;
PREPARE TRANSACTION 'wtc_pt';
SELECT count(*) AS prepared FROM pg_prepared_xacts WHERE gid = 'wtc_pt';
SELECT v FROM pt;
SELECT wt_cache.cache_get('pt:1');
-- a prepared transaction that does not touch an attached table is fine
BEGIN;
CREATE TABLE not_attached (id int);
PREPARE TRANSACTION 'wtc_other';
COMMIT PREPARED 'wtc_other';
-- TRUNCATE
TRUNCATE pt;
SELECT count(*) FROM pt;
SELECT wt_cache.cache_get('pt:1');
-- after detach, TRUNCATE works
SELECT wt_cache.detach('pt');
TRUNCATE pt;
SELECT count(*) FROM pt;
