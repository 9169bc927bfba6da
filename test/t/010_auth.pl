# Valkey with a password and an ACL user: wt_cache.password_file,
# wt_cache.username and wt_cache.database.
#
# A password file that is not private is refused (the LOG says why) and
# commits queue their keys; once it is private and the server reloaded, the
# worker logs in and drains the queue, and commits write at commit time.  A
# wrong password is a failed connection like any other, and neither the
# wrong nor the right password ever reaches the server log or
# wt_cache.stats.  The least-privilege ACL user of the README works, also
# for resync (SCAN, UNLINK).  wt_cache.database = 3 writes to database 3
# only.  A server without a password still works with the settings empty.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use WtcTest;

# Passwords that cannot turn up in a log by chance
my $right = sprintf('rightPW%08x%08x', int(rand(2**32)), $$);
my $wrong = sprintf('wrongPW%08x%08x', int(rand(2**32)), $$);
my $aclpw = sprintf('aclPW%08x%08x', int(rand(2**32)), $$);

my $valkey = wtc_valkey();
is($valkey->cli('CONFIG', 'SET', 'requirepass', $right), 'OK',
	'Valkey requires a password from now on');

# redis-cli as the default user, on database $db
sub vcli
{
	my ($db, @args) = @_;
	my $out = `'$valkey->{cli}' -p @{[ $valkey->port ]} -n $db -a @{[ quotemeta $right ]} --no-auth-warning @{[ map { quotemeta } @args ]} 2>&1`;
	chomp $out;
	return $out;
}
is(vcli(0, 'PING'), 'PONG', 'redis-cli with the password gets in');
like($valkey->cli('GET', 'x') // 'failed', qr/NOAUTH|failed/,
	'... and without it does not');

my $node = wtc_node('auth', $valkey, q{
wt_cache.connect_timeout = 500
wt_cache.command_timeout = 500
wt_cache.launcher_naptime = 1
wt_cache.password_file = 'valkey.pw'
});
my $pwfile = $node->data_dir . '/valkey.pw';

sub write_pwfile
{
	my ($password, $mode) = @_;
	open(my $fh, '>', $pwfile) or die "could not write $pwfile: $!";
	print $fh "$password\n";
	close $fh;
	chmod($mode, $pwfile) or die;
}

# Run $sql (ALTER SYSTEM...), reload, and wait until a new session sees
# $setting = $want
sub reload
{
	my ($sql, $setting, $want) = @_;
	$node->safe_psql('postgres', "$sql;\nSELECT pg_reload_conf();");
	defined wtc_wait($node, 'postgres', "SELECT current_setting('$setting')", $want, 10)
	  or die "reload: $setting did not become $want";
}

sub stats
{
	my ($cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM wt_cache.stats");
}

sub log_text { return slurp_file($node->logfile); }

# psql; returns (exit code, stderr)
sub write_sql
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	return ($rc, $err);
}

sub row_json
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT row_to_json(a)::text FROM acct a WHERE id = $id");
}

sub pending
{
	return $node->safe_psql('postgres',
		q{SELECT string_agg(key, ',' ORDER BY key) FROM wt_cache.retry_queue WHERE state = 'pending'});
}

$node->safe_psql('postgres', q{
CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL, note text);
SELECT wt_cache.attach('acct');
});

# ---- (1) a password file with group and world read access is refused
write_pwfile($right, 0644);
my ($rc, $err) = write_sql(q{INSERT INTO acct SELECT g, 100, 'first' FROM generate_series(1, 5) g});
is($rc, 0, '(1) commit succeeds while the password file is refused');
is($err, '', '... with no error or warning');
is(pending(), 'acct:1,acct:2,acct:3,acct:4,acct:5',
	'... and its keys wait in wt_cache.retry_queue');
cmp_ok(stats('keys_queued'), '>=', 5, '... counted in keys_queued');
# The commit may not try Valkey itself (the launcher has not been able to
# check the epoch, or the circuit is open): the worker's next attempt says
# why, within its probe backoff (at most 5 s)
ok(defined wtc_wait($node, 'postgres',
		q{SELECT last_error ~ 'password file "valkey\.pw" has group or world access \(permissions 0644' FROM wt_cache.stats},
		't', 15),
	'... last_error says why');
my $log_deadline = time + 15;
Time::HiRes::usleep(200_000) while time < $log_deadline && log_text() !~
  /LOG:  wt_cache could not log in to Valkey: password file "valkey\.pw" has group or world access/;
like(log_text(),
	qr/LOG:  wt_cache could not log in to Valkey: password file "valkey\.pw" has group or world access \(permissions 0644; they must be u=rw \(0600\) or less\)/,
	'... and so does the LOG, naming the file');
is(vcli(0, 'EXISTS', 'acct:1'), '0', '... nothing reached Valkey');

