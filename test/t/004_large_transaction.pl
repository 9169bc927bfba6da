# A transaction larger than wt_cache.max_changes: one UPDATE of 1,000,000
# rows.  Past max_changes the backend keeps keys only, spills them to a
# temporary file and queues them all at PRE_COMMIT inside the transaction;
# COMMIT does not wait for Valkey and the worker writes the rows.  Shows:
# backend memory stays bounded inside such a transaction (measured with
# pg_backend_memory_contexts, peak RSS noted), the queue drains (rate
# noted), and the cache then equals the table (a random sample through
# cache_get, every key through a Lua script in Valkey).  Then savepoints
# rolled back in an overflowed transaction: the cache still equals the
# table for every row touched (extra queued keys are harmless).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use WtcTest;

my $NROWS = 1_000_000;
my $PADMOD = 97;    # pad = 'p' || id % 97: every row's JSON is predictable

my $valkey = wtc_valkey();
my $node = wtc_node('large', $valkey, q{
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 30min
log_statement = none
});

# Polls of a queue of a million entries: poll gently, cheap check first
sub pending
{
	return $node->safe_psql('postgres',
		q{SELECT count(*) FROM wt_cache.retry_queue WHERE state = 'pending'});
}

# Rows of a random sample whose key differs from the row, and the sample size
sub stale_sample
{
	my ($size) = @_;
	my $r = $node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE wt_cache.cache_get('t:' || t.id) IS DISTINCT FROM row_to_json(t)::text)
       || ' of ' || count(*)
  FROM t
 WHERE t.id IN (SELECT 1 + (random() * ($NROWS - 1))::int FROM generate_series(1, $size))});
	return $r;
}

# Keys of the table: beside each key wt_cache keeps its version key
# ("{t:1}:v"), so a full cache holds twice as many keys as rows
# Row keys in Valkey: each has a version key beside it, and the launcher
# keeps one key of its own, {wt_cache}:meta
sub dbsize
{
	return ($node->safe_psql('postgres', q{SELECT wt_cache.cache_command('DBSIZE')}) - 1) / 2;
}

# Wait until nothing is pending, every row has a key, and a sample of ~2000
# rows equals the cache.  Returns the seconds it took (undef on timeout).
sub drained
{
	my ($timeout) = @_;
	my $start = time;
	my $last_note = $start;
	while (time - $start < $timeout)
	{
		my $p = pending();
		if ($p == 0)
		{
			my $keys = dbsize();
			if ($keys == $NROWS && stale_sample(2000) =~ /^0 of /)
			{
				return time - $start;
			}
		}
		if (time - $last_note > 5)
		{
			note sprintf('  %.0f s: %d pending', time - $start, $p);
			$last_note = time;
		}
		sleep 1;
	}
	return undef;
}

# Every key t:1 .. t:N in Valkey equals the JSON of row id = i with n = $n:
# one Lua script, run in Valkey itself, counts the keys that differ.
sub valkey_mismatches
{
	my ($n) = @_;
	my $lua = 'local bad = 0 for i = 1, tonumber(ARGV[1]) do '
	  . 'local want = string.format(\'{"id":%d,"n":%d,"pad":"p%d"}\', i, tonumber(ARGV[2]), i % tonumber(ARGV[3])) '
	  . 'if redis.call("GET", "t:" .. i) ~= want then bad = bad + 1 end end return bad';
	return $valkey->cli('EVAL', $lua, '0', $NROWS, $n, $PADMOD);
}

# Run a query in a background session; returns what it wrote to stderr
# (and clears it, which query() does not)
sub session_query
{
	my ($session, $sql) = @_;
	$session->query($sql);
	my $err = $session->{stderr};
	$session->{stderr} = '';
	return $err;
}

sub stats
{
	my ($cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM wt_cache.stats");
}

# ---------- a table of a million rows, cache filled ----------

my $t0 = time;
$node->safe_psql('postgres', qq{
CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL);
INSERT INTO t SELECT g, 0, 'p' || (g % $PADMOD) FROM generate_series(1, $NROWS) g;
VACUUM ANALYZE t;
SELECT wt_cache.attach('t', load => false);
});
note sprintf('table of %d rows loaded in %.1f s', $NROWS, time - $t0);

$t0 = time;
my ($rc, $out, $err) = $node->psql('postgres', 'UPDATE t SET n = n');
is($rc, 0, 'the filling UPDATE committed');
is($err, '', 'the filling UPDATE gave the client no error or warning');
note sprintf('filling UPDATE (a large transaction itself) committed in %.1f s',
	time - $t0);
