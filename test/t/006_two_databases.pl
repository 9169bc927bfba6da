# Two databases of one server use wt_cache, each with a table attached under
# its own prefix.  Each database gets its own worker (started by the
# launcher when CREATE EXTENSION commits).  Writes in both reach Valkey;
# with Valkey down and the circuit open (the circuit is server-wide) writes
# in both are queued, each in its own database's wt_cache.retry_queue; when
# Valkey is back both queues drain and the cache equals both tables.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use WtcTest;

my $valkey = wtc_valkey(persistent => 1);

# Keys in Valkey, without wt_cache's version keys ("{key}:v")
sub data_keys
{
	return $valkey->cli('EVAL',
		"local n = 0 for _, k in ipairs(redis.call('KEYS', '*')) do"
		  . " if string.sub(k, 1, 1) ~= '{' then n = n + 1 end end return n", '0');
}
my $node = wtc_node('twodb', $valkey, q{
wt_cache.launcher_naptime = 1
wt_cache.connect_timeout = 500
wt_cache.command_timeout = 500
});

my %prefix = (db1 => 'one:t', db2 => 'two:t');

for my $db (sort keys %prefix)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION wt_cache;
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0);
SELECT wt_cache.attach('t', key_prefix => '$prefix{$db}');
});
}

my $workers_sql = q{SELECT string_agg(datname, ',' ORDER BY datname)
  FROM pg_stat_activity
 WHERE backend_type = 'wt_cache worker' AND datname IN ('db1', 'db2')};
ok(defined wtc_wait($node, 'postgres', $workers_sql, 'db1,db2', 30),
	'each database has its own wt_cache worker');

# Pending queue entries and stale keys of t in $db; "0 pending, 0 stale" when
# the cache equals the table
sub state_of
{
	my ($db) = @_;
	return $node->safe_psql($db, qq{
SELECT (SELECT count(*) FROM wt_cache.retry_queue WHERE state = 'pending')
    || ' pending, '
    || (SELECT count(*) FROM t
         WHERE wt_cache.cache_get('$prefix{$db}:' || t.id) IS DISTINCT FROM row_to_json(t)::text)
    || ' stale'});
}

sub converged
{
	my ($timeout) = @_;
	my $start = time;
	while (time - $start < $timeout)
	{
		return 1
		  if state_of('db1') eq '0 pending, 0 stale'
		  && state_of('db2') eq '0 pending, 0 stale';
		usleep(200_000);
	}
	note "db1: " . state_of('db1') . "; db2: " . state_of('db2');
	return 0;
}

# ---------- Valkey up: commits write through ----------

for my $db (sort keys %prefix)
{
	my ($rc, $out, $err) = $node->psql($db, qq{
INSERT INTO t SELECT g, '$db row ' || g FROM generate_series(1, 200) g;
UPDATE t SET n = 1 WHERE id <= 50;
});
	is($err, '', "$db: writes commit without warning");
}
is(state_of('db1'), '0 pending, 0 stale', 'db1: every row is in the cache at commit');
is(state_of('db2'), '0 pending, 0 stale', 'db2: every row is in the cache at commit');
is($valkey->cli('GET', 'one:t:7'), '{"id":7,"v":"db1 row 7","n":1}', 'db1 key under its prefix');
is($valkey->cli('GET', 'two:t:7'), '{"id":7,"v":"db2 row 7","n":1}', 'db2 key under its prefix');
is(data_keys(), '400', 'Valkey holds both tables, nothing else');

# ---------- Valkey down: the circuit opens, writes are queued ----------

$valkey->kill9;
note 'valkey killed';
my $opened = 0;
for my $i (1 .. 50)
{
	my $db = $i % 2 ? 'db1' : 'db2';
	if ($node->safe_psql('postgres', 'SELECT circuit FROM wt_cache.stats') eq 'open')
	{
		$opened = 1;
		note 'circuit open after ' . ($i - 1) . ' failing writes';
		last;
	}
	my ($rc, $out, $err) =
	  $node->psql($db, "UPDATE t SET n = n + 1 WHERE id = 1");
	is($err, '', "failing write $i in $db: no warning") if $err ne '';
	usleep(100_000);
}
ok($opened, 'failed pushes opened the circuit');

