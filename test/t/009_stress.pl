# Stress test of fencing (newer never loses to older).  Two pgbench groups
# change a few hot rows as fast as they can, one of them with the
# test-only push delay, so that commit-time writes of one row reach Valkey
# out of commit order.  Each change gives the row a new seq from a
# sequence, and a row's seq grows with its commits.  A reader polls Valkey
# all the time (MGET of every hot key, speaking RESP itself) and counts a
# regression whenever a key's seq is lower than the highest it saw for that
# key: with fencing there must be none, and at the end every key equals its
# row (absent rows have no key).  The same load runs in
# every phase:
#   1. fenced;
#   2. fenced, with wt_cache.resync('hot') called in a loop beside it;
#   3. fenced, with Valkey killed and started again empty in the middle
#      (the worker notices Valkey came back without wt_cache's metadata and
#      resyncs; the quiet rows, which the load never changes, come back only
#      that way);
#   4. control: fencing off (test-only) for every writer: the reader must
#      see regressions, which shows the test can fail.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use POSIX ();
use Time::HiRes qw(time usleep);
use WtcTest;

my $HOT = 8;          # rows 1..8 take the load
my $QUIET = 4;        # rows 9..12 are never changed by it
my $SECONDS = 7;      # per phase
my $CLIENTS = 4;      # per pgbench group
my $DELAY_MS = 3;     # push delay of the second group
my $IDS = 'generate_series(1, ' . ($HOT + $QUIET) . ')';

my $valkey = wtc_valkey();
my $node = wtc_node('stress', $valkey);

# Attach while empty, and let any job attach queued finish before the rows
# arrive
$node->safe_psql('postgres', q{
CREATE TABLE hot (id int PRIMARY KEY, seq bigint NOT NULL, pad text);
CREATE SEQUENCE s;
SELECT wt_cache.attach('hot');
});
ok(defined wtc_wait($node, 'postgres', 'SELECT count(*) FROM wt_cache.retry_queue', '0', 30),
	'nothing queued after attach');
$node->safe_psql('postgres',
	"INSERT INTO hot SELECT g, nextval('s'), 'initial' FROM $IDS g");
is(wtc_converged($node, 'postgres', 'hot', 30, ids => $IDS), 'ok', 'cache filled');

# The load.  An UPDATE, or a DELETE and INSERT of the row in one
# transaction, or the same in two transactions (the key is deleted, then
# set again).  Each write ends with an UPDATE that gives the row its seq:
# an UPDATE takes its nextval after the snapshot that shows it the row, or,
# when it had to wait for the row, again after the wait, so a row's seq
# grows with its commits.  (An INSERT's values are computed before it
# waits for a conflicting insert: the row may have come and gone meanwhile,
# and a seq taken there could be lower than one already committed.)
my $script = $node->basedir . '/hot.sql';
open(my $fh, '>', $script) or die;
print $fh <<"EOF";
\\set id random(1, $HOT)
\\set op random(1, 100)
\\if :op <= 60
UPDATE hot SET seq = nextval('s'), pad = 'u' WHERE id = :id;
\\elif :op <= 85
BEGIN;
DELETE FROM hot WHERE id = :id;
INSERT INTO hot VALUES (:id, 0, 'r') ON CONFLICT (id) DO NOTHING;
UPDATE hot SET seq = nextval('s'), pad = 'r' WHERE id = :id;
COMMIT;
\\else
DELETE FROM hot WHERE id = :id;
BEGIN;
INSERT INTO hot VALUES (:id, 0, 'd') ON CONFLICT (id) DO NOTHING;
UPDATE hot SET seq = nextval('s'), pad = 'd' WHERE id = :id;
COMMIT;
\\endif
EOF
close $fh;

my $resync_script = $node->basedir . '/resync.sql';
open($fh, '>', $resync_script) or die;
print $fh "SELECT wt_cache.resync('hot');\n\\sleep 20 ms\n";
close $fh;