# ---- (2) chmod 0600 and reload: the worker logs in and drains the queue
chmod(0600, $pwfile) or die;
reload('SELECT 1', 'wt_cache.password_file', 'valkey.pw');
is(wtc_converged($node, 'postgres', 'acct', 60), 'ok',
	'(2) after chmod 0600 the worker drained the queue');
ok(defined wtc_wait($node, 'postgres', 'SELECT circuit FROM wt_cache.stats', 'closed', 30),
	'... and the circuit is closed');
is(vcli(0, 'GET', 'acct:3'), row_json(3), '... the keys are in Valkey');
($rc, $err) = write_sql(q{UPDATE acct SET balance = 201, note = 'at commit' WHERE id = 1});
is("$rc $err", '0 ', 'a new commit succeeds');
is(vcli(0, 'GET', 'acct:1'), row_json(1),
	'... and its key is in Valkey right after COMMIT');
is(pending(), '', '... not in the queue');

# Logging in counts against the connect deadline: against a frozen server
# (the kernel still accepts the TCP connection) a commit that must connect
# waits at most wt_cache.connect_timeout for AUTH and SCRIPT LOAD together
$valkey->freeze;
($rc, my $timing, $err) = $node->psql('postgres',
	"\\timing on\nUPDATE acct SET note = 'frozen' WHERE id = 2");
$valkey->thaw;
is("$rc $err", '0 ', 'a commit against a frozen server succeeds');
my ($took) = $timing =~ /Time: ([0-9.]+) ms/;
ok(defined $took && $took >= 450 && $took < 1200,
	"... after the connect deadline (took @{[ $took // '?' ]} ms, connect_timeout 500ms)");
like(stats('last_error'), qr/timed out/, '... the login timed out');
is(wtc_converged($node, 'postgres', 'acct', 60), 'ok', '... and its key landed later');

# ---- (3) a wrong password: commits succeed, keys queued, no password logged
write_pwfile($wrong, 0600);
reload('SELECT 1', 'wt_cache.password_file', 'valkey.pw');    # the worker reconnects, with the wrong password
($rc, $err) = write_sql(q{UPDATE acct SET balance = 300, note = 'wrong password' WHERE id = 2});
is("$rc $err", '0 ', '(3) commit with a wrong password succeeds, no warning');
ok(defined wtc_wait($node, 'postgres',
		q{SELECT count(*) FROM wt_cache.retry_queue WHERE key = 'acct:2' AND state = 'pending'}, '1', 10),
	'... its key is queued');
isnt(vcli(0, 'GET', 'acct:2'), row_json(2), '... and not written');
my $last_error = stats('last_error');
like($last_error, qr/^AUTH refused: WRONGPASS/, "... last_error: $last_error");
ok(index($last_error, $wrong) < 0 && index($last_error, $right) < 0,
	'... last_error holds neither password');
# The worker fails too, now that it reconnected; then read the whole log
my $log;
for (1 .. 100)
{
	$log = log_text();
	last if $log =~ /wt_cache could not log in to Valkey: AUTH refused/;
	Time::HiRes::usleep(100_000);
}
like($log, qr/LOG:  wt_cache could not log in to Valkey: AUTH refused: WRONGPASS/,
	'... the LOG says the AUTH was refused');
is(scalar(() = $log =~ /\Q$wrong\E/g), 0, '... the wrong password is nowhere in the server log');
is(scalar(() = $log =~ /\Q$right\E/g), 0, '... nor the right one');

# ---- (4) an ACL user with the README's least-privilege line
is(vcli(0, 'ACL', 'SETUSER', 'wtc', 'reset', 'on', ">$aclpw",
		'~acct:*', '~{acct:*}:v', '~{wt_cache}:*', '-@all',
		'+evalsha', '+eval', '+eval_ro', '+script|load', '+get', '+mget', '+set',
		'+mset', '+del', '+type', '+exists',
		'+unlink', '+pexpire', '+scan', '+ping', '+select', '+hget', '+hset',
		'+hmget', '+hincrby'),
	'OK', '(4) ACL user wtc created');
like(vcli(0, 'ACL', 'DRYRUN', 'wtc', 'FLUSHALL'), qr/no permissions/,
	'... it may not FLUSHALL');
write_pwfile($aclpw, 0600);
reload(q{ALTER SYSTEM SET wt_cache.username = 'wtc'}, 'wt_cache.username', 'wtc');
is(wtc_converged($node, 'postgres', 'acct', 60), 'ok',
	'as wtc the worker drained the queue');
is(vcli(0, 'GET', 'acct:2'), row_json(2), '... acct:2 landed');
($rc, $err) = write_sql(q{UPDATE acct SET balance = 400, note = 'acl user' WHERE id = 3});
is("$rc $err", '0 ', 'a commit as wtc succeeds');
is(vcli(0, 'GET', 'acct:3'), row_json(3), '... its key is in Valkey right after COMMIT');
like(vcli(0, 'CLIENT', 'LIST'), qr/user=wtc /, '... connected as user wtc');
vcli(0, 'SET', 'acct:99', 'stray');
is($node->safe_psql('postgres', q{SELECT wt_cache.resync('acct')}), '5',
	'resync as wtc (SCAN, UNLINK, EVALSHA)');
