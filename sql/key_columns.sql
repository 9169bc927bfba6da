-- key_columns names a unique key to use instead of the primary key.
CREATE TABLE kc (id serial PRIMARY KEY, email text NOT NULL UNIQUE, tenant int NOT NULL,
                 code text NOT NULL, v text, UNIQUE (tenant, code));
SELECT wt_cache.attach('kc', key_columns => ARRAY['email']);
INSERT INTO kc (email, tenant, code, v) VALUES ('ann@example.com', 1, 'a', 'ann');
SELECT wt_cache.cache_get('kc:ann@example.com');
-- changing the unique key moves the cache key
UPDATE kc SET email = 'ann@example.org';
SELECT wt_cache.cache_get('kc:ann@example.com') IS NULL AS old_gone,
       wt_cache.cache_get('kc:ann@example.org')::json->>'v' AS v;
-- a composite unique key, in the order given
SELECT wt_cache.attach('kc', key_columns => ARRAY['code', 'tenant']);
UPDATE kc SET v = 'ann2';
SELECT wt_cache.cache_get('kc:a:1')::json->>'v' AS v;
SELECT key_columns FROM wt_cache.attached WHERE "table" = 'kc'::regclass;
-- refused: no unique index on these columns, a nullable key, a deferrable key
SELECT wt_cache.attach('kc', key_columns => ARRAY['v']);
CREATE TABLE kcn (id int PRIMARY KEY, u text UNIQUE);
SELECT wt_cache.attach('kcn', key_columns => ARRAY['u']);
CREATE TABLE kcd (id int PRIMARY KEY DEFERRABLE);
SELECT wt_cache.attach('kcd');
CREATE TABLE kcp (id int PRIMARY KEY, u text NOT NULL);
CREATE UNIQUE INDEX ON kcp (u) WHERE u <> '';
SELECT wt_cache.attach('kcp', key_columns => ARRAY['u']);
SELECT count(*) AS attached FROM wt_cache.tables WHERE rel IN ('kcn'::regclass, 'kcd'::regclass, 'kcp'::regclass);
