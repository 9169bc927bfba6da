# test/t/WtcTest.pm: shared helpers of wt_cache's TAP tests.
#
# A throwaway Valkey (valkey-server, or Debian's redis-server) on a free
# loopback port, which a test can freeze, kill and restart; a PostgreSQL
# node with wt_cache preloaded and pointed at it; and bounded polls.
package WtcTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(usleep time);

our @EXPORT = qw(wtc_valkey wtc_node wtc_wait wtc_converged wtc_acct_table
  wtc_acct_load wtc_cpu_seconds);

# ---------- Valkey ----------

sub wtc_valkey
{
	my (%opts) = @_;
	my $self = bless {}, 'WtcValkey';
	chomp(my $server = `command -v valkey-server || command -v redis-server`);
	chomp(my $cli = `command -v valkey-cli || command -v redis-cli`);
	die "no valkey-server or redis-server" unless $server;
	$self->{server} = $server;
	$self->{cli} = $cli;
	$self->{port} = PostgreSQL::Test::Cluster::get_free_port();
	$self->{dir} = PostgreSQL::Test::Utils::tempdir('valkey');
	# appendonly: data survives a kill, as a production Valkey's would
	$self->{args} = $opts{persistent}
	  ? [ '--appendonly', 'yes', '--appendfsync', 'always' ]
	  : [ '--appendonly', 'no' ];
	push @{ $self->{args} }, @{ $opts{args} || [] };
	$self->start;
	return $self;
}

package WtcValkey;

use Time::HiRes qw(usleep);

sub start
{
	my ($self) = @_;
	system($self->{server}, '--port', $self->{port}, '--bind', '127.0.0.1',
		'--save', '', '--dir', $self->{dir}, '--daemonize', 'yes',
		'--pidfile', "$self->{dir}/valkey.pid",
		'--logfile', "$self->{dir}/valkey.log",
		'--enable-debug-command', 'local', @{ $self->{args} }) == 0
	  or die "could not start $self->{server}";
	for (1 .. 200)
	{
		last if ($self->cli('PING') // '') eq 'PONG';
		usleep(50_000);
	}
	die "valkey did not start" unless ($self->cli('PING') // '') eq 'PONG';
	open(my $fh, '<', "$self->{dir}/valkey.pid") or die;
	chomp($self->{pid} = <$fh>);
	close $fh;
}

sub cli
{
	my ($self, @args) = @_;
	my $out = `'$self->{cli}' -p $self->{port} @{[ map { quotemeta } @args ]} 2>/dev/null`;
	return undef if $? != 0;
	chomp $out;
	return $out;
}

sub port { $_[0]->{port} }
sub freeze { kill 'STOP', $_[0]->{pid} }
sub thaw { kill 'CONT', $_[0]->{pid} }

# Kill it hard (SIGKILL), as a crash would
sub kill9
{
	my ($self) = @_;
	kill 'CONT', $self->{pid};
	kill 'KILL', $self->{pid};
	usleep(100_000) while kill 0, $self->{pid};
	unlink "$self->{dir}/valkey.pid";
}

# An outage: frozen for 2 s (commands time out), then killed, and started
# again 3 s later (with its data, if persistent)
sub outage
{
	my ($self) = @_;
	$self->freeze;
	Test::More::note('valkey frozen');
	sleep 2;
	$self->kill9;
	Test::More::note('valkey killed');
	sleep 3;
	$self->start;
	Test::More::note('valkey back');
}

sub DESTROY
{
	my ($self) = @_;
	if ($self->{pid} && kill 0, $self->{pid})
	{
		kill 'CONT', $self->{pid};
		kill 'KILL', $self->{pid};
	}
}

package WtcTest;

# ---------- PostgreSQL ----------

# A node with wt_cache preloaded, pointed at $valkey, extension created
sub wtc_node
{
	my ($name, $valkey, $extra_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'wt_cache'
wt_cache.host = '127.0.0.1'
wt_cache.port = @{[ $valkey->port ]}
wt_cache.log_interval = 0
max_prepared_transactions = 10
fsync = off
@{[ $extra_conf // '' ]}
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION wt_cache');
	return $node;
}

# Table acct, the one wtc_acct_load writes: $rows rows, attached, then each
# updated once (so that every key is written at commit)
sub wtc_acct_table
{
	my ($node, $rows) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL, touched timestamptz);
INSERT INTO acct SELECT g, 0, now() FROM generate_series(1, $rows) g;
SELECT wt_cache.attach('acct');
UPDATE acct SET touched = now();
});
}

# Start a write load in the background: pgbench, 4 clients for $seconds,
# each client updating its own $per_client rows of table acct (so that no
# two commits touch one row).  pgbench's output goes to $$out and $$err;
# %opts: args (more pgbench arguments), timeout (seconds).  Returns the
# IPC::Run harness.
sub wtc_acct_load
{
	my ($node, $per_client, $seconds, $out, $err, %opts) = @_;
	my $script = $node->basedir . '/load.sql';
	open(my $fh, '>', $script) or die;
	print $fh "\\set id 1 + :client_id * $per_client + random(0, "
	  . ($per_client - 1) . ")\n"
	  . "UPDATE acct SET balance = balance + 1, touched = now() WHERE id = :id;\n";
	close $fh;
	($$out, $$err) = ('', '');
	return IPC::Run::start(
		[ 'pgbench', '-n', '-c', '4', '-T', $seconds, '-f', $script,
		  @{ $opts{args} // [] },
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', $out, '2>', $err,
		$opts{timeout} ? IPC::Run::timeout($opts{timeout}) : ());
}

# CPU time (user + system) a process used so far, in seconds
sub wtc_cpu_seconds
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return undef;
	my $stat = <$fh>;
	close $fh;
	# After "(comm)": utime and stime are the 12th and 13th fields
	$stat =~ s/^.*\)\s+//s;
	my @f = split ' ', $stat;
	return ($f[11] + $f[12]) / (POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100);
}

# Poll $sql (on $db) until it returns $want, at most $timeout seconds.
# Returns the elapsed seconds, or undef on timeout.
sub wtc_wait
{
	my ($node, $db, $sql, $want, $timeout) = @_;
	$timeout //= 60;
	my $start = time;
	while (time - $start < $timeout)
	{
		my $got = $node->safe_psql($db, $sql);
		return time - $start if $got eq $want;
		usleep(100_000);
	}
	return undef;
}

# Wait until the queue is drained and every row of $table equals its key;
# returns "ok", or what still differs.  %opts: ids, an SQL set of ids
# (e.g. 'generate_series(1, 12)') to check instead of the table's rows: an
# id without a row must then have no key.
sub wtc_converged
{
	my ($node, $db, $table, $timeout, %opts) = @_;
	my $stale = $opts{ids}
	  ? qq{SELECT count(*) FROM $opts{ids} AS i(id) LEFT JOIN $table t ON t.id = i.id
         WHERE wt_cache.cache_get('$table:' || i.id)
               IS DISTINCT FROM CASE WHEN t.id IS NOT NULL THEN row_to_json(t)::text END}
	  : qq{SELECT count(*) FROM $table t
         WHERE wt_cache.cache_get('$table:' || t.id) IS DISTINCT FROM row_to_json(t)::text};
	my $check = qq{
SELECT (SELECT count(*) FROM wt_cache.retry_queue WHERE state = 'pending')
    || ' pending, '
    || ($stale)
    || ' stale'};
	my $elapsed = wtc_wait($node, $db, $check, '0 pending, 0 stale', $timeout // 90);
	return defined $elapsed ? 'ok' : $node->safe_psql($db, $check);
}

1;
