# Valkey frozen, then killed, during a write load, back seconds later: no
# client sees an error, and once the queue drains every key equals its row.
# Valkey keeps its data (appendonly, fsync always), as a production one
# would; Valkey restarted empty is the fencing issue's case.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WtcTest;

my $valkey = wtc_valkey(persistent => 1);
my $node = wtc_node('outage', $valkey, "wt_cache.command_timeout = 200\n");
wtc_acct_table($node, 500);
is(wtc_converged($node, 'postgres', 'acct'), 'ok', 'cache filled before the outage');

# A write load of 4 clients for 12 seconds.  Each client has its own rows:
# the order of two commits of one row is the fencing issue's (its stress
# test); here every key must converge through the retry path.
my ($out, $err);
my $load = wtc_acct_load($node, 125, 12, \$out, \$err);

sleep 2;
$valkey->outage;

my $finished = $load->finish;
ok($finished, 'pgbench exited 0')
  or diag('pgbench: exit ' . ($load->full_result // 'undef') . "\n$out\n$err");
like($out, qr/number of failed transactions: 0/, 'no transaction failed')
  if $out =~ /failed transactions/;
unlike($err, qr/ERROR|WARNING/, 'no client saw an error or warning');
my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
note "transactions during the test: " . ($tx // '?');
cmp_ok($tx // 0, '>', 100, 'the load kept committing');

my $stats = $node->safe_psql('postgres',
	'SELECT keys_handed_off + keys_queued FROM wt_cache.stats');
cmp_ok($stats, '>', 0, "keys went to the retry path ($stats)");
my $t0 = time;
is(wtc_converged($node, 'postgres', 'acct', 120), 'ok',
	'after the queue drains, every key equals its row');
note sprintf('converged %.1f s after the load ended', time - $t0);
is($node->safe_psql('postgres', q{SELECT circuit FROM wt_cache.stats}),
	'closed', 'circuit closed again');

$node->stop;
done_testing();