my $fill = drained(600);
ok(defined $fill, 'the filling UPDATE drained: every row has its key');
note sprintf('fill: %d keys drained in %.1f s (%.0f keys/s)',
	$NROWS, $fill, $NROWS / $fill)
  if defined $fill;
note 'retry_queue last analyzed/vacuumed by autovacuum: ' . $node->safe_psql('postgres',
	q{SELECT coalesce(last_autoanalyze::text, 'never') || ' / ' || coalesce(last_autovacuum::text, 'never')
	    || ', now ' || now() FROM pg_stat_user_tables WHERE relname = 'retry_queue'});
is(valkey_mismatches(0), '0', 'every key equals its row after the fill (Lua check in Valkey)');

# ---------- one UPDATE of every row, in one session ----------

my $status = q{SELECT (regexp_match(s, 'VmHWM:\s+(\d+) kB'))[1] || ' '
       || (regexp_match(s, 'RssAnon:\s+(\d+) kB'))[1] || ' '
       || (regexp_match(s, 'RssShmem:\s+(\d+) kB'))[1]
  FROM pg_read_file('/proc/self/status') s};
my $queued_before = stats('keys_queued');
my $pushed_before = stats('xacts_pushed');

my $s = $node->background_psql('postgres', timeout => 900);
my $pid = $s->query_safe('SELECT pg_backend_pid()');
my ($hwm0, $anon0, $shm0) = split / /, $s->query_safe($status);
note "backend $pid before: VmHWM $hwm0 kB, RssAnon $anon0 kB, RssShmem $shm0 kB";

$s->query_safe('BEGIN');
$t0 = time;
$s->query_safe('UPDATE t SET n = n + 1');
note sprintf('UPDATE of %d rows took %.1f s', $NROWS, time - $t0);

my $ctx = $s->query_safe('SELECT sum(total_bytes) FROM pg_backend_memory_contexts');
my $ours = $s->query_safe(q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
  WHERE name = 'wt_cache changes'});
my ($hwm1, $anon1, $shm1) = split / /, $s->query_safe($status);
note sprintf('inside the transaction: memory contexts %.1f MB in all, '
	  . '"wt_cache changes" %.1f MB', $ctx / 2**20, $ours / 2**20);
note "inside the transaction: VmHWM $hwm1 kB, RssAnon $anon1 kB, RssShmem $shm1 kB";
cmp_ok($ctx, '<', 64 * 2**20,
	'backend memory inside the 1M-row transaction stays below 64 MB');

# While COMMIT queues the keys, another session has the backend log its
# memory contexts every 0.2 s (pg_log_backend_memory_contexts)
my $logpos = -s $node->logfile;
my ($sout, $serr) = ('', '');
my $sampler = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', qq{
DO \$\$
DECLARE
    seen bool := false;
    st text;
BEGIN
    FOR i IN 1 .. 5000 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT state || ':' || query INTO st FROM pg_stat_activity WHERE pid = $pid;
        IF st LIKE 'active:COMMIT%' THEN
            seen := true;
            PERFORM pg_log_backend_memory_contexts($pid);
        ELSIF seen OR i > 300 THEN
            EXIT;
        END IF;
        PERFORM pg_sleep(0.2);
    END LOOP;
END \$\$} ],
	'>', \$sout, '2>', \$serr);
usleep(300_000);

$t0 = time;
my $commit_err = session_query($s, 'COMMIT');
my $commit_end = time;
my $commit_s = $commit_end - $t0;
is($commit_err, '', 'COMMIT gave the client no error or warning');
$sampler->finish;
my @totals = slurp_file($node->logfile, $logpos) =~ /\[$pid\].*Grand total: (\d+) bytes/g;
if (@totals)
{
	# (the last samples may come after COMMIT returned)
	my $max = (sort { $a <=> $b } @totals)[-1];
	note sprintf('during COMMIT (%d samples): memory contexts %s MB',
		scalar @totals, join(' ', map { sprintf '%.1f', $_ / 2**20 } @totals));
	cmp_ok($max, '<', 64 * 2**20, 'backend memory during COMMIT stays below 64 MB');
	# Queueing goes in batches: a few MB of SPI and executor memory at most,
	# not an amount that grows with the number of keys
	cmp_ok($max - $ctx, '<', 12 * 2**20,
		'backend memory does not grow with the keys COMMIT queues');
}
else
{
	note "no memory sample during COMMIT: $serr";
}
note sprintf('COMMIT took %.2f s (it queues %d keys in wt_cache.retry_queue)',
	$commit_s, $NROWS);
my ($hwm2, $anon2, $shm2) = split / /, $s->query_safe($status);
note "after COMMIT: VmHWM $hwm2 kB, RssAnon $anon2 kB, RssShmem $shm2 kB";
note sprintf('peak RSS grew by %.1f MB over the transaction (shared buffers '
	  . 'touched count in it: RssShmem grew by %.1f MB)',
	($hwm2 - $hwm0) / 1024, ($shm2 - $shm0) / 1024);
