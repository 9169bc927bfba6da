# Valkey in bad states.  In each, every COMMIT succeeds (no error, no
# warning to the client) within the timeouts (measured from the client,
# each commit on its own), and nothing is lost: once the bad state ends,
# every key equals its row.
# (1) keys that hold another type (a hash, a list) in a transaction of 20
#     keys, beside a write load: the other keys land, these two are parked
#     dead with WRONGTYPE, and land once fixed and replayed (the single-key
#     case, and purge_dead, are sql/dead.sql's);
# (2) maxmemory reached with noeviction: Valkey refuses writes with OOM,
#     the keys go to the retry path (transient: retried, never parked) and
#     land once maxmemory is raised (sql/oom.sql has the single key under
#     maxmemory 1; here the limit is reached by the commits themselves);
# (3) a server that stalls: DEBUG SLEEP 2 from another client;
# (4) a server that does not answer at all (SIGSTOP) for 4 s under a write
#     load: the circuit opens while it is frozen, closes after (001 freezes
#     then kills it, for convergence; this is about each commit's bound and
#     the circuit);
# (4b) a write to a row that the worker is retrying when Valkey freezes
#     does not wait for the worker (it holds no row lock then);
# (5) a fake server that speaks enough RESP for wt_cache to connect, load
#     its script, check the epoch and probe, then answers each EVALSHA with
#     half a reply and closes the connection; then one that answers with
#     malformed replies: keys wait in wt_cache.retry_queue, nothing
#     crashes, and they land once the node is pointed back at Valkey;
# (6) Valkey restarted empty (SIGKILL, no persistence) under a write load:
#     the launcher notices, raises the epoch and resyncs.
# Notes the worst commit time of each case.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time usleep);
use WtcTest;

my $command_timeout_ms = 300;
my $connect_timeout_ms = 300;
# A commit waits at most connect_timeout (when it must connect) plus
# command_timeout (README, When Valkey fails); the slack is for this
# loaded 2-core machine
my $slack_ms = 1500;
my $bound_ms = $command_timeout_ms + $connect_timeout_ms + $slack_ms;

my $t_start = time;
my $valkey = wtc_valkey();
# Backoff capped at 1 s: keys refused for a while (OOM) land soon after
my $node = wtc_node('bad_states', $valkey, qq{
wt_cache.command_timeout = $command_timeout_ms
wt_cache.connect_timeout = $connect_timeout_ms
wt_cache.retry_backoff_max = 1000
});

# acct: the write load's rows (4 clients, 100 rows each).  bad: the rows
# the timed commits change, with values of some size (for maxmemory).
$node->safe_psql('postgres', q{
CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL, touched timestamptz);
INSERT INTO acct SELECT g, 0, now() FROM generate_series(1, 400) g;
SELECT wt_cache.attach('acct');
CREATE TABLE bad (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
INSERT INTO bad SELECT g, 0, repeat(md5(g::text), 16) FROM generate_series(1, 200) g;
SELECT wt_cache.attach('bad');
});
is(wtc_converged($node, 'postgres', 'acct'), 'ok', 'acct cached');
is(wtc_converged($node, 'postgres', 'bad'), 'ok', 'bad cached');

my @stat_cols = qw(keys_written push_failures keys_handed_off keys_queued
  keys_lost retries_written dead_entries circuit epoch resyncs);

sub stats
{
	my %s;
	@s{@stat_cols} = split /\|/,
	  $node->safe_psql('postgres',
		'SELECT ' . join(', ', @stat_cols) . ' FROM wt_cache.stats');
	return \%s;
}

sub delta
{
	my ($before, $after, @cols) = @_;
	return join(', ', map { "$_ +" . ($after->{$_} - $before->{$_}) } @cols);
}

