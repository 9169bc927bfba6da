-- COMMIT returns only after Valkey has the change.  Another client pauses
-- Valkey's writes for 300 ms: the commit must wait for them, and the row
-- must be in Valkey the moment COMMIT returns.
CREATE TABLE ryw (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('ryw');
INSERT INTO ryw VALUES (1, 'before');
\! $WTC_CLI CLIENT PAUSE 300 WRITE
SELECT clock_timestamp() AS t0 \gset
UPDATE ryw SET v = 'after' WHERE id = 1;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '250 ms' AS commit_waited;
SELECT wt_cache.cache_get('ryw:1');
-- the same with an explicit transaction block of several statements
\! $WTC_CLI CLIENT PAUSE 300 WRITE
SELECT clock_timestamp() AS t0 \gset
BEGIN;
UPDATE ryw SET v = 'block' WHERE id = 1;
INSERT INTO ryw VALUES (2, 'block');
COMMIT;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '250 ms' AS commit_waited;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('ryw:1'), ('ryw:2')) v(k);
-- a read-only transaction does not talk to Valkey, so it does not wait
\! $WTC_CLI CLIENT PAUSE 300 WRITE
SELECT clock_timestamp() AS t0 \gset
BEGIN;
SELECT count(*) FROM ryw;
COMMIT;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '250 ms' AS no_wait;
\! $WTC_CLI CLIENT UNPAUSE
