# Valkey down for longer (8 s) during a write load: no commit waits for
# it longer than the timeouts allow, no client sees an error, the circuit
# opens and commits queue their keys in wt_cache.retry_queue instead; a
# 50,000-row UPDATE of a second table made meanwhile is queued too.  Once
# Valkey is back the circuit closes, the queue drains and every key equals
# its row.  Notes the worst commit latency and the drain rate.
# Valkey keeps its data (appendonly, fsync always), as a production one
# would; Valkey restarted empty is the fencing issue's case.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(time usleep);
use WtcTest;

my $command_timeout_ms = 300;
my $connect_timeout_ms = 300;
my $slack_ms = 1500;
my $load_s = 16;
my $kill_at = 3;     # s into the load
my $down_s = 8;
my $wide_rows = 50_000;

my $valkey = wtc_valkey(persistent => 1);
my $node = wtc_node('long_outage', $valkey, qq{
wt_cache.command_timeout = $command_timeout_ms
wt_cache.connect_timeout = $connect_timeout_ms
});

# acct: the load's rows, 250 per client.  wide: the bulk update's rows.
wtc_acct_table($node, 1000);
$node->safe_psql('postgres', qq{
CREATE TABLE wide (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
INSERT INTO wide SELECT g, 0, repeat(md5(g::text), 6) FROM generate_series(1, $wide_rows) g;
SELECT wt_cache.attach('wide');
SET wt_cache.command_timeout = '30s';
UPDATE wide SET v = 1;
});

# Rows of wide whose key differs from the row, read with MGET in chunks
# (one cache_get per row would take seconds for 50,000 rows)
sub wide_stale
{
	return $node->safe_psql('postgres', q{
WITH r AS (SELECT id, row_to_json(t)::text AS j, (id - 1) / 5000 AS chunk FROM wide t),
c AS (SELECT chunk, array_agg(id ORDER BY id) AS ids, array_agg(j ORDER BY id) AS js
        FROM r GROUP BY chunk),
g AS (SELECT c.js, wt_cache.cache_command(VARIADIC ARRAY['MGET']
                || (SELECT array_agg('wide:' || i ORDER BY o)
                      FROM unnest(c.ids) WITH ORDINALITY AS u(i, o)))::json AS vals
        FROM c)
SELECT count(*) FROM g, ROWS FROM (unnest(g.js), json_array_elements_text(g.vals)) AS w(j, v)
 WHERE w.v IS DISTINCT FROM w.j});
}

sub stats
{
	my $row = $node->safe_psql('postgres',
		'SELECT queue_depth, circuit, keys_queued + keys_handed_off, extract(epoch FROM circuit_changed_at) FROM wt_cache.stats');
	my %s;
	@s{qw(depth circuit queued changed_at)} = split /\|/, $row;
	return \%s;
}

is(wtc_converged($node, 'postgres', 'acct'), 'ok', 'acct cached before the outage');
is(wide_stale(), '0', 'wide cached before the outage');

my $worker = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
 WHERE backend_type = 'wt_cache worker' AND datname = current_database()});

my $before = stats();

# A write load of 4 clients; each client has its own rows (the order of two
# commits of one row is the fencing issue's case).  -l logs each
# transaction's latency.
my $logprefix = $node->basedir . '/pgbench_log';
my ($out, $err);
my $load = wtc_acct_load($node, 250, $load_s, \$out, \$err,
	args => [ '-l', "--log-prefix=$logprefix" ], timeout => 180);
my $t_load = time;

usleep(1_000_000 * ($t_load + $kill_at - time)) if time < $t_load + $kill_at;
my $t_kill = time;
$valkey->kill9;
my $cpu_kill = wtc_cpu_seconds($worker);
note sprintf('valkey killed %.1f s into the load', $t_kill - $t_load);

# While it is down: one UPDATE of every row of wide, beside the load
my ($wout, $werr) = ('', '');
my $wide = IPC::Run::start(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $node->host,
	  '-p', $node->port, '-d', 'postgres',
	  '-c', '\timing on', '-c', 'UPDATE wide SET v = v + 1' ],
	'>', \$wout, '2>', \$werr, IPC::Run::timeout(120));

# Watch the queue and the circuit while Valkey is down
my ($max_depth, $saw_open, $nsamples) = (0, 0, 0);
while (time < $t_kill + $down_s - 1)
{
	my $s = stats();
	$nsamples++;
	$max_depth = $s->{depth} if $s->{depth} > $max_depth;
	$saw_open = 1 if $s->{circuit} eq 'open';
	usleep(250_000);
}
ok(eval { $wide->finish }, 'the UPDATE of wide committed while Valkey was down')
  or diag("psql: $@\n$wout\n$werr");