# Run each transaction (a string of statements) in one psql session, as
# BEGIN; ...; COMMIT;, with $opts{pause} seconds between them.  With
# $opts{before} (a sub), the session first commits a change, which opens
# its connection to Valkey, then the sub runs, then the transactions.
# Returns the wall time of each COMMIT in ms as psql's \timing measures
# it, and psql's stderr.
sub timed_commits
{
	my ($opts, @txns) = @_;
	my ($in, $out, $err) = ("\\timing on\n", '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $node->host,
		  '-p', $node->port, '-d', 'postgres' ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	if ($opts->{before})
	{
		$in .= "UPDATE bad SET v = v WHERE id = 200;\n\\echo connected\n";
		$h->pump until $out =~ /^connected$/m;
		$opts->{before}->();
	}
	for my $tx (@txns)
	{
		$in .= "BEGIN;\n$tx;\n\\echo commit:\nCOMMIT;\n";
		$in .= "SELECT pg_sleep($opts->{pause});\n" if $opts->{pause};
	}
	$in .= "\\q\n";
	my $ok = eval { $h->finish };
	$err .= "psql: $@ exit " . ($h->full_result // 'undef') . "\n" unless $ok;
	my @ms = $out =~ /^commit:\nTime: ([\d.]+) ms/mg;
	return (\@ms, $err);
}

# The checks every timed case makes; returns the worst commit in ms
sub commits_ok
{
	my ($case, $n, $ms, $err) = @_;
	is(scalar @$ms, $n, "$case: all $n commits ran");
	is($err, '', "$case: no error or warning reached the client");
	my ($worst) = sort { $b <=> $a } @$ms;
	$worst //= 0;
	cmp_ok($worst, '<', $bound_ms, "$case: every commit took less than $bound_ms ms");
	return $worst;
}

# Worst transaction latency in a pgbench -l log, in ms; and the number of
# logged transactions and of failed ones
sub pgbench_log
{
	my ($prefix) = @_;
	my ($worst, $n, $bad) = (0, 0, 0);
	for my $log (glob("$prefix.*"))
	{
		open(my $lf, '<', $log) or die "$log: $!";
		while (my $line = <$lf>)
		{
			my @f = split ' ', $line;
			$n++;
			if (@f < 6 || $f[2] !~ /^\d+$/) { $bad++; next; }
			$worst = $f[2] if $f[2] > $worst;
		}
		close $lf;
	}
	return ($worst / 1000, $n, $bad);
}

# Start the acct load for $secs seconds, logging each transaction
my $nload = 0;
sub start_load
{
	my ($secs, $out, $err) = @_;
	my $prefix = $node->basedir . '/pgbench_' . ++$nload;
	my $h = wtc_acct_load($node, 100, $secs, $out, $err,
		args => [ '-l', "--log-prefix=$prefix" ], timeout => 120);
	return ($h, $prefix);
}

# pgbench ended well; returns its worst transaction in ms
sub load_ok
{
	my ($case, $h, $prefix, $out, $err, $todo) = @_;
	my $finished = eval { $h->finish };
	$h->kill_kill if $@;
	ok($finished, "$case: pgbench exited 0")
	  or diag("pgbench: $@ exit " . ($h->full_result // 'undef') . "\n$$out\n$$err");
	unlike($$err, qr/ERROR|WARNING/, "$case: no pgbench client saw an error or warning");
	my ($worst, $n, $bad) = pgbench_log($prefix);
	is($bad, 0, "$case: every logged transaction succeeded ($n logged)");
	cmp_ok($n, '>', 50, "$case: the load kept committing");
	{
		# A pgbench transaction is the UPDATE too, which may wait for a row lock
		local $TODO = $todo;
		cmp_ok($worst, '<', $bound_ms, "$case: every pgbench transaction took less than $bound_ms ms");
	}
	return ($worst, $n);
}

sub keys_of
{
	my ($ids) = @_;
	return join(', ', map { "'bad:$_'" } @$ids);
}

# Keys of these ids whose Valkey value differs from the row, right now
sub stale_now
{
	my ($ids) = @_;
	return $node->safe_psql('postgres', qq{
SELECT count(*) FROM bad t WHERE id IN (@{[ join(', ', @$ids) ]})
   AND wt_cache.cache_get('bad:' || t.id) IS DISTINCT FROM row_to_json(t)::text});
}

sub no_crash
{
	my ($case, $from) = @_;
	my $log = slurp_file($node->logfile, $from);
	unlike($log, qr/PANIC|terminated by signal|was terminated|server process .* exited/,
		"$case: no PANIC and no crashed process in the server log");
	is($node->safe_psql('postgres', 'SELECT 1'), '1', "$case: the server is up");
}

my %worst;

# ---------- (1) keys holding another type, beside a write load ----------
{
	my $case = 'wrongtype';
	# Someone else's data at two of the keys (no version key: not wt_cache's)
	$valkey->cli('DEL', 'bad:3', '{bad:3}:v', 'bad:7', '{bad:7}:v');
	$valkey->cli('HSET', 'bad:3', 'f', 'not ours');
	$valkey->cli('RPUSH', 'bad:7', 'not ours');
	my $before = stats();
	my ($out, $err);
	my ($load, $prefix) = start_load(3, \$out, \$err);
	sleep 1;
	my ($ms, $perr) = timed_commits({}, 'UPDATE bad SET v = v + 1 WHERE id BETWEEN 1 AND 20');
	my @others = grep { $_ != 3 && $_ != 7 } 1 .. 20;
	# Read your writes: the 18 others are there as soon as COMMIT returns,
	# unless the commit's exchange timed out on this loaded machine (then
	# they land through the retry path, which the next check allows)
	my $stale_at_commit = stale_now(\@others);
	$worst{$case} = commits_ok($case, 1, $ms, $perr);
	ok(defined wtc_wait($node, 'postgres', 'SELECT count(*) FROM bad t WHERE id IN ('
		  . join(', ', @others) . q{) AND wt_cache.cache_get('bad:' || t.id)
   IS DISTINCT FROM row_to_json(t)::text}, '0', 30),
		"$case: the other 18 keys of the transaction landed ($stale_at_commit not yet at COMMIT)");
	my ($lworst) = load_ok($case, $load, $prefix, \$out, \$err);
	$worst{"$case (pgbench)"} = $lworst;
	ok(defined wtc_wait($node, 'postgres', q{SELECT count(*) FROM wt_cache.retry_queue
 WHERE key IN ('bad:3', 'bad:7') AND state = 'dead' AND last_error LIKE 'WRONGTYPE%'}, '2', 30),
		"$case: both keys parked dead with WRONGTYPE");
	is($valkey->cli('TYPE', 'bad:3') . ' ' . $valkey->cli('TYPE', 'bad:7'), 'hash list',
		"$case: the hash and the list were not overwritten");
	my $after = stats();
	note "$case: " . delta($before, $after, qw(keys_handed_off dead_entries));
	$valkey->cli('DEL', 'bad:3', 'bad:7');
	$node->safe_psql('postgres', 'SELECT wt_cache.replay_dead()');
	is(wtc_converged($node, 'postgres', 'bad'), 'ok', "$case: replayed, every bad key equals its row");
	is(wtc_converged($node, 'postgres', 'acct'), 'ok', "$case: every acct key equals its row");
	is(stats()->{dead_entries}, '0', "$case: no dead entries left");
}

# ---------- (2) maxmemory reached, noeviction ----------
{
	my $case = 'oom';
	my $before = stats();
	my ($used) = $valkey->cli('INFO', 'memory') =~ /^used_memory:(\d+)/m;
	$valkey->cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
	$valkey->cli('CONFIG', 'SET', 'maxmemory', $used + 64 * 1024);
	# 20 commits of 10 new rows each, ~7 kB of new keys per commit: past
	# the limit after a few
	my @txns = map {
		my $from = 1000 + 10 * $_;
		"INSERT INTO bad SELECT g, 0, repeat(md5(g::text), 16) FROM generate_series($from, @{[ $from + 9 ]}) g"
	} 0 .. 19;
	my ($ms, $err) = timed_commits({}, @txns);
	$worst{$case} = commits_ok($case, 20, $ms, $err);
	my $full = stats();
	note "$case: " . delta($before, $full, qw(keys_written push_failures keys_handed_off keys_queued));
	cmp_ok($full->{keys_handed_off} - $before->{keys_handed_off}, '>', 0,
		"$case: keys Valkey refused went to the retry path");
	# retried with backoff, the error OOM, never parked
	ok(defined wtc_wait($node, 'postgres', q{SELECT count(*) > 0 FROM wt_cache.retry_queue
 WHERE attempts > 0 AND last_error LIKE 'OOM%'}, 't', 30),
		"$case: the worker retried and Valkey refused again with OOM");
	is($node->safe_psql('postgres',
		q{SELECT count(*) FROM wt_cache.retry_queue WHERE state = 'dead'}), '0',
		"$case: nothing parked dead (OOM is transient)");
	is($full->{circuit}, 'closed', "$case: the circuit stayed closed (Valkey answers)");
	$valkey->cli('CONFIG', 'SET', 'maxmemory', '0');
	my $t0 = time;
	is(wtc_converged($node, 'postgres', 'bad'), 'ok', "$case: room again, every key equals its row");
	note sprintf('%s: converged %.1f s after maxmemory was raised', $case, time - $t0);
}

# ---------- (3) a server that stalls (DEBUG SLEEP 2) ----------
{
	my $case = 'debug sleep';
	my $before = stats();
	my @ids = (21 .. 60);
	my @txns = map { "UPDATE bad SET v = v + 1 WHERE id BETWEEN $_ AND @{[ $_ + 4 ]}" }
	  grep { ($_ - 21) % 5 == 0 } @ids;
	# Once the session is connected: DEBUG SLEEP from another client, and
	# wait until Valkey stalls (a PING gets no answer within 0.15 s)
	my ($sleeper, $stalled);
	my $stall = sub {
		$sleeper = IPC::Run::start(
			[ $valkey->{cli}, '-p', $valkey->port, 'DEBUG', 'SLEEP', '2' ],
			'>', \my $sout, '2>', \my $serr, IPC::Run::timeout(30));
		for (1 .. 40)
		{
			my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
				PeerPort => $valkey->port) or next;
			print $s "PING\r\n";
			$stalled = !IO::Select->new($s)->can_read(0.15);
			close $s;
			last if $stalled;
			usleep(20_000);
		}
	};
	my ($ms, $err) = timed_commits({ before => $stall, pause => 0.1 }, @txns);
	ok($stalled, "$case: valkey stalled");
	my $during = stats();
	$sleeper->finish;
	$worst{$case} = commits_ok($case, scalar @txns, $ms, $err);
	note "$case: commit times (ms): " . join(' ', map { sprintf '%.0f', $_ } @$ms);
	note "$case: " . delta($before, $during, qw(keys_written push_failures keys_handed_off keys_queued));
	cmp_ok($during->{push_failures} - $before->{push_failures}, '>', 0,
		"$case: commits timed out on the stalled Valkey, after their commit record");
	cmp_ok($during->{keys_handed_off} - $before->{keys_handed_off}, '>', 0,
		"$case: their keys were handed to the worker");
	my $t0 = time;
	is(wtc_converged($node, 'postgres', 'bad'), 'ok', "$case: their keys land later");
	note sprintf('%s: converged %.1f s after the sleep ended', $case, time - $t0);
}

# ---------- (4) a server that does not answer (SIGSTOP), under load ----------
{
	my $case = 'frozen';
	my $before = stats();
	my ($out, $err);
	my ($load, $prefix) = start_load(9, \$out, \$err);
	sleep 2;
	$valkey->freeze;
	my $t_freeze = time;
	# Beside the load, commits timed one by one while Valkey is frozen
	my @txns = map { "UPDATE bad SET v = v + 1 WHERE id BETWEEN $_ AND @{[ $_ + 4 ]}" }
	  grep { ($_ - 101) % 5 == 0 } (101 .. 140);
	my ($ms, $perr) = timed_commits({ pause => 0.15 }, @txns);
	my $frozen = stats();
	my $still_frozen = time < $t_freeze + 4;
	usleep(1_000_000 * ($t_freeze + 4 - time)) if time < $t_freeze + 4;
	$valkey->thaw;
	my $t_thaw = time;
	$worst{$case} = commits_ok($case, scalar @txns, $ms, $perr);
	note "$case: commit times (ms): " . join(' ', map { sprintf '%.0f', $_ } @$ms);
	ok($still_frozen, "$case: the commits ran while Valkey was frozen");
	is($frozen->{circuit}, 'open', "$case: the circuit was open while Valkey was frozen");
	# keys_queued counts keys commits queued themselves
	cmp_ok($frozen->{keys_queued} - $before->{keys_queued}, '>', 0,
		"$case: with the circuit open, commits queued their keys");
	my $closed = wtc_wait($node, 'postgres',
		q{SELECT circuit FROM wt_cache.stats}, 'closed', 30);
	ok(defined $closed, "$case: the circuit closed after the thaw");
	note sprintf('%s: circuit closed %.1f s after the thaw', $case, time - $t_thaw);
	my ($lworst, $n) = load_ok($case, $load, $prefix, \$out, \$err);
	$worst{"$case (pgbench)"} = $lworst;
	note "$case: $n transactions; " . delta($before, $frozen,
		qw(push_failures keys_handed_off keys_queued));
	is(wtc_converged($node, 'postgres', 'acct'), 'ok', "$case: every acct key equals its row");
	is(wtc_converged($node, 'postgres', 'bad'), 'ok', "$case: every bad key equals its row");
}

# ---------- (4b) a write to a row the worker is retrying, Valkey frozen ----------
# The worker's exchange may take max(command_timeout, 10 s).  It re-reads a
# key's row without a lock (its version, taken after the table's writers
# ended, makes the write safe), so a write to that row does not wait for
# Valkey through the worker: it stays within the bound of the commits.
{
	my $case = 'worker lock';
	# The circuit stays closed, so that the worker retries instead of probing
	$node->safe_psql('postgres',
		'ALTER SYSTEM SET wt_cache.circuit_failures = 1000; SELECT pg_reload_conf()');
	wtc_wait($node, 'postgres', 'SHOW wt_cache.circuit_failures', '1000', 30);
	$valkey->freeze;
	# Its write times out; the worker takes the key at once
	$node->safe_psql('postgres', 'UPDATE bad SET v = v + 1 WHERE id = 199');
	my $worker = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
 WHERE backend_type = 'wt_cache worker' AND datname = current_database()});
	wtc_wait($node, 'postgres', qq{SELECT count(*) FROM wt_cache.retry_queue
 WHERE key = 'bad:199' AND state = 'pending'}, '1', 10);
	usleep(300_000);
	my ($in, $uout, $uerr) = ("\\timing on\nUPDATE bad SET v = v + 1 WHERE id = 199;\n", '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $node->host,
		  '-p', $node->port, '-d', 'postgres' ],
		'<', \$in, '>', \$uout, '2>', \$uerr, IPC::Run::timeout(60));
	$h->pump while length $in;
	my $t_update = time;
	usleep(700_000);
	my $blockers = $node->safe_psql('postgres', q{SELECT string_agg(b::text, ',')
  FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) b
 WHERE a.query LIKE 'UPDATE bad SET v = v + 1 WHERE id = 199%'});
	# Frozen for a second more than the bound, from the UPDATE's start
	my $thaw_at = $t_update + $bound_ms / 1000 + 1;
	usleep(1_000_000 * ($thaw_at - time)) if time < $thaw_at;
	$valkey->thaw;
	$h->finish;
	my ($update_ms) = $uout =~ /Time: ([\d.]+) ms/;
	$update_ms //= -1;
	note "$case: the UPDATE waited for pid(s) " . ($blockers || 'none')
	  . " (the worker is $worker), and took $update_ms ms";
	$worst{$case} = $update_ms;
	is($uerr, '', "$case: the UPDATE succeeded");
	cmp_ok($update_ms, '<', $bound_ms,
		"$case: a write to a row the worker retries took less than $bound_ms ms");
	$node->safe_psql('postgres',
		'ALTER SYSTEM RESET wt_cache.circuit_failures; SELECT pg_reload_conf()');
	wtc_wait($node, 'postgres', 'SHOW wt_cache.circuit_failures', '3', 30);
	is(wtc_converged($node, 'postgres', 'bad'), 'ok', "$case: every bad key equals its row");
}

