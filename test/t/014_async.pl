# wt_cache.async_push: commits hand their pushes to the worker through
# shared memory, and the worker sends them.  Nothing may be lost on the way:
# (a) Valkey frozen, then killed, during a write load of asynchronous
#     commits, back seconds later: no client sees an error, the worker hands
#     what failed to the retry path, and every key converges to its row.
# (b) Pushes still in shared memory when PostgreSQL stops with -m immediate
#     (Valkey's writes paused, so the worker waits on its first send): after
#     the restart the launcher sees the unclean stop and the attached tables
#     are resynced.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WtcTest;

my $valkey = wtc_valkey(persistent => 1);
my $node = wtc_node('async', $valkey, q{
wt_cache.command_timeout = 200
wt_cache.async_push = on
wt_cache.launcher_naptime = 1
});
wtc_acct_table($node, 500);
is(wtc_converged($node, 'postgres', 'acct'), 'ok', 'cache filled');

# ---------- (a) an outage under a load of asynchronous commits ----------

my $pushed0 = $node->safe_psql('postgres', 'SELECT xacts_pushed FROM wt_cache.stats');
my ($out, $err);
my $load = wtc_acct_load($node, 125, 12, \$out, \$err);
sleep 2;
$valkey->outage;

ok($load->finish, 'pgbench exited 0')
  or diag('pgbench: exit ' . ($load->full_result // 'undef') . "\n$out\n$err");
unlike($err, qr/ERROR|WARNING/, 'no client saw an error or warning');
my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
note "transactions during the test: " . ($tx // '?');
cmp_ok($tx // 0, '>', 100, 'the load kept committing');
my ($pushed, $failed, $retried) = split /\|/, $node->safe_psql('postgres',
	'SELECT xacts_pushed, push_failures, keys_handed_off + keys_queued FROM wt_cache.stats');
cmp_ok($pushed - $pushed0, '>', 100, 'the worker sent and counted the pushes');
cmp_ok($failed, '>', 0, "pushes failed during the outage ($failed)");
cmp_ok($retried, '>', 0, "keys went to the retry path ($retried)");
my $t0 = time;
is(wtc_converged($node, 'postgres', 'acct', 120), 'ok',
	'after the queue drains, every key equals its row');
note sprintf('converged %.1f s after the load ended', time - $t0);

# ---------- (b) pushes in shared memory at an immediate stop ----------

# A long timeout keeps the worker waiting on its first send, so the later
# pushes stay in the ring
$node->safe_psql('postgres', q{ALTER SYSTEM SET wt_cache.command_timeout = '30s'});
$node->reload;
ok(defined wtc_wait($node, 'postgres',
		q{SELECT circuit FROM wt_cache.stats}, 'closed', 60),
	'circuit closed');
$pushed0 = $node->safe_psql('postgres', 'SELECT xacts_pushed FROM wt_cache.stats');
$valkey->cli('CLIENT', 'PAUSE', '60000', 'WRITE');
note 'valkey writes paused';
for my $id (1 .. 20)
{
	$node->safe_psql('postgres',
		"UPDATE acct SET balance = -$id, touched = now() WHERE id = $id");
}
sleep 1;
is( $node->safe_psql('postgres', q{
SELECT xacts_pushed - } . $pushed0 . q{, (SELECT count(*) FROM wt_cache.retry_queue)
  FROM wt_cache.stats}),
	'0|0', 'the 20 pushes are neither sent nor queued: they wait in shared memory');
$node->stop('immediate');
note 'postgres stopped with -m immediate';
$valkey->cli('CLIENT', 'UNPAUSE');
my $log_offset = -s $node->logfile;
$node->start;
ok( eval {
		$node->wait_for_log(qr/the server did not stop cleanly/, $log_offset);
		1;
	},
	'the launcher logged the unclean stop');
is(wtc_converged($node, 'postgres', 'acct', 120), 'ok',
	'after the restart every key equals its row');
is($node->safe_psql('postgres',
		q{SELECT wt_cache.cache_get('acct:20') = row_to_json(t)::text FROM acct t WHERE id = 20}),
	't', 'the last change made before the stop is in the cache');

$node->stop;
done_testing();