my ($wide_ms) = $wout =~ /Time: ([\d.]+) ms/;
note sprintf('UPDATE of %d rows of wide with Valkey down: %s ms',
	$wide_rows, $wide_ms // '?');
my $down = stats();
cmp_ok($max_depth, '>', 0,
	"the queue grew while Valkey was down (max depth $max_depth in $nsamples samples)");
ok($saw_open, 'the circuit was seen open while Valkey was down');
cmp_ok($down->{queued} - $before->{queued}, '>=', $wide_rows,
	'the UPDATE of wide queued its keys ('
	  . ($down->{queued} - $before->{queued}) . ' keys queued in the outage)');

my $cpu_up = wtc_cpu_seconds($worker);
my $t_restart = time;
$valkey->start;
my $t_up = time;
note sprintf('valkey back after %.1f s down (its restart took %.1f s); the worker used %.2f s CPU meanwhile',
	$t_up - $t_kill, $t_up - $t_restart, $cpu_up - $cpu_kill);

# Until the queue is empty, every 0.1 s: its depth (all keys, and wide's
# alone) and the circuit.  The load may still be running meanwhile.  The
# drain starts when the circuit closes (circuit_changed_at), and has to
# write every key queued since the kill (keys_queued and keys_handed_off;
# the queue was empty before).
my @samples;
my ($t_closed, $n_drained, $t_empty, $t_wide_empty);
while (time - $t_up < 120)
{
	my $s = stats();
	my $t = time;
	my $wide_depth = $node->safe_psql('postgres', q{
SELECT count(*) FROM wt_cache.retry_queue
 WHERE state = 'pending' AND rel = 'wide'::regclass});
	push @samples, [ $t, $s->{depth} ];
	$t_closed = $s->{changed_at}
	  if !defined $t_closed && $s->{circuit} eq 'closed';
	$t_wide_empty //= $t if defined $t_closed && $wide_depth == 0;
	if (defined $t_closed && $s->{depth} == 0)
	{
		$t_empty = $t;
		$n_drained = $s->{queued} - $before->{queued};
		last;
	}
	usleep(100_000);
}
ok(defined $t_closed, 'the circuit closed once Valkey was back');
ok(defined $t_empty, 'the queue drained');
note sprintf('circuit closed %.1f s after Valkey came back', $t_closed - $t_up)
  if defined $t_closed;
note sprintf('drain: %d keys (%d of them wide\'s) in %.1f s = %.0f keys/s, '
	  . 'from circuit closed to queue empty; wide\'s keys gone after %.1f s',
	$n_drained, $wide_rows, $t_empty - $t_closed,
	$n_drained / (($t_empty - $t_closed) || 0.001), $t_wide_empty - $t_closed)
  if defined $t_empty;

my $finished = eval { $load->finish };
$load->kill_kill if $@;
ok($finished, 'pgbench exited 0')
  or diag("pgbench: $@ exit " . ($load->full_result // 'undef') . "\n$out\n$err");
like($out, qr/number of failed transactions: 0/, 'no transaction failed')
  if $out =~ /failed transactions/;
unlike($err, qr/ERROR|WARNING/, 'no client saw an error or warning');
my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
cmp_ok($tx // 0, '>', 100, 'the load kept committing');

# pgbench's per-transaction log: client_id transaction_no time(us)
# script_no time_epoch time_us (when the transaction ended)
my ($worst_us, $worst_at, $ntx, $nbad, $load_end) = (0, 0, 0, 0, 0);
my %phase = (before => 0, down => 0, after => 0);
my @logs = glob("$logprefix.*");
ok(@logs > 0, 'pgbench wrote its transaction log');
for my $log (@logs)
{
	open(my $lf, '<', $log) or die "$log: $!";
	while (my $line = <$lf>)
	{
		my @f = split ' ', $line;
		$ntx++;
		if (@f < 6 || $f[2] !~ /^\d+$/)
		{
			$nbad++;
			next;
		}
		my $at = $f[4] + $f[5] / 1e6;
		$load_end = $at if $at > $load_end;
		$phase{ $at < $t_kill ? 'before' : $at < $t_up ? 'down' : 'after' }++;
		if ($f[2] > $worst_us)
		{
			$worst_us = $f[2];
			$worst_at = $at;
		}
	}
	close $lf;
}
is($nbad, 0, "every logged transaction succeeded ($ntx logged)");
note sprintf('transactions: %d; per second: %.0f before the outage, %.0f while Valkey was down, %.0f after',
	$ntx, $phase{before} / ($t_kill - $t_load),
	$phase{down} / ($t_up - $t_kill),
	$load_end > $t_up ? $phase{after} / ($load_end - $t_up) : 0);
my $bound_ms = $command_timeout_ms + $connect_timeout_ms + $slack_ms;
note sprintf('worst commit latency: %.1f ms, at %+.1f s from the kill of Valkey',
	$worst_us / 1000, $worst_at - $t_kill);
cmp_ok($worst_us / 1000, '<', $bound_ms,
	"every commit took less than $bound_ms ms");

# After the load: what was left, and how long it took to go
if (defined $t_empty && $t_empty <= $load_end)
{
	note sprintf('after the load: 0 keys pending (the queue had drained %.1f s before the load ended)',
		$load_end - $t_empty);
}
elsif (defined $t_empty)
{
	# The last sample before the load ended (or the first after)
	my @upto = grep { $_->[0] <= $load_end } @samples;
	my $at_end = @upto ? $upto[-1] : $samples[0];
	note sprintf('after the load: %d keys pending (sampled %+.1f s from its end), queue empty %.1f s after it ended%s',
		$at_end->[1], $at_end->[0] - $load_end, $t_empty - $load_end,
		$t_closed > $load_end
		  ? sprintf(' (the circuit closed %.1f s after the load ended)', $t_closed - $load_end)
		  : '');
}

is(wtc_converged($node, 'postgres', 'acct', 120), 'ok',
	'after the queue drains, every acct key equals its row');
is(wide_stale(), '0', 'every wide key equals its row');
my $final = $node->safe_psql('postgres',
	'SELECT circuit, queue_depth, dead_entries FROM wt_cache.stats');
is($final, 'closed|0|0', 'circuit closed, queue empty, no dead entries');
note 'stats: ' . $node->safe_psql('postgres',
	q{SELECT format('xacts_pushed=%s keys_written=%s push_failures=%s keys_handed_off=%s keys_queued=%s retries_written=%s retry_failures=%s keys_lost=%s resyncs=%s',
	  xacts_pushed, keys_written, push_failures, keys_handed_off, keys_queued,
	  retries_written, retry_failures, keys_lost, resyncs) FROM wt_cache.stats});
note sprintf('test body took %.1f s', time - $t_load);

$node->stop;
done_testing();
