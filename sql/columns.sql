-- columns keeps only those columns, exclude leaves those out; the JSON
-- keeps table order.
CREATE TABLE cols (id int PRIMARY KEY, a text, b text, secret text, c int);
SELECT wt_cache.attach('cols', columns => ARRAY['c', 'id', 'a']);
INSERT INTO cols VALUES (1, 'a1', 'b1', 'pw1', 10);
SELECT wt_cache.cache_get('cols:1');
SELECT columns FROM wt_cache.attached WHERE "table" = 'cols'::regclass;
-- a change to a column that is not cached still writes the row
UPDATE cols SET b = 'b2' WHERE id = 1;
SELECT wt_cache.cache_get('cols:1');
-- exclude
SELECT wt_cache.attach('cols', exclude => ARRAY['secret']);
UPDATE cols SET a = 'a2' WHERE id = 1;
SELECT wt_cache.cache_get('cols:1');
-- a column added later is cached (it is not excluded)
ALTER TABLE cols ADD COLUMN added text DEFAULT 'new';
UPDATE cols SET a = 'a3' WHERE id = 1;
SELECT wt_cache.cache_get('cols:1');
SELECT columns FROM wt_cache.attached WHERE "table" = 'cols'::regclass;
-- a renamed column keeps being cached, under its new name
ALTER TABLE cols RENAME COLUMN a TO alpha;
UPDATE cols SET alpha = 'a4' WHERE id = 1;
SELECT wt_cache.cache_get('cols:1');