# ---------- (5) a server that answers badly ----------

# A fake Valkey in a child process, on a free port.  It answers what
# wt_cache sends to connect and to check the epoch (the launcher's EVAL,
# epoch.c: {epoch, "same", beat}), PING, HGET and HSET, and the script's
# SCRIPT LOAD with its SHA1; then each EVALSHA badly, as $mode says:
# "half": half of the right reply, then it closes the connection;
# "garbage": one of several malformed replies in turn, the connection
# left open.  Each command's name goes to $log.
my @garbage = (
	"\x00\xff\xfe garbage\r\n",    # no RESP type
	"*1\r\n:12abc\r\n",            # not an integer
	"\$999999999999\r\n",          # a bulk string too long
	"*-5\r\n",                     # a negative count
	"*1\r\n\$3\r\nabcdef\r\n",     # a bulk string longer than it says
	"+OK\n",                       # a bare newline
	"*2147483648\r\n",             # too many elements
	"%1\r\n+a\r\n:1\r\n",          # RESP3, not asked for
	"+OK\r\n",                     # well-formed, not a script's reply
	join('', map { chr(($_ * 73 + 11) % 256) } 1 .. 64),    # noise
);

sub fake_command
{
	my ($bufref) = @_;
	return undef unless $$bufref =~ /^\*(\d+)\r\n/;
	my ($n, $pos) = ($1, length($&));
	my @args;
	for (1 .. $n)
	{
		return undef unless substr($$bufref, $pos) =~ /^\$(\d+)\r\n/;
		my ($len, $hl) = ($1, length($&));
		return undef if length($$bufref) < $pos + $hl + $len + 2;
		push @args, substr($$bufref, $pos + $hl, $len);
		$pos += $hl + $len + 2;
	}
	substr($$bufref, 0, $pos) = '';
	return \@args;
}

