# A transaction waiting for a row that a committing transaction changed
# does not wait for Valkey too: the committing session sends its script
# call while it still holds its row locks, and reads the reply after
# PostgreSQL has released them.
#
# Session A changes row 1; session B's UPDATE of row 1 waits for A.  Valkey
# is frozen (SIGSTOP), and A commits with a 3 s command_timeout: A's COMMIT
# waits for Valkey's reply until it times out (its key then goes to the
# worker), but B must get the row at A's commit record, seconds before A's
# COMMIT returns.  Then Valkey thaws, B commits, and the key ends as B's row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WtcTest;

my $valkey = wtc_valkey();
my $node = wtc_node('lock_wait', $valkey, qq{
wt_cache.retry_backoff_max = 1000
});
$node->safe_psql('postgres', q{
CREATE TABLE lw (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO lw VALUES (1, 'zero');
SELECT wt_cache.attach('lw', load => false);
});

# A psql session fed statement by statement
sub session
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $node->host,
		  '-p', $node->port, '-d', 'postgres' ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return { h => $h, in => \$in, out => \$out, err => \$err };
}

# Send $sql; with $marker, wait until psql has run it
sub run
{
	my ($s, $sql, $marker) = @_;
	${ $s->{in} } .= "$sql\n";
	unless ($marker)
	{
		# hand the statement to psql without waiting for its result
		$s->{h}->pump_nb while length ${ $s->{in} };
		return;
	}
	${ $s->{in} } .= "\\echo $marker\n";
	$s->{h}->pump until ${ $s->{out} } =~ /^$marker$/m;
}

my $a = session();
my $b = session();

# A's connection to Valkey is open (a commit used it) before Valkey freezes
run($a, q{SET wt_cache.command_timeout = '3s'; UPDATE lw SET v = 'warm' WHERE id = 1;}, 'warm');
is($node->safe_psql('postgres', q{SELECT wt_cache.cache_get('lw:1')}),
	'{"id":1,"v":"warm"}', 'the warm-up commit reached Valkey');

run($a, q{BEGIN; UPDATE lw SET v = 'a' WHERE id = 1;}, 'a_updated');
run($b, q{BEGIN; UPDATE lw SET v = 'b' WHERE id = 1;
SELECT 'b_got_row ' || extract(epoch FROM clock_timestamp());});
ok( defined wtc_wait(
		$node, 'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'},
		'1', 30),
	"B waits for A's row");

$valkey->freeze;
my $t0 = time;
run($a, q{COMMIT; SELECT 'a_committed ' || extract(epoch FROM clock_timestamp());}, 'a_done');
my $a_wait = time - $t0;
$b->{h}->pump until ${ $b->{out} } =~ /^b_got_row /m;
$valkey->thaw;

my ($a_at) = ${ $a->{out} } =~ /^a_committed ([\d.]+)$/m;
my ($b_at) = ${ $b->{out} } =~ /^b_got_row ([\d.]+)$/m;
note sprintf("A's COMMIT took %.2f s; B got the row %.2f s before it returned",
	$a_wait, $a_at - $b_at);
cmp_ok($a_wait, '>=', 2.5, "A's COMMIT waited for the frozen Valkey (3 s timeout)");
cmp_ok($a_at - $b_at, '>=', 2, "B got the row at A's commit record, not after A's wait for Valkey");
is(${ $a->{err} }, '', "A's COMMIT raised nothing");

run($b, q{COMMIT;}, 'b_done');
is(${ $b->{err} }, '', "B committed");
$_->{h}->finish for ($a, $b);

my $stats = $node->safe_psql('postgres', 'SELECT push_failures > 0 FROM wt_cache.stats');
is($stats, 't', "A's push timed out, after its commit record");
is(wtc_converged($node, 'postgres', 'lw'), 'ok', 'the key ends as the row (B\'s)');
is($node->safe_psql('postgres', q{SELECT wt_cache.cache_get('lw:1')}),
	'{"id":1,"v":"b"}', "Valkey holds B's row");

done_testing();
