-- Backend memory does not grow with the number of transactions: the
-- changes live in the transaction's memory, the table options and the
-- connection once per backend.
CREATE TABLE mem (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('mem');
INSERT INTO mem SELECT g, 'v' FROM generate_series(1, 10) g;
-- warm up: options loaded, connection open
\set ECHO none
\o /dev/null
SELECT format('UPDATE mem SET v = %L WHERE id = %s', 'warm' || g, g % 10 + 1)
  FROM generate_series(1, 50) g \gexec
\o
\set ECHO all
SELECT sum(total_bytes) AS before FROM pg_backend_memory_contexts \gset
-- 2000 transactions, each its own (autocommit)
\set ECHO none
\o /dev/null
SELECT format('UPDATE mem SET v = %L WHERE id = %s', 'tx' || g, g % 10 + 1)
  FROM generate_series(1, 2000) g \gexec
\o
\set ECHO all
SELECT sum(total_bytes) - :before < 64 * 1024 AS no_growth FROM pg_backend_memory_contexts;
SELECT wt_cache.cache_get('mem:1');
