# wt_cache.unix_socket = 'auto', the default: a connection opened by host
# and port asks the server for its unix socket (CONFIG GET unixsocket) and
# moves to it, but only when the process behind the socket is that server.
#
# (1) A Valkey with a unix socket: the backend, the worker and the launcher
#     all end up on it, and commits write through it.
# (2) A Valkey without one: TCP.
# (3) A Valkey whose socket path leads to another server (its socket
#     replaced by a symlink to the first one's): wt_cache stays on TCP and
#     writes to the server at host and port; the other server is connected
#     to (the pid behind the socket is checked) but gets no AUTH, so no
#     password goes to a process that is not the server asked.
#
# wt_cache logs in as an ACL user that all three servers have, with the
# same password, so that an AUTH sent to the wrong server would succeed;
# the test's own redis-cli uses the default user without AUTH, so that
# every AUTH a server counts is wt_cache's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use WtcTest;

my $pw = sprintf('sockPW%08x%08x', int(rand(2**32)), $$);
my $sockdir = PostgreSQL::Test::Utils::tempdir('sock');
my $asock = "$sockdir/a.sock";
my $bsock = "$sockdir/b.sock";

my $a = wtc_valkey(args => [ '--unixsocket', $asock, '--unixsocketperm', '700' ]);
my $b = wtc_valkey(args => [ '--unixsocket', $bsock, '--unixsocketperm', '700' ]);
my $c = wtc_valkey();

# redis-cli, as the default user (no AUTH)
sub vcli
{
	my ($v, @args) = @_;
	my $out = `'$v->{cli}' -p @{[ $v->port ]} @{[ map { quotemeta } @args ]} 2>&1`;
	chomp $out;
	return $out;
}

# A field of INFO's text
sub info
{
	my ($v, $section, $field) = @_;
	my ($value) = vcli($v, 'INFO', $section) =~ /^\Q$field\E:([^\r\n]*)/m;
	return $value // '';
}

# AUTH calls a server has answered so far
sub auth_calls
{
	my ($v) = @_;
	my ($n) = vcli($v, 'INFO', 'commandstats') =~ /^cmdstat_auth:calls=(\d+)/m;
	return $n // 0;
}

for my $v ($a, $b, $c)
{
	is(vcli($v, 'ACL', 'SETUSER', 'wtc', 'on', ">$pw", 'allkeys', 'allchannels', 'allcommands'), 'OK',
		'Valkey on port ' . $v->port . ' has the ACL user wtc');
}

my $node = wtc_node('sock', $a, q{
wt_cache.username = 'wtc'
wt_cache.password_file = 'valkey.pw'
wt_cache.launcher_naptime = 1
});
my $pwfile = $node->data_dir . '/valkey.pw';
open(my $fh, '>', $pwfile) or die "could not write $pwfile: $!";
print $fh "$pw\n";
close $fh;
chmod(0600, $pwfile) or die;
$node->reload;

is($node->safe_psql('postgres', 'SHOW wt_cache.unix_socket'), 'auto', 'the default is auto');
$node->safe_psql('postgres', q{
CREATE TABLE acct (id int PRIMARY KEY, note text);
SELECT wt_cache.attach('acct');
});

sub row_json
{
	my ($id) = @_;
	return $node->safe_psql('postgres', "SELECT row_to_json(a)::text FROM acct a WHERE id = $id");
}

# The backend's own connection, as Valkey sees it
sub my_client
{
	return $node->safe_psql('postgres', q{
INSERT INTO acct VALUES (0, 'probe') ON CONFLICT (id) DO UPDATE SET note = 'probe';
SELECT wt_cache.cache_command('CLIENT', 'INFO')});
}

# Point the node at $v's port and wait until new sessions write there
sub point_at
{
	my ($v) = @_;
	$node->safe_psql('postgres', 'ALTER SYSTEM SET wt_cache.port = ' . $v->port . '; SELECT pg_reload_conf()');
	ok(defined wtc_wait($node, 'postgres', 'SHOW wt_cache.port', $v->port, 10),
		'new sessions use port ' . $v->port);
}

# ---- (1) a socket of the same server: everything moves to it
$node->safe_psql('postgres', q{INSERT INTO acct VALUES (1, 'through a.sock')});
is(vcli($a, 'GET', 'acct:1'), row_json(1), '(1) the commit wrote its row');
like(my_client(), qr/addr=\Q$asock\E:0 /, '... through the unix socket');
# The worker and the launcher connect as well
ok(defined wtc_wait($node, 'postgres', q{SELECT count(*) > 0 FROM wt_cache.stats WHERE circuit = 'closed'}, 't', 30),
	'... the worker is connected');
# (a connection on its way to the socket is on TCP for a round trip: poll)
my @tcp;
for (1 .. 50)
{
	@tcp = grep { /addr=127\.0\.0\.1:/ && !/cmd=client\|list/ }
	  split /\n/, vcli($a, 'CLIENT', 'LIST');
	last unless @tcp;
	Time::HiRes::usleep(100_000);
}
is(scalar(@tcp), 0, '... and no connection of the node stays on TCP')
  or diag(join("\n", @tcp));

# ---- (2) a server without a socket: TCP
point_at($c);
$node->safe_psql('postgres', q{INSERT INTO acct VALUES (2, 'over TCP')});
is(vcli($c, 'GET', 'acct:2'), row_json(2), '(2) a server without a socket: the commit wrote its row');
like(my_client(), qr/addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\Q@{[ $c->port ]}\E /, '... over TCP');

# ---- (3) b's socket path leads to a
unlink($bsock) or die "unlink $bsock: $!";
symlink($asock, $bsock) or die "symlink: $!";
is(vcli($b, 'CONFIG', 'GET', 'unixsocket'), "unixsocket\n$bsock", "(3) b still names $bsock as its socket");
my $a_conns = info($a, 'stats', 'total_connections_received');
my $a_auths = auth_calls($a);
point_at($b);
$node->safe_psql('postgres', q{INSERT INTO acct VALUES (3, 'b, over TCP')});
is(vcli($b, 'GET', 'acct:3'), row_json(3), '... the commit wrote its row to b');
like(my_client(), qr/addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\Q@{[ $b->port ]}\E /, '... over TCP');
is(vcli($a, 'EXISTS', 'acct:3'), '0', '... and nothing to a');
cmp_ok(info($a, 'stats', 'total_connections_received'), '>', $a_conns,
	'... a was reached through the symlink (and left)');
is(auth_calls($a), $a_auths, '... but was sent no AUTH');

# ---- and back on a: through its socket again
point_at($a);
$node->safe_psql('postgres', q{UPDATE acct SET note = 'a again' WHERE id = 1});
is(vcli($a, 'GET', 'acct:1'), row_json(1), 'back on a: the commit wrote its row');
like(my_client(), qr/addr=\Q$asock\E:0 /, '... through the unix socket');

$node->stop;
done_testing();