sub fake_serve
{
	my ($listen, $mode, $epoch, $logfile, $ppid) = @_;
	open(my $log, '>>', $logfile) or die "$logfile: $!";
	$log->autoflush(1);
	my $sel = IO::Select->new($listen);
	my %buf;
	my $nbad = 0;
	while (getppid() == $ppid)
	{
		for my $fh ($sel->can_read(0.5))
		{
			if ($fh == $listen)
			{
				my $c = $listen->accept or next;
				$sel->add($c);
				$buf{ fileno $c } = '';
				next;
			}
			my $fd = fileno $fh;
			my $got = sysread($fh, my $chunk, 65536);
			if (!$got)
			{
				$sel->remove($fh);
				delete $buf{$fd};
				close $fh;
				next;
			}
			$buf{$fd} .= $chunk;
			while (my $args = fake_command(\$buf{$fd}))
			{
				my $cmd = uc($args->[0]);
				my ($reply, $close) = ('', 0);
				print $log "$cmd\n";
				if ($cmd eq 'PING') { $reply = "+PONG\r\n"; }
				elsif ($cmd eq 'SCRIPT' && uc($args->[1] // '') eq 'LOAD')
				{
					$reply = "\$40\r\n" . sha1_hex($args->[2]) . "\r\n";
				}
				elsif ($cmd eq 'EVAL') { $reply = "*3\r\n:$epoch\r\n\$4\r\nsame\r\n:1\r\n"; }
				elsif ($cmd eq 'HGET') { $reply = '$' . length($epoch) . "\r\n$epoch\r\n"; }
				elsif ($cmd eq 'HSET') { $reply = ":0\r\n"; }
				elsif ($cmd eq 'EVALSHA' && $mode eq 'half')
				{
					my $n = int($args->[2] / 2);
					my $full = "*$n\r\n" . (":1\r\n" x $n);
					$reply = substr($full, 0, int(length($full) / 2));
					$close = 1;
				}
				elsif ($cmd eq 'EVALSHA')
				{
					$reply = $garbage[ $nbad++ % @garbage ];
				}
				else { $reply = "-ERR unknown command '$cmd'\r\n"; }
				syswrite($fh, $reply);
				if ($close)
				{
					$sel->remove($fh);
					delete $buf{$fd};
					close $fh;
					last;
				}
			}
		}
	}
}

sub fake_valkey
{
	my ($mode, $epoch) = @_;
	my $listen = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
		Listen => 64, ReuseAddr => 1) or die "fake valkey: $!";
	my $log = $node->basedir . "/fake_$mode.log";
	my $ppid = $$;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		# NB: never return into the test (its END blocks stop the nodes)
		eval { fake_serve($listen, $mode, $epoch, $log, $ppid) };
		POSIX::_exit(0);
	}
	my $port = $listen->sockport;
	close $listen;
	return { pid => $pid, port => $port, log => $log };
}