# pgbench in the background; returns [harness, \stdout, \stderr]
sub pgbench
{
	my ($file, $clients, $pgoptions) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'env', "PGOPTIONS=$pgoptions", 'pgbench', '-n', '-c', $clients,
		  '-T', $SECONDS, '-f', $file,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout($SECONDS + 60));
	return [ $h, \$out, \$err ];
}

# ---------- the reader ----------

# Read from $sock into $$buf until $$buf holds a complete reply to MGET of
# $n keys; returns its values (undef for a missing key).  Dies on an error
# reply or a closed connection.
sub mget_reply
{
	my ($sock, $buf, $n) = @_;
	while (1)
	{
		die "unexpected reply: $&" if $$buf =~ /^[-+:][^\r]*\r\n/;
		pos($$buf) = 0;
		if ($$buf =~ /\G\*$n\r\n/gc)
		{
			my @vals;
			while (@vals < $n && $$buf =~ /\G\$(-?\d+)\r\n/gc)
			{
				my $len = $1;
				if ($len < 0)
				{
					push @vals, undef;
					next;
				}
				last if length($$buf) < pos($$buf) + $len + 2;
				push @vals, substr($$buf, pos($$buf), $len);
				pos($$buf) += $len + 2;
			}
			if (@vals == $n)
			{
				substr($$buf, 0, pos($$buf), '');
				return @vals;
			}
		}
		my $r = sysread($sock, $$buf, 65536, length $$buf);
		next if !defined $r && $!{EINTR};
		die "read: " . ($r // $!) unless $r;
	}
}

# Fork a reader that reads every hot key in a loop, until SIGTERM; then it
# writes what it saw to $report.  Each poll is one MGET of every key and
# its version key, so it sees one instant of Valkey, and a regression can
# be told with the versions involved.  SIGUSR1 makes it forget the seqs it
# saw (Valkey restarted empty): a poll under way then is dropped, and it
# connects again.
sub start_reader
{
	my ($report) = @_;
	my @keys = map { "hot:$_" } 1 .. $HOT;
	my @args = ('MGET', map { ($_, "{$_}:v") } @keys);
	my $req = '*' . @args . "\r\n" . join '',
	  map { '$' . length($_) . "\r\n$_\r\n" } @args;
	my $pid = fork() // die "fork: $!";
	return $pid if $pid;

	my ($stop, $reset, $done_reset) = (0, 0, 0);
	$SIG{TERM} = sub { $stop = 1 };
	$SIG{USR1} = sub { $reset++ };
	my (%max, %maxver, %maxshare, %last_bad, @examples);
	my ($polls, $regressions, $events, $missing, $errors) = (0, 0, 0, 0, 0);
	my ($sock, $buf);
	my $t0 = time;
	while (!$stop)
	{
		if ($reset != $done_reset)
		{
			$done_reset = $reset;
			%max = ();
			close $sock if $sock;
			undef $sock;
		}
		if (!$sock)
		{
			$sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
				PeerPort => $valkey->port, Proto => 'tcp');
			if (!$sock)
			{
				usleep(5_000);
				next;
			}
			setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
			$buf = '';
		}
		my @vals = eval {
			my $w = syswrite($sock, $req);
			die "write: $!" unless defined $w && $w == length $req;
			mget_reply($sock, \$buf, 2 * @keys);
		};
		if ($@)
		{
			$errors++;
			close $sock;
			undef $sock;
			next;
		}
		next if $reset != $done_reset;
		$polls++;
		# How many keys hold each version: a commit here changes one row,
		# a resync writes all of them with one version
		my %share;
		$share{ $vals[ 2 * $_ + 1 ] // '-' }++ for 0 .. $#keys;
		for my $i (0 .. $#keys)
		{
			my ($k, $val, $ver) = ($keys[$i], $vals[2 * $i], $vals[2 * $i + 1] // '-');
			if (!defined $val)
			{
				$missing++;
				next;
			}
			# (a bad value counts as a regression, and no die here: it would
			# run the parent's END blocks)
			my ($seq) = $val =~ /"seq":(\d+)/;
			$seq //= -1;
			if (defined $max{$k} && $seq < $max{$k})
			{
				# A regression per poll that sees one; an event per value
				$regressions++;
				$events++ if ($last_bad{$k} // -2) != $seq;
				$last_bad{$k} = $seq;
				push @examples,
				  sprintf('%.3f s: %s seq %d (version %s) after seq %d (version %s, '
					  . 'which %d keys had)',
					time - $t0, $k, $seq, $ver, $max{$k}, $maxver{$k}, $maxshare{$k})
				  if @examples < 5;
			}
			else
			{
				($max{$k}, $maxver{$k}, $maxshare{$k}) = ($seq, $ver, $share{$ver});
			}
		}
	}
	open(my $out, '>', "$report.tmp") or POSIX::_exit(1);
	printf $out "polls=%d regressions=%d events=%d missing=%d errors=%d seconds=%.1f\n",
	  $polls, $regressions, $events, $missing, $errors, time - $t0;
	print $out "example=$_\n" for @examples;
	close $out;
	rename("$report.tmp", $report);
	# No END blocks or destructors here: they belong to the parent
	POSIX::_exit(0);
}

sub stop_reader
{
	my ($pid, $report) = @_;
	kill 'TERM', $pid;
	waitpid($pid, 0);
	open(my $in, '<', $report) or die "no reader report: $!";
	my %r = (examples => []);
	while (<$in>)
	{
		chomp;
		if (/^example=(.*)/) { push @{ $r{examples} }, $1; next; }
		$r{$1} = $2 while /(\w+)=([\d.]+)/g;
	}
	close $in;
	return \%r;
}

# ---------- the phases ----------

sub stat_value
{
	my ($col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM wt_cache.stats");
}

sub processed
{
	my ($out) = @_;
	my ($n) = $out =~ /number of transactions actually processed: (\d+)/;
	return $n // 0;
}

my $phase_no = 0;

# Run the load once; %opts: resync (call resync in a loop beside it),
# restart (kill Valkey and start it empty in the middle), unfenced (the
# control).  Returns the reader's numbers.
sub phase
{
	my ($name, %opts) = @_;
	$phase_no++;
	my $report = $node->basedir . "/reader.$phase_no";

	# Start from an exact cache, whatever an earlier phase left: write
	# every row at rest (a new commit beats every version in Valkey)
	$node->safe_psql('postgres', qq{
INSERT INTO hot SELECT g, nextval('s'), 'initial' FROM $IDS g
  ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, pad = excluded.pad});
	is(wtc_converged($node, 'postgres', 'hot', 10, ids => $IDS), 'ok',
		"$name: the cache is exact before the load");
	my $stale0 = stat_value('stale_rejected');
	my $reader = start_reader($report);
	my $fast = pgbench($script, $CLIENTS, '');
	my $slow = pgbench($script, $CLIENTS, "-c wt_cache.test_push_delay=$DELAY_MS");
	my $resync = $opts{resync} ? pgbench($resync_script, 1, '') : undef;
	if ($opts{restart})
	{
		sleep($SECONDS / 2);
		$valkey->kill9;
		kill 'USR1', $reader;
		note "$name: valkey killed";
		usleep(300_000);
		$valkey->start;
		note "$name: valkey started again, empty";
	}
	my @groups = ([ 'pgbench', $fast ], [ 'pgbench (push delay)', $slow ]);
	push @groups, [ 'resync loop', $resync ] if $resync;
	my $tx = 0;
	for my $g (@groups)
	{
		my ($what, $run) = @$g;
		my ($h, $out, $err) = @$run;
		ok($h->finish, "$name: $what exited 0")
		  or diag("$what: exit " . ($h->full_result // 'undef') . "\n$$out\n$$err");
		unlike($$err, qr/ERROR|WARNING/, "$name: $what saw no error");
		$tx += processed($$out) unless $what eq 'resync loop';
	}
	my $r = stop_reader($reader, $report);
	$r->{tx} = $tx;
	$r->{resyncs} = processed(${ $resync->[1] }) if $resync;
	cmp_ok($tx, '>', 500, "$name: the load kept committing");
	cmp_ok($r->{polls}, '>', 100, "$name: the reader kept polling");

	if (!$opts{unfenced})
	{
		my $t0 = time;
		is(wtc_converged($node, 'postgres', 'hot', 30, ids => $IDS), 'ok',
			"$name: every key equals its row, and absent rows have no key")
		  or diag($node->safe_psql('postgres', qq{
SELECT i.id, row_to_json(t)::text AS row, wt_cache.cache_get('hot:' || i.id) AS key,
       wt_cache.cache_get('{hot:' || i.id || '}:v') AS version,
       wt_cache.cache_command('PTTL', '{hot:' || i.id || '}:v') AS pttl
  FROM $IDS AS i(id) LEFT JOIN hot t ON t.id = i.id ORDER BY 1}));
		note sprintf('%s: converged %.1f s after the load', $name, time - $t0);
		is(stat_value('dead_entries'), '0', "$name: no dead keys");
	}
	$r->{stale} = stat_value('stale_rejected') - $stale0;
	note sprintf('%s: %d transactions, %d polls, %d regressions (%d values), '
		  . '%d misses, %d stale_rejected, %d reader errors%s',
		$name, $tx, $r->{polls}, $r->{regressions}, $r->{events}, $r->{missing},
		$r->{stale}, $r->{errors},
		defined $r->{resyncs} ? ", $r->{resyncs} resyncs" : '');
	note "$name: regression at $_" for @{ $r->{examples} };
	return $r;
}

# WTC_STRESS_PHASES="2 4" runs only those phases (while developing)
my %run = map { $_ => 1 } split /[ ,]+/, $ENV{WTC_STRESS_PHASES} // '1 2 3 4';
my $r;

if ($run{1})
{
	$r = phase('fenced');
	is($r->{regressions}, 0, 'fenced: no key went back');
	cmp_ok($r->{stale}, '>', 0, 'fenced: late older writes were refused');
}

if ($run{2})
{
	$r = phase('fenced + resync', resync => 1);
	is($r->{regressions}, 0, 'fenced + resync: no key went back');
	cmp_ok($r->{resyncs}, '>', 10, 'fenced + resync: resync kept running');

	# The same at rest: two resyncs in a row, with nothing written to the
	# WAL between them (VACUUM first, so that their scans prune nothing)
	$node->safe_psql('postgres', 'VACUUM hot');
	$node->safe_psql('postgres', "SELECT wt_cache.resync('hot')") for 1 .. 2;
	is(wtc_converged($node, 'postgres', 'hot', 10, ids => $IDS), 'ok',
		'two resyncs in a row at rest: every key equals its row');
}

if ($run{3})
{
	$r = phase('fenced + empty valkey', restart => 1);
	is($r->{regressions}, 0, 'fenced + empty valkey: no key went back');
}

# Control: fencing off for every writer (backends and the worker)
if ($run{4})
{
	$node->safe_psql('postgres', 'ALTER SYSTEM SET wt_cache.test_fencing = off');
	$node->reload;
	ok(defined wtc_wait($node, 'postgres', 'SHOW wt_cache.test_fencing', 'off', 10),
		'fencing off for new sessions');
	$r = phase('control (fencing off)', unfenced => 1);
	cmp_ok($r->{regressions}, '>', 0,
		'control run without fencing: the reader sees keys go back (so the test can fail)');
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET wt_cache.test_fencing');
	$node->reload;
}

$node->stop;
done_testing();
