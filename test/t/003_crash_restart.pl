# Crashes and restarts.
# (a) PostgreSQL stopped with -m immediate during a write load while Valkey
#     is down: handoffs held in shared memory may be lost, so after the
#     restart the launcher finds wt_cache.running, logs the unclean stop,
#     and the worker resyncs the attached tables: the cache converges to the
#     table, and a key with no row (planted while PostgreSQL was down) is
#     removed.
# (b) The worker, terminated, is restarted by the launcher; a change made
#     while Valkey is down and the circuit open still lands once Valkey is
#     back.  While Valkey is down the worker probes without spinning.
# (c) The worker shows in pg_stat_activity (backend_type and
#     application_name 'wt_cache worker'), idle when there is nothing to do,
#     and uses next to no CPU then.
# Valkey keeps its data (appendonly, fsync always), as a production one
# would.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(time usleep);
use WtcTest;

my $valkey = wtc_valkey(persistent => 1);
my $node = wtc_node('crash', $valkey, q{
wt_cache.command_timeout = 300
wt_cache.connect_timeout = 300
wt_cache.launcher_naptime = 1
});
wtc_acct_table($node, 500);
is(wtc_converged($node, 'postgres', 'acct'), 'ok', 'cache filled');

my $worker_sql = q{SELECT pid FROM pg_stat_activity
 WHERE backend_type = 'wt_cache worker' AND datname = current_database()};


# CPU the process uses over $secs seconds
sub cpu_over
{
	my ($pid, $secs) = @_;
	my $c0 = wtc_cpu_seconds($pid);
	sleep $secs;
	my $c1 = wtc_cpu_seconds($pid);
	return (defined $c0 && defined $c1) ? $c1 - $c0 : undef;
}

# ---------- (a) immediate stop during a load, Valkey down ----------

my ($out, $err);
my $load = wtc_acct_load($node, 125, 60, \$out, \$err, timeout => 120);

sleep 2;
$valkey->kill9;
note 'valkey killed';
sleep 3;
my $before = $node->safe_psql('postgres',
	'SELECT keys_handed_off, keys_queued, queue_depth, circuit FROM wt_cache.stats');
note "before the crash: keys_handed_off|keys_queued|queue_depth|circuit = $before";
my $t_crash = time;
$node->stop('immediate');
note 'postgres stopped with -m immediate';
# pgbench loses its connections: it fails, as expected here
eval { $load->finish } or $load->kill_kill;
note 'pgbench ended (its connection errors are expected)';

# Valkey back; a key with no row, planted meanwhile, only a resync removes
$valkey->start;
$valkey->cli('SET', 'acct:999999', '{"id":999999}');
my $log_offset = -s $node->logfile;
$node->start;
my $t_start = time;

ok( eval {
		$node->wait_for_log(qr/the server did not stop cleanly/, $log_offset);
		1;
	},
	'the launcher logged the unclean stop');
ok( eval {
		$node->wait_for_log(qr/wt_cache: resynced table "acct"/, $log_offset);
		1;
	},
	'the worker resynced acct');
is(wtc_converged($node, 'postgres', 'acct', 120), 'ok',
	'after the restart every key equals its row');
note sprintf('converged %.1f s after the restart', time - $t_start);
ok( defined wtc_wait($node, 'postgres',
		q{SELECT wt_cache.cache_get('acct:999999') IS NULL}, 't', 60),
	'the resync removed a key that has no row');
is( $node->safe_psql('postgres',
		'SELECT circuit, queue_depth, dead_entries, resyncs >= 1 FROM wt_cache.stats'),
	'closed|0|0|t', 'circuit closed, queue empty, no dead entries, a resync done');

# ---------- (b) the worker is restarted ----------

ok(defined wtc_wait($node, 'postgres', "SELECT count(*) FROM ($worker_sql) w", '1', 60),
	'one worker for the database');
my $pid1 = $node->safe_psql('postgres', $worker_sql);
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid1)"),
	't', "worker $pid1 terminated");
my $t_term = time;
my $new = wtc_wait($node, 'postgres',
	"SELECT count(*) FROM ($worker_sql) w WHERE pid <> $pid1", '1', 60);
ok(defined $new, 'the launcher started a new worker');
my $pid2 = $node->safe_psql('postgres', $worker_sql);
note sprintf('new worker %s running %.1f s after worker %s was terminated',
	$pid2, time - $t_term, $pid1);

# Valkey down; changes until the circuit opens, then one more that must land
$valkey->kill9;
note 'valkey killed';
my $open = 0;
for my $i (1 .. 100)
{
	$node->safe_psql('postgres',
		"UPDATE acct SET touched = now() WHERE id = $i");
	$open = 1, last
	  if $node->safe_psql('postgres', 'SELECT circuit FROM wt_cache.stats') eq 'open';
	usleep(50_000);
}
ok($open, 'the circuit opened with Valkey down');
my $depth0 = $node->safe_psql('postgres', 'SELECT queue_depth FROM wt_cache.stats');
$node->safe_psql('postgres',
	'UPDATE acct SET balance = -4242, touched = now() WHERE id = 42');
cmp_ok($node->safe_psql('postgres', 'SELECT queue_depth FROM wt_cache.stats'),
	'>', $depth0, 'the change was queued');
my $down_cpu = cpu_over($pid2, 2);
ok(defined $down_cpu && $down_cpu < 0.2,
	sprintf('with Valkey down the worker does not spin (%.2f s CPU in 2 s)',
		$down_cpu // -1));

$valkey->start;
my $t_up = time;
my $landed = wtc_wait($node, 'postgres',
	q{SELECT wt_cache.cache_get('acct:42') = row_to_json(t)::text FROM acct t WHERE id = 42},
	't', 60);
ok(defined $landed, 'the change made while the circuit was open landed');
note sprintf('it landed %.1f s after Valkey came back', time - $t_up)
  if defined $landed;
is(wtc_converged($node, 'postgres', 'acct', 60), 'ok', 'every key equals its row');
is($node->safe_psql('postgres', 'SELECT circuit FROM wt_cache.stats'),
	'closed', 'circuit closed again');
is($node->safe_psql('postgres', $worker_sql), $pid2, 'by the new worker');

# ---------- (c) the worker in pg_stat_activity, idle ----------

is( $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'wt_cache worker' AND application_name = 'wt_cache worker'
   AND datname = current_database()}),
	'1', "a 'wt_cache worker' with that application_name");
is( $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'wt_cache launcher'}),
	'1', "a 'wt_cache launcher'");
ok( defined wtc_wait($node, 'postgres',
		"SELECT state FROM pg_stat_activity WHERE pid = $pid2", 'idle', 30),
	'the worker is idle when there is nothing to do');
my $idle_cpu = cpu_over($pid2, 2);
ok(defined $idle_cpu && $idle_cpu < 0.2,
	sprintf('idle, the worker does not busy-loop (%.2f s CPU in 2 s)', $idle_cpu // -1));
is($node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $pid2"),
	'idle', 'still idle');

# ---------- a clean stop is not taken for an unclean one ----------

$node->stop;
$log_offset = -s $node->logfile;
$node->start;
ok(defined wtc_wait($node, 'postgres', "SELECT count(*) FROM ($worker_sql) w", '1', 60),
	'worker running after a clean restart');
ok(!$node->log_contains(qr/did not stop cleanly/, $log_offset),
	'after a clean stop no unclean stop is reported');

$node->stop;
done_testing();