# Point the node at $port (undef: back at the port of postgresql.conf)
sub point_at
{
	my ($port) = @_;
	$node->safe_psql('postgres', (defined $port
		  ? "ALTER SYSTEM SET wt_cache.port = $port"
		  : 'ALTER SYSTEM RESET wt_cache.port') . '; SELECT pg_reload_conf()');
	$port //= $valkey->port;
	ok(defined wtc_wait($node, 'postgres', 'SHOW wt_cache.port', $port, 30),
		"new sessions use port $port");
}

{
	my $log_from = -s $node->logfile;
	my $epoch = stats()->{epoch};
	my $next_id = 61;
	my @fakes;
	for my $mode ('half', 'garbage')
	{
		my $case = "fake $mode";
		my $fake = fake_valkey($mode, $epoch);
		point_at($fake->{port});
		my $before = stats();
		my @ids = ($next_id .. $next_id + 39);
		$next_id += 40;
		my @txns = map { "UPDATE bad SET v = v + 1 WHERE id BETWEEN $_ AND @{[ $_ + 4 ]}" }
		  grep { ($_ - $ids[0]) % 5 == 0 } @ids;
		my ($ms, $err) = timed_commits({ pause => 0.05 }, @txns);
		$worst{$case} = commits_ok($case, scalar @txns, $ms, $err);
		my $after = stats();
		note "$case: commit times (ms): " . join(' ', map { sprintf '%.0f', $_ } @$ms);
		note "$case: " . delta($before, $after, qw(push_failures keys_handed_off keys_queued keys_lost));
		my $keys = keys_of(\@ids);
		ok(defined wtc_wait($node, 'postgres', qq{SELECT count(DISTINCT key) FROM wt_cache.retry_queue
 WHERE key IN ($keys) AND state = 'pending'}, scalar(@ids), 30),
			"$case: every key waits in wt_cache.retry_queue");
		my $evalsha = () = slurp_file($fake->{log}) =~ /^EVALSHA$/mg;
		cmp_ok($evalsha, '>', 0, "$case: the fake answered $evalsha EVALSHA calls badly");
		is($after->{keys_lost}, $before->{keys_lost}, "$case: no key lost");
		push @fakes, $fake;
	}
	point_at(undef);
	for my $fake (@fakes)
	{
		kill 'KILL', $fake->{pid};
		waitpid($fake->{pid}, 0);
	}
	my $t0 = time;
	is(wtc_converged($node, 'postgres', 'bad'), 'ok', 'fake: back on Valkey, every key equals its row');
	note sprintf('fake: converged %.1f s after the node was pointed back at Valkey', time - $t0);
	is(stats()->{dead_entries}, '0', 'fake: nothing parked dead');
	no_crash('fake', $log_from);
}