$s->quit;

my $queued = stats('keys_queued') - $queued_before;
cmp_ok($queued, '>=', $NROWS, "the transaction's keys were queued ($queued)");
is(stats('xacts_pushed'), $pushed_before,
	'COMMIT did not push to Valkey itself');

my $drain = drained(600);
ok(defined $drain, 'the 1M-key queue drained');
if (defined $drain)
{
	my $total = time - $commit_end;
	note sprintf('drain: %d keys in %.1f s after COMMIT returned (%.0f keys/s)',
		$NROWS, $total, $NROWS / $total);
}
is(stale_sample(2000) =~ s/ of .*//r, '0', 'a random sample of rows equals the cache');
is($node->safe_psql('postgres',
		qq{SELECT count(*) FROM t WHERE n <> 1 OR pad <> 'p' || (id % $PADMOD)}),
	'0', 'the table holds what the Lua check expects');
is(valkey_mismatches(1), '0', 'every one of the 1M keys equals its row (Lua check in Valkey)');

# ---------- savepoints in an overflowed transaction ----------

# Equality of the cache and the table over a range of ids
sub stale_range
{
	my ($lo, $hi) = @_;
	return $node->safe_psql('postgres', qq{
SELECT count(*) FROM t WHERE id BETWEEN $lo AND $hi
   AND wt_cache.cache_get('t:' || id) IS DISTINCT FROM row_to_json(t)::text});
}

# Overflow (at 1000 keys) before the savepoint; the savepoint's changes,
# all spilled, are rolled back.
$queued_before = stats('keys_queued');
($rc, $out, $err) = $node->psql('postgres', q{
SET wt_cache.max_changes = 1000;
BEGIN;
UPDATE t SET n = n + 10 WHERE id <= 5000;
SAVEPOINT s;
UPDATE t SET n = n + 100 WHERE id BETWEEN 5001 AND 8000;
ROLLBACK TO s;
COMMIT;
});
is($rc, 0, 'savepoint case 1: committed');
is($err, '', 'savepoint case 1: no error or warning');
$queued = stats('keys_queued') - $queued_before;
cmp_ok($queued, '>=', 5000, "savepoint case 1: keys queued ($queued)");
ok(defined drained(120), 'savepoint case 1: queue drained');
is($node->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE n = 11) || ' ' || count(*) FILTER (WHERE n = 1)
		    FROM t WHERE id <= 8000}),
	'5000 3000', 'savepoint case 1: the table kept only the released changes');
is(stale_range(1, 8000), '0',
	'savepoint case 1: cache equals the table for all 8000 rows');

# Overflow starting inside the savepoint that is rolled back, then more
# changes after the rollback, some of rows the savepoint had touched.
$queued_before = stats('keys_queued');
($rc, $out, $err) = $node->psql('postgres', q{
SET wt_cache.max_changes = 1000;
BEGIN;
UPDATE t SET n = n + 10 WHERE id BETWEEN 10001 AND 10500;
SAVEPOINT s;
UPDATE t SET n = n + 100 WHERE id BETWEEN 10501 AND 13500;
ROLLBACK TO s;
UPDATE t SET n = n + 20 WHERE id BETWEEN 10701 AND 10800 OR id BETWEEN 12001 AND 12500;
SAVEPOINT s2;
UPDATE t SET n = n + 1000 WHERE id BETWEEN 13001 AND 13100;
RELEASE s2;
COMMIT;
});
is($rc, 0, 'savepoint case 2: committed');
is($err, '', 'savepoint case 2: no error or warning');
$queued = stats('keys_queued') - $queued_before;
cmp_ok($queued, '>=', 1200, "savepoint case 2: keys queued ($queued)");
ok(defined drained(120), 'savepoint case 2: queue drained');
is($node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE n = 11) || ' ' || count(*) FILTER (WHERE n = 21) || ' '
    || count(*) FILTER (WHERE n = 1001) || ' ' || count(*) FILTER (WHERE n = 1)
  FROM t WHERE id BETWEEN 10001 AND 13500}),
	'500 600 100 2300', 'savepoint case 2: the table holds the expected values');
is(stale_range(10001, 13500), '0',
	'savepoint case 2: cache equals the table for all 3500 rows');

is(stats('circuit'), 'closed', 'circuit stayed closed');
is(stats('keys_lost'), '0', 'no key lost');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM wt_cache.retry_queue WHERE state = 'dead'}),
	'0', 'no dead entries');

$node->stop;
done_testing();
