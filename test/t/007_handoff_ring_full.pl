# When the shared-memory handoff ring is full, nothing is dropped silently:
# the keys that do not fit mark their table as needing a resync, and the
# worker resyncs it (removes its keys, writes every row).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WtcTest;

my $valkey = wtc_valkey();
# The smallest ring: 64 kB, far less than 5,000 handed-off keys
my $node = wtc_node('ringfull', $valkey,
	"wt_cache.handoff_ring_size = 64kB\nwt_cache.command_timeout = 200\n");
$node->safe_psql('postgres', q{
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 5000) g;
SELECT wt_cache.attach('big');
UPDATE big SET payload = payload;
});
is(wtc_converged($node, 'postgres', 'big'), 'ok', 'cache filled');

# In one session: a first commit opens the connection; then Valkey is
# frozen, so that the next commit's push times out after its commit record
# and its 5,000 keys go to the handoff ring, which cannot hold them.
my $pid = $valkey->{pid};
my ($stdout, $stderr);
$node->psql('postgres', qq{
UPDATE big SET payload = payload WHERE id = 1;
\\! kill -STOP $pid
UPDATE big SET payload = 'changed ' || id;
\\! kill -CONT $pid
}, stdout => \$stdout, stderr => \$stderr);
is($stderr, '', 'the commit succeeded without a warning');
my $stats = $node->safe_psql('postgres',
	'SELECT keys_handed_off, keys_lost FROM wt_cache.stats');
my ($handed, $lost) = split /\|/, $stats;
cmp_ok($handed, '<', 5000, "only part of the keys fit in the ring ($handed)");
is($lost, 0, 'no key counted as lost');

# The worker stores what fit, queues a resync for the rest, and runs it
ok( defined wtc_wait($node, 'postgres',
		q{SELECT resyncs > 0 FROM wt_cache.stats}, 't', 60),
	'the table was resynced');
is(wtc_converged($node, 'postgres', 'big'), 'ok',
	'every key equals its row');
like(slurp_file($node->logfile), qr/resynced table "big"/, 'the resync is logged');

$node->stop;
done_testing();