for my $db (sort keys %prefix)
{
	my ($rc, $out, $err) = $node->psql($db, qq{
UPDATE t SET n = n + 10, v = v || ' (outage)' WHERE id % 3 = 0;
DELETE FROM t WHERE id BETWEEN 190 AND 195;
INSERT INTO t SELECT g, '$db new ' || g FROM generate_series(201, 260) g;
});
	is($rc, 0, "$db: writes commit while the circuit is open");
	is($err, '', "$db: ... with no error or warning");
}
my %depth;
for my $db (sort keys %prefix)
{
	$depth{$db} = $node->safe_psql($db, 'SELECT queue_depth FROM wt_cache.stats');
	cmp_ok($depth{$db}, '>=', 66 + 6 + 60, "$db: its queue holds its keys ($depth{$db})");
	is($node->safe_psql($db, qq{
SELECT count(*) FROM wt_cache.retry_queue
 WHERE state = 'pending' AND key NOT LIKE '$prefix{$db}:%'}),
		'0', "$db: its queue holds only its own table's keys");
}
is($node->safe_psql('postgres', 'SELECT queue_depth FROM wt_cache.stats'), '0',
	'the postgres database queued nothing');
is($node->safe_psql('postgres', 'SELECT circuit FROM wt_cache.stats'), 'open',
	'circuit still open');

# ---------- Valkey back: both queues drain ----------

$valkey->start;
note 'valkey back';
my $t0 = time;
ok(converged(60), 'both queues drained and the cache equals both tables');
note sprintf('converged %.1f s after Valkey came back', time - $t0);
is($node->safe_psql('postgres', 'SELECT circuit FROM wt_cache.stats'), 'closed',
	'circuit closed');
is($node->safe_psql('postgres', $workers_sql), 'db1,db2',
	'still one worker per database');
is($node->safe_psql('postgres', q{
SELECT count(DISTINCT datname) || ' ' || count(*)
  FROM pg_stat_activity
 WHERE backend_type = 'wt_cache worker' AND datname IN ('db1', 'db2')}),
	'2 2', 'two wt_cache worker rows with different datname');
is($valkey->cli('GET', 'one:t:3'), '{"id":3,"v":"db1 row 3 (outage)","n":11}',
	'db1 change made during the outage landed');
is($valkey->cli('GET', 'two:t:250'), '{"id":250,"v":"db2 new 250","n":0}',
	'db2 row inserted during the outage landed');
is($valkey->cli('EXISTS', 'one:t:192') . $valkey->cli('EXISTS', 'two:t:192'), '00',
	'rows deleted during the outage are gone from the cache in both');
is(data_keys(), 2 * (260 - 6), 'Valkey holds both tables, nothing else');
for my $db (sort keys %prefix)
{
	is($node->safe_psql($db,
			q{SELECT count(*) FROM wt_cache.retry_queue WHERE state = 'dead'}),
		'0', "$db: no dead entries");
}

# ---------- Valkey frozen: failed commits are handed to each database's worker ----------

# A backend with an open connection passes the idle check at PRE_COMMIT and
# times out at COMMIT: its keys go through its database's handoff ring.
sub session_query
{
	my ($session, $sql) = @_;
	my $out = $session->query($sql);
	my $err = $session->{stderr};
	$session->{stderr} = '';
	return ($out, $err);
}

my %session;
for my $db (sort keys %prefix)
{
	$session{$db} = $node->background_psql($db);
	my ($out, $err) = session_query($session{$db}, "UPDATE t SET n = n + 1 WHERE id = 20");
	is($err, '', "$db: a session writes with Valkey up (its connection is open)");
}
is(state_of('db1') . '; ' . state_of('db2'), '0 pending, 0 stale; 0 pending, 0 stale',
	'both caches equal their tables');
my $handed0 = $node->safe_psql('postgres', 'SELECT keys_handed_off FROM wt_cache.stats');

$valkey->freeze;
note 'valkey frozen';
for my $db (sort keys %prefix)
{
	my ($out, $err) = session_query($session{$db},
		"UPDATE t SET v = '$db, valkey frozen' WHERE id IN (30, 31)");
	is($err, '', "$db: a commit that times out gives no error or warning");
}
my $handed = $node->safe_psql('postgres', 'SELECT keys_handed_off FROM wt_cache.stats') - $handed0;
note "keys handed off: $handed";
for my $db (sort keys %prefix)
{
	ok(defined wtc_wait($node, $db, qq{
SELECT string_agg(key, ',' ORDER BY key) FROM wt_cache.retry_queue
 WHERE state = 'pending' AND key IN ('one:t:30', 'one:t:31', 'two:t:30', 'two:t:31')},
			"$prefix{$db}:30,$prefix{$db}:31", 30),
		"$db: its worker stored its own handed-off keys, and only those");
}
$_->quit for values %session;

$valkey->thaw;
note 'valkey thawed';
$t0 = time;
ok(converged(60), 'both queues drained again and the cache equals both tables');
note sprintf('converged %.1f s after Valkey thawed', time - $t0);
is($valkey->cli('GET', 'two:t:31'), '{"id":31,"v":"db2, valkey frozen","n":1}',
	'db2 change made while Valkey was frozen landed');
is($node->safe_psql('postgres', 'SELECT circuit FROM wt_cache.stats'), 'closed',
	'circuit closed');

$node->stop;
done_testing();
