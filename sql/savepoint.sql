-- Changes made in a savepoint that is rolled back are dropped; the
-- transaction's other changes land.
CREATE TABLE sp (id int PRIMARY KEY, v text);
SELECT wt_cache.attach('sp');
INSERT INTO sp VALUES (1, 'start'), (2, 'start');
BEGIN;
UPDATE sp SET v = 'outer' WHERE id = 1;
SAVEPOINT a;
UPDATE sp SET v = 'inner' WHERE id = 1;
INSERT INTO sp VALUES (3, 'inner only');
DELETE FROM sp WHERE id = 2;
ROLLBACK TO a;
COMMIT;
-- 1 keeps the outer value, 2 is still there, 3 never existed
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('sp:1'), ('sp:2'), ('sp:3')) v(k);

-- nested: released inner savepoint folds into the outer one, which is
-- then rolled back
BEGIN;
UPDATE sp SET v = 'top' WHERE id = 1;
SAVEPOINT a;
UPDATE sp SET v = 'level a' WHERE id = 1;
SAVEPOINT b;
UPDATE sp SET v = 'level b' WHERE id = 1;
UPDATE sp SET v = 'level b' WHERE id = 2;
RELEASE b;
ROLLBACK TO a;
UPDATE sp SET v = 'after rollback' WHERE id = 2;
COMMIT;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('sp:1'), ('sp:2')) v(k);

-- released savepoints: their changes are kept
BEGIN;
SAVEPOINT a;
UPDATE sp SET v = 'released a' WHERE id = 1;
SAVEPOINT b;
INSERT INTO sp VALUES (4, 'released b');
RELEASE a;
COMMIT;
SELECT k, wt_cache.cache_get(k) FROM (VALUES ('sp:1'), ('sp:4')) v(k);

-- a savepoint with no change to the key, rolled back, leaves it alone
BEGIN;
UPDATE sp SET v = 'survives' WHERE id = 4;
SAVEPOINT a;
SELECT 1;
ROLLBACK TO a;
COMMIT;
SELECT wt_cache.cache_get('sp:4');

-- PL/pgSQL exception blocks are subtransactions: the failed iterations'
-- changes vanish, the others stay
DO $$
BEGIN
  FOR i IN 10..15 LOOP
    BEGIN
      INSERT INTO sp VALUES (i, 'loop ' || i);
      UPDATE sp SET v = v || ' updated' WHERE id = i;
      IF i % 2 = 1 THEN
        RAISE EXCEPTION 'odd';
      END IF;
    EXCEPTION WHEN OTHERS THEN
      NULL;
    END;
  END LOOP;
END $$;
SELECT g, wt_cache.cache_get('sp:' || g) FROM generate_series(10, 15) g ORDER BY g;
-- the cache equals the table
SELECT count(*) AS rows,
       count(*) FILTER (WHERE wt_cache.cache_get('sp:' || id) = row_to_json(sp)::text) AS matching
  FROM sp;
