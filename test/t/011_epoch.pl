# The epoch, and a Valkey that lost its data.  The launcher keeps the
# server's identity, the epoch and a heartbeat in {wt_cache}:meta; when
# Valkey comes back empty (FLUSHALL, a restart without persistence), names
# another server or timeline, or went back to an older state, it raises the
# epoch and the attached tables are resynced.  Also: the epoch survives a
# restart of PostgreSQL, and wt_cache.resync_progress shows a resync that
# waits for a writer of its table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use WtcTest;

my $valkey = wtc_valkey();
my $node = wtc_node('epoch', $valkey, "wt_cache.check_interval = 200");
$node->safe_psql('postgres', q{
CREATE TABLE e (id int PRIMARY KEY, v text);
INSERT INTO e SELECT g, 'row ' || g FROM generate_series(1, 2000) g;
SELECT wt_cache.attach('e');
});
is(wtc_converged($node, 'postgres', 'e', 30), 'ok', 'attach loaded the existing rows');

sub epoch { $node->safe_psql('postgres', 'SELECT epoch FROM wt_cache.stats') }

# Wait until the epoch is above $from and the cache equals the table again
sub raised_and_repaired
{
	my ($from, $what) = @_;
	ok(defined wtc_wait($node, 'postgres',
			"SELECT epoch > $from FROM wt_cache.stats", 't', 30),
		"$what: epoch raised");
	is(wtc_converged($node, 'postgres', 'e', 60), 'ok', "$what: every row is back in Valkey");
	is($valkey->cli('GET', 'e:7'), '{"id":7,"v":"row 7"}', "$what: a row reads right");
}

my $e0 = epoch();
cmp_ok($e0, '>=', 1, 'the epoch is known');
my $hex0 = sprintf('%04X', $e0);
like($valkey->cli('GET', '{e:1}:v'), qr/^$hex0[0-9A-F]{16}$/,
	'a version is the epoch and an LSN');

# FLUSHALL: everything gone, including wt_cache's metadata
my $log_offset = -s $node->logfile;
$valkey->cli('FLUSHALL');
raised_and_repaired($e0, 'after FLUSHALL');
ok($node->wait_for_log(qr/epoch raised to \d+: Valkey has no wt_cache metadata/, $log_offset),
	'the log says why');
my $e1 = epoch();

# A write right after the raise lands at commit, with the new epoch
$node->safe_psql('postgres', q{UPDATE e SET v = 'after flush' WHERE id = 1});
is($valkey->cli('GET', 'e:1'), '{"id":1,"v":"after flush"}', 'commits land at once');
my $hex1 = sprintf('%04X', $e1);
like($valkey->cli('GET', '{e:1}:v'), qr/^$hex1/, 'with the new epoch');
$node->safe_psql('postgres', q{UPDATE e SET v = 'row 1' WHERE id = 1});

# Restarted empty: killed, started again without its data
$valkey->kill9;
$valkey->start;
raised_and_repaired($e1, 'after a restart without persistence');
my $e2 = epoch();

# Another server or timeline wrote the metadata last (a failover, a
# restore elsewhere): the keys may hold that server's rows
$log_offset = -s $node->logfile;
$valkey->cli('SET', 'e:5', 'from the other server');
$valkey->cli('HSET', '{wt_cache}:meta', 'tli', '999');
raised_and_repaired($e2, 'after another timeline');
ok($node->wait_for_log(qr/epoch raised to \d+: Valkey was last written by another server or timeline/,
		$log_offset), 'the log says why');
is($valkey->cli('GET', 'e:5'), '{"id":5,"v":"row 5"}', 'the other server\'s row was replaced');
my $e3 = epoch();

# Valkey went back to an older state (a replica that lagged, an old
# snapshot): its heartbeat is behind what the launcher saw
$log_offset = -s $node->logfile;
$valkey->cli('HSET', '{wt_cache}:meta', 'beat', '0');
raised_and_repaired($e3, 'after a rollback');
ok($node->wait_for_log(qr/epoch raised to \d+: Valkey went back to an older state/, $log_offset),
	'the log says why');
my $e4 = epoch();

# The metadata alone is lost (evicted, say) while the keys and their
# versions stay: the new epoch is above theirs, so new writes still land
$valkey->cli('DEL', '{wt_cache}:meta');
ok(defined wtc_wait($node, 'postgres', "SELECT epoch > $e4 FROM wt_cache.stats", 't', 30),
	'lost metadata: epoch raised');
$node->safe_psql('postgres', q{UPDATE e SET v = 'after meta loss' WHERE id = 2});
is($valkey->cli('GET', 'e:2'), '{"id":2,"v":"after meta loss"}',
	'a write after the metadata was lost is not refused as older');
$node->safe_psql('postgres', q{UPDATE e SET v = 'row 2' WHERE id = 2});
is(wtc_converged($node, 'postgres', 'e', 60), 'ok', 'converged');
my $e5 = epoch();

# A restart of PostgreSQL keeps the epoch, and resyncs nothing
$node->restart;
ok(defined wtc_wait($node, 'postgres', "SELECT epoch FROM wt_cache.stats", $e5, 30),
	'the epoch is the same after a restart');
usleep(1_000_000);
is($node->safe_psql('postgres', 'SELECT resyncs FROM wt_cache.stats'), '0',
	'no resync after a clean restart');
is($valkey->cli('HGET', '{wt_cache}:meta', "db:" . $node->safe_psql('postgres',
			"SELECT oid FROM pg_database WHERE datname = 'postgres'")), $e5,
	'the database is recorded as resynced at this epoch');

# Progress: a resync waits for a transaction writing the table, and shows it
my $writer = $node->background_psql('postgres');
$writer->query_safe(q{BEGIN; UPDATE e SET v = 'held' WHERE id = 3;});
my ($out, $err) = ('', '');
my $resync = IPC::Run::start(
	[ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c',
	  "SELECT wt_cache.resync('e')" ], '>', \$out, '2>', \$err);
ok(defined wtc_wait($node, 'postgres',
		q{SELECT "table" || ' ' || kind || ' ' || phase FROM wt_cache.resync_progress},
		'e resync waiting for transactions', 30),
	'wt_cache.resync_progress shows the resync waiting for the writer');
$writer->query_safe('COMMIT');
$resync->finish;
# The writer committed after the resync took its version: its row is the
# writer's to write, and the resync leaves it out
is($out, "1999\n", 'the resync wrote every other row once the writer was done');
is($node->safe_psql('postgres', 'SELECT count(*) FROM wt_cache.resync_progress'), '0',
	'and is gone from the view');
is($valkey->cli('GET', 'e:3'), '{"id":3,"v":"held"}', 'the writer\'s row is in Valkey');
$writer->quit;

$node->stop;
done_testing();
