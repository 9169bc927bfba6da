-- Installing the extension, its settings, and reading Valkey from SQL.
CREATE EXTENSION wt_cache;
SELECT nspname FROM pg_namespace WHERE nspname = 'wt_cache';
SELECT name, setting, unit, context FROM pg_settings
 WHERE name LIKE 'wt\_cache.%' AND name <> 'wt_cache.port' ORDER BY name;
SELECT current_setting('wt_cache.port') = :'valkey_port' AS port_from_harness;