is(vcli(0, 'EXISTS', 'acct:99'), '0', '... removed the stray key');
is($node->safe_psql('postgres',
		q{SELECT rows || ' ' || missing + stale + unexpected FROM wt_cache.verify_summary('acct')}),
	'5 0', 'verify_summary as wtc (EVAL_RO, MGET, EXISTS, SCAN): every key right');
is(vcli(0, 'GET', 'acct:5'), row_json(5), '... and wrote the rows');

# ---- (5) wt_cache.database = 3
reload(q{ALTER SYSTEM SET wt_cache.database = 3}, 'wt_cache.database', '3');
($rc, $err) = write_sql(q{INSERT INTO acct VALUES (100, 1, 'db 3')});
is("$rc $err", '0 ', '(5) a commit with wt_cache.database = 3 succeeds');
is(vcli(3, 'GET', 'acct:100'), row_json(100), '... its key is in database 3');
is(vcli(0, 'EXISTS', 'acct:100'), '0', '... not in database 0');
is($node->safe_psql('postgres', q{SELECT wt_cache.cache_get('acct:100')}), row_json(100),
	'... and cache_get reads database 3');
reload(q{ALTER SYSTEM SET wt_cache.database = 5000}, 'wt_cache.database', '5000');
($rc, my $out, $err) = $node->psql('postgres', q{SELECT wt_cache.cache_get('acct:100')});
like($err, qr/could not connect to Valkey: SELECT 5000 refused: ERR DB index is out of range/,
	'a database Valkey does not have is a failed connection');
reload(q{ALTER SYSTEM SET wt_cache.database = 3}, 'wt_cache.database', '3');
# The worker's failed logins opened the circuit; it closes it once it is in
ok(defined wtc_wait($node, 'postgres', 'SELECT circuit FROM wt_cache.stats', 'closed', 30),
	'back on database 3, the worker logged in and closed the circuit');
($rc, $err) = write_sql(q{UPDATE acct SET balance = 500, note = 'db 3 again' WHERE id = 5});
is("$rc $err", '0 ', '... a commit succeeds');
is(vcli(3, 'GET', 'acct:5'), row_json(5), '... its key is in database 3');
isnt(vcli(0, 'GET', 'acct:5'), row_json(5), '... not in database 0');
is(pending(), '', '... nothing queued');

# ---- more refusals, seen through cache_get (the session's own connection)
sub cache_get_error
{
	my ($r, $o, $e) = $node->psql('postgres', q{SELECT wt_cache.cache_get('acct:1')});
	return $e;
}
reload(q{ALTER SYSTEM SET wt_cache.password_file = 'pg_wal'},
	'wt_cache.password_file', 'pg_wal');
like(cache_get_error(),
	qr/could not connect to Valkey: password file "pg_wal" is not a regular file/,
	'a directory as password file is refused');
write_pwfile('', 0600);
reload(q{ALTER SYSTEM RESET wt_cache.password_file}, 'wt_cache.password_file', 'valkey.pw');
like(cache_get_error(),
	qr/could not connect to Valkey: password file "valkey\.pw" has an empty first line/,
	'an empty password is refused');
reload(q{ALTER SYSTEM SET wt_cache.password_file = ''}, 'wt_cache.password_file', '');
like(cache_get_error(),
	qr/could not connect to Valkey: wt_cache.username is set but wt_cache.password_file is not/,
	'a user without a password file is refused');

# ---- (6) a server without a password, settings empty
my $plain = wtc_valkey();
reload(q{ALTER SYSTEM RESET wt_cache.username;
ALTER SYSTEM RESET wt_cache.database;
ALTER SYSTEM SET wt_cache.password_file = '';
ALTER SYSTEM SET wt_cache.port = } . $plain->port, 'wt_cache.port', $plain->port);
ok(defined wtc_wait($node, 'postgres', 'SELECT circuit FROM wt_cache.stats', 'closed', 30),
	'(6) a server without a password: the worker connected');
($rc, $err) = write_sql(q{UPDATE acct SET balance = 600, note = 'no auth' WHERE id = 4});
is("$rc $err", '0 ', '... a commit succeeds');
is($plain->cli('GET', 'acct:4'), row_json(4), '... its key is there right after COMMIT');
is(pending(), '', '... nothing queued');

my $log_all = log_text();
is(scalar(() = $log_all =~ /\Q$aclpw\E|\Q$right\E|\Q$wrong\E/g), 0,
	'no password anywhere in the server log');

$node->stop;
done_testing();
