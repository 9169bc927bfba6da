# Newer never loses to older.  With the test-only push delay, a commit's
# write to Valkey lands after a later commit's write to the same row: the
# version (commit LSN) check in Valkey refuses the late, older write.  The
# same with a delete: its tombstone refuses a late older write.  A control
# run with fencing off (test-only) shows the test can fail: there the older
# write wins.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WtcTest;

my $valkey = wtc_valkey();
my $node = wtc_node('fencing', $valkey);
$node->safe_psql('postgres', q{
CREATE TABLE f (id int PRIMARY KEY, v text);
INSERT INTO f VALUES (1, 'initial'), (2, 'initial');
SELECT wt_cache.attach('f');
UPDATE f SET v = v;
});

# Session A commits first but its write lands 1.5 s later; session B
# commits the same row after A's commit is visible, and writes at once.
sub race
{
	my ($id, $fencing, $later_sql) = @_;
	my $older = "older $fencing";
	my ($out, $err) = ('', '');
	my $a = IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c',
		  "SET wt_cache.test_fencing = $fencing; SET wt_cache.test_push_delay = 1500;"
		  . " UPDATE f SET v = '$older' WHERE id = $id" ],
		'>', \$out, '2>', \$err);
	ok(defined wtc_wait($node, 'postgres', "SELECT v FROM f WHERE id = $id", $older, 10),
		"A committed ($fencing)");
	$node->safe_psql('postgres', "SET wt_cache.test_fencing = $fencing; $later_sql");
	my $right_after = $valkey->cli('GET', "f:$id") // '(nil)';
	$a->finish;
	is($err, '', "A saw no error ($fencing)");
	return ($right_after, $valkey->cli('GET', "f:$id") // '(nil)');
}

my $stale0 = $node->safe_psql('postgres', 'SELECT stale_rejected FROM wt_cache.stats');

# Fenced: the later commit's row stays
my ($mid, $final) = race(1, 'on', q{UPDATE f SET v = 'newer on' WHERE id = 1});
is($mid, '{"id":1,"v":"newer on"}', 'B landed first');
is($final, '{"id":1,"v":"newer on"}', 'the late older write was refused: the newer row stays');
my $stale1 = $node->safe_psql('postgres', 'SELECT stale_rejected FROM wt_cache.stats');
cmp_ok($stale1, '>', $stale0, 'the refusal was counted');

# Fenced, delete: the tombstone refuses the late older write
($mid, $final) = race(2, 'on', q{DELETE FROM f WHERE id = 2});
is($final, '', 'a late older write does not bring a deleted row back');
like($valkey->cli('PTTL', '{f:2}:v'), qr/^\d+$/, 'the tombstone expires');
cmp_ok($valkey->cli('PTTL', '{f:2}:v'), '>', 0, 'the tombstone has a time to live');

# Control: fencing off, the same race leaves the older row in the cache
($mid, $final) = race(1, 'off', q{UPDATE f SET v = 'newer off' WHERE id = 1});
is($final, '{"id":1,"v":"older off"}',
	'control run without fencing: the older write wins (so the test can fail)');

# Cost of fencing: one version key beside each key, in the same hash slot
my $vmem = $valkey->cli('MEMORY', 'USAGE', '{f:1}:v');
note "memory of a version key: $vmem bytes";
cmp_ok($vmem, '>', 0, 'version key exists');

$node->stop;
done_testing();