# ---------- (6) Valkey restarted empty, under load ----------
{
	my $case = 'restart';
	my $before = stats();
	my $log_from = -s $node->logfile;
	my ($out, $err);
	my ($load, $prefix) = start_load(8, \$out, \$err);
	sleep 2;
	$valkey->kill9;
	sleep 2;
	$valkey->start;
	my ($lworst, $n) = load_ok($case, $load, $prefix, \$out, \$err);
	$worst{"$case (pgbench)"} = $lworst;
	ok(defined wtc_wait($node, 'postgres',
		"SELECT epoch > $before->{epoch} FROM wt_cache.stats", 't', 30),
		"$case: the epoch was raised");
	like(slurp_file($node->logfile, $log_from),
		qr/epoch raised to \d+: Valkey has no wt_cache metadata/,
		"$case: the launcher noticed the empty Valkey");
	is(wtc_converged($node, 'postgres', 'acct'), 'ok', "$case: every acct key equals its row");
	is(wtc_converged($node, 'postgres', 'bad'), 'ok', "$case: every bad key equals its row (resynced)");
	note "$case: $n transactions; " . delta($before, stats(),
		qw(push_failures keys_handed_off keys_queued resyncs));
}

my $final = stats();
is("$final->{keys_lost}|$final->{dead_entries}|$final->{circuit}", '0|0|closed',
	'at the end: no key lost, no dead entry, circuit closed');
no_crash('whole test', 0);
note 'worst commit (ms): '
  . join(', ', map { sprintf '%s %.0f', $_, $worst{$_} } sort keys %worst);
note sprintf('test took %.1f s', time - $t_start);

$node->stop;
done_testing();
