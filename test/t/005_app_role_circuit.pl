# An application role with only SELECT and UPDATE on an attached table
# writes while the circuit is open: its UPDATE succeeds with no error and no
# warning, its key is queued in wt_cache.retry_queue inside its own
# transaction (as the extension's owner: the role has no rights on
# wt_cache's tables), and once Valkey is back the worker writes the new row
# and closes the circuit.  The role cannot read the queue, the stats or the
# cache through wt_cache's functions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WtcTest;

my $valkey = wtc_valkey(persistent => 1);
my $node = wtc_node('approle', $valkey, q{
wt_cache.connect_timeout = 500
wt_cache.command_timeout = 500
});

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL, note text);
INSERT INTO acct SELECT g, 100, 'initial' FROM generate_series(1, 20) g;
SELECT wt_cache.attach('acct');
GRANT SELECT, UPDATE ON acct TO app;
UPDATE acct SET balance = balance;
});
is(wtc_converged($node, 'postgres', 'acct', 30), 'ok', 'cache filled');

# psql as app; returns (exit code, stdout, stderr)
sub as_app
{
	my ($sql) = @_;
	my ($rc, $out, $err) =
	  $node->psql('postgres', $sql, extra_params => [ '-U', 'app' ]);
	return ($rc, $out, $err);
}

sub circuit
{
	return $node->safe_psql('postgres', 'SELECT circuit FROM wt_cache.stats');
}

# What app may not do
my ($rc, $out, $err) = as_app('SELECT count(*) FROM wt_cache.retry_queue');
like($err, qr/permission denied for table retry_queue/,
	'app cannot read wt_cache.retry_queue');
($rc, $out, $err) = as_app('SELECT * FROM wt_cache.stats');
like($err, qr/permission denied/, 'app cannot read wt_cache.stats');
($rc, $out, $err) = as_app(q{SELECT wt_cache.cache_get('acct:1')});
like($err, qr/permission denied for function cache_get/,
	'app cannot read the cache through cache_get');
($rc, $out, $err) = as_app('INSERT INTO wt_cache.retry_queue (rel, key) VALUES (1, $$x$$)');
like($err, qr/permission denied/, 'app cannot write wt_cache.retry_queue');

# A write by app while Valkey is up: pushed at commit, as usual
($rc, $out, $err) = as_app(q{UPDATE acct SET balance = 150, note = 'app, valkey up' WHERE id = 2});
is($rc, 0, 'app updates a row while Valkey is up');
is($err, '', '... with no error or warning');
is($node->safe_psql('postgres',
		q{SELECT wt_cache.cache_get('acct:2') = row_to_json(a)::text FROM acct a WHERE id = 2}),
	't', "... and its commit wrote the key (read your writes)");

# Valkey goes away; failing writes (by the superuser) open the circuit
$valkey->kill9;
note 'valkey killed';
my $opened = 0;
for my $i (1 .. 50)
{
	if (circuit() eq 'open')
	{
		$opened = 1;
		note 'circuit open after ' . ($i - 1) . ' failing writes';
		last;
	}
	my ($rc2, $out2, $err2) = $node->psql('postgres',
		"UPDATE acct SET balance = balance + 1 WHERE id = 1");
	is($err2, '', "failing write $i gives no error or warning") if $err2 ne '';
	usleep(100_000);
}
ok($opened, 'failed pushes opened the circuit');
my ($queued0, $failures0) = split /\|/, $node->safe_psql('postgres',
	'SELECT keys_queued, push_failures FROM wt_cache.stats');

is($node->safe_psql('postgres',
		q{SELECT count(*) FROM wt_cache.retry_queue WHERE key = 'acct:7'}),
	'0', 'no queue entry for acct:7 yet');

# app writes while the circuit is open: an UPDATE, and one in an explicit
# transaction with a savepoint
($rc, $out, $err) = as_app(q{UPDATE acct SET balance = 4242, note = 'app, circuit open' WHERE id = 7});
is($rc, 0, 'app updates a row while the circuit is open');
is($err, '', '... with no error or warning');
($rc, $out, $err) = as_app(q{
BEGIN;
UPDATE acct SET balance = 77, note = 'app, in a transaction' WHERE id = 8;
SAVEPOINT s;
UPDATE acct SET balance = -1 WHERE id = 9;
ROLLBACK TO s;
UPDATE acct SET note = 'app, after the savepoint' WHERE id = 10;
COMMIT;
});
is($rc, 0, 'app commits a transaction with a rolled-back savepoint while the circuit is open');
is($err, '', '... with no error or warning');

is($node->safe_psql('postgres',
		q{SELECT string_agg(key, ',' ORDER BY key) FROM wt_cache.retry_queue
		   WHERE state = 'pending' AND key IN ('acct:7', 'acct:8', 'acct:9', 'acct:10')}),
	'acct:10,acct:7,acct:8', "app's keys were queued (not the rolled-back one)");
my ($queued1, $failures1) = split /\|/, $node->safe_psql('postgres',
	'SELECT keys_queued, push_failures FROM wt_cache.stats');
cmp_ok($queued1 - $queued0, '>=', 3, 'keys_queued counted them');
is($failures1, $failures0, 'with the circuit open, the commits did not try Valkey');
is($node->safe_psql('postgres',
		q{SELECT (SELECT usename FROM pg_user WHERE usesysid = c.relowner)
		    FROM pg_class c WHERE oid = 'wt_cache.retry_queue'::regclass}),
	$node->safe_psql('postgres', 'SELECT current_user'),
	'(the queue belongs to the extension owner, not app)');
is(circuit(), 'open', 'circuit still open while Valkey is down');

# Valkey back: the worker probes, closes the circuit, writes app's rows
$valkey->start;
note 'valkey back';
my $want_check = q{
SELECT count(*) FILTER (WHERE wt_cache.cache_get('acct:' || id) IS DISTINCT FROM row_to_json(a)::text)
  FROM acct a WHERE id IN (7, 8, 9, 10)};
my $landed = wtc_wait($node, 'postgres',
	"SELECT ($want_check) || ' ' || (SELECT circuit FROM wt_cache.stats)",
	'0 closed', 60);
ok(defined $landed, "app's new values reached the cache and the circuit closed");
note sprintf('landed %.1f s after Valkey came back', $landed) if defined $landed;
is($node->safe_psql('postgres', q{SELECT wt_cache.cache_get('acct:7')}),
	'{"id":7,"balance":4242,"note":"app, circuit open"}', "acct:7 holds app's value");
is(wtc_converged($node, 'postgres', 'acct', 60), 'ok',
	'queue drained; every key equals its row');

# And app writes again, circuit closed: pushed at its commit
($rc, $out, $err) = as_app(q{UPDATE acct SET balance = 5, note = 'app, circuit closed' WHERE id = 7});
is($err, '', 'app writes again after the circuit closed, no warning');
is($node->safe_psql('postgres', q{SELECT wt_cache.cache_get('acct:7')}),
	'{"id":7,"balance":5,"note":"app, circuit closed"}', '... and reads its write from the cache');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM wt_cache.retry_queue WHERE state = 'dead'}),
	'0', 'no dead entries');

$node->stop;
done_testing();
