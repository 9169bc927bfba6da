/*-------------------------------------------------------------------------
 *
 * epoch.c
 *	  The epoch of versions, and noticing a Valkey that lost its data.
 *
 * A version is (epoch, LSN) (fence.c).  LSNs restart lower after
 * point-in-time recovery, a failover to a standby that missed commits, or a
 * restore into a new cluster; and Valkey can come back without its data
 * (a restart without persistence, FLUSHALL, a failover to an empty or
 * lagging replica), taking the versions and tombstones with it.  One hash
 * in Valkey, {wt_cache}:meta, catches both.  It holds the system identifier
 * and timeline of the server that writes, the epoch, a heartbeat, and for
 * each database the epoch its attached tables were last resynced at
 * ("db:<oid>").  The braces keep it out of every "<prefix>:*" pattern: a
 * prefix cannot contain "{".
 *
 * The launcher checks it every wt_cache.check_interval with one script call,
 * which raises the epoch when
 *	 - the hash is missing: Valkey is empty, or was flushed;
 *	 - it names another system identifier or timeline;
 *	 - its heartbeat or epoch is lower than this server last saw or used:
 *	   Valkey went back to an older state;
 * and otherwise only counts the heartbeat.  A new epoch is above every epoch
 * used before: the one in Valkey, and the last one this server used, kept
 * in the file wt_cache.epoch in the data directory (should Valkey lose the
 * hash but not the keys, say to eviction).
 *
 * Every write reads the epoch from shared memory.  Until the first check
 * has succeeded, backends queue their keys as when the circuit is open
 * (commit.c), and the workers do not write, so nothing is written with an
 * epoch that may be too low.  Each per-database worker compares the epoch
 * with its database's "db:<oid>"; when they differ it queues a resync of
 * every attached table, then records the epoch there.  A write with the old
 * epoch that lands late loses to the resync's, which waited for it
 * (resync.c), and every later write carries the new epoch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "encode.h"
#include "epoch.h"
#include "handoff.h"
#include "queue.h"
#include "retry.h"
#include "stats.h"
#include "wt_cache.h"

#define EPOCH_FILE "wt_cache.epoch"
#define META_KEY "{wt_cache}:meta"

int			wtc_check_interval_ms = 1000;

/*
 * KEYS[1] the meta hash; ARGV: system identifier, timeline, the lowest
 * acceptable epoch (the last this server used), the heartbeat last seen.
 * Returns {epoch, why, heartbeat}; why is "same" unless the epoch was
 * raised.
 */
static const char meta_script[] =
"local m = redis.call('HMGET', KEYS[1], 'sysid', 'tli', 'epoch', 'beat')\n"
"local floor, seen = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
"local epoch = tonumber(m[3])\n"
"local why = nil\n"
"if not m[1] or not epoch then why = 'empty'\n"
"elseif m[1] ~= ARGV[1] or m[2] ~= ARGV[2] then why = 'identity'\n"
"elseif tonumber(m[4] or '0') < seen or epoch < floor then why = 'rollback'\n"
"end\n"
"if why then\n"
"  epoch = math.max(epoch or 0, floor) + 1\n"
"  redis.call('DEL', KEYS[1])\n"
"  redis.call('HSET', KEYS[1], 'sysid', ARGV[1], 'tli', ARGV[2], 'epoch', epoch, 'beat', 1)\n"
"  return {epoch, why, 1}\n"
"end\n"
"return {epoch, 'same', redis.call('HINCRBY', KEYS[1], 'beat', 1)}\n";

/* ---------- shared state ---------- */

/* The epoch every write uses now; 0 before the first check (or unpreloaded) */
uint32
wtc_epoch_current(void)
{
	if (wtc_stats == NULL)
		return 0;
	return pg_atomic_read_u32(&wtc_stats->epoch);
}

/* May writes go out?  Not before the first check of the epoch */
bool
wtc_epoch_known(void)
{
	return wtc_stats == NULL || pg_atomic_read_u32(&wtc_stats->epoch_known) != 0;
}

/* ---------- the launcher's check ---------- */

typedef struct MetaReply
{
	long long	epoch;
	long long	beat;
	char		why[16];
	int			nfields;
} MetaReply;

static void
meta_element(void *arg, long index, const RespReply *el)
{
	MetaReply  *m = (MetaReply *) arg;

	if (index == 0 && el->type == ':')
		m->epoch = el->integer, m->nfields++;
	else if (index == 1 && el->type == '$' && !el->is_nil)
	{
		snprintf(m->why, sizeof(m->why), "%.*s",
				 (int) Min(el->len, sizeof(m->why) - 1), el->str);
		m->nfields++;
	}
	else if (index == 2 && el->type == ':')
		m->beat = el->integer, m->nfields++;
}

static void
meta_reply(void *arg, int index, const RespReply *reply, const char *buf,
		   size_t len)
{
	RespReply	again;

	if (reply->type == '*' && !reply->is_nil)
		(void) resp_parse(buf, len, &again, meta_element, arg);
	else if (reply->type == '-')
		snprintf(((MetaReply *) arg)->why, sizeof(((MetaReply *) arg)->why),
				 "error");
}

static uint32
read_epoch_file(void)
{
	FILE	   *f = AllocateFile(EPOCH_FILE, "r");
	unsigned int e = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%u", &e) != 1)
		e = 0;
	FreeFile(f);
	return (uint32) Min(e, WTC_EPOCH_MAX);
}

static void
write_epoch_file(uint32 epoch)
{
	FILE	   *f = AllocateFile(EPOCH_FILE ".tmp", "w");

	if (f == NULL || fprintf(f, "%u\n", epoch) < 0 ||
		pg_fsync(fileno(f)) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("wt_cache: could not write file \"%s\": %m", EPOCH_FILE ".tmp")));
		if (f != NULL)
			FreeFile(f);
		return;
	}
	FreeFile(f);
	(void) durable_rename(EPOCH_FILE ".tmp", EPOCH_FILE, LOG);
}

/*
 * Send one command of NUL-terminated arguments and read its reply, within
 * wt_cache.command_timeout.  0, or -1 with conn->errbuf set.
 */
static int
meta_command(WtcConn *conn, int argc, const char **argv,
			 WtcReplyVisitor visit, void *arg)
{
	size_t		argvlen[8];
	StringInfoData cmd;
	int			rc;

	Assert(argc <= lengthof(argvlen));
	for (int i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	initStringInfo(&cmd);
	wtc_append_command(&cmd, argc, argv, argvlen);
	rc = wtc_conn_exchange(conn, cmd.data, cmd.len, 1,
						   wtc_now_us() + (int64_t) wtc_command_timeout_ms * 1000,
						   visit, arg);
	pfree(cmd.data);
	return rc;
}

/*
 * wtc_epoch_check
 *		The launcher's check of {wt_cache}:meta.  Returns 0, or -1 if Valkey
 *		could not be asked (conn->errbuf says why).  Raises no ERROR.
 */
int
wtc_epoch_check(WtcConn *conn)
{
	static uint32 floor_epoch = 0;
	static bool floor_read = false;
	static long long seen_beat = 0;
	char		sysid[32];
	char		tli[16];
	char		floorbuf[16];
	char		seenbuf[32];
	const char *argv[8];
	MetaReply	m;

	if (!floor_read)
	{
		floor_epoch = read_epoch_file();
		floor_read = true;
	}
	snprintf(sysid, sizeof(sysid), UINT64_FORMAT, GetSystemIdentifier());
	snprintf(tli, sizeof(tli), "%u", GetWALInsertionTimeLine());
	snprintf(floorbuf, sizeof(floorbuf), "%u", floor_epoch);
	snprintf(seenbuf, sizeof(seenbuf), "%lld", seen_beat);
	argv[0] = "EVAL";
	argv[1] = meta_script;
	argv[2] = "1";
	argv[3] = META_KEY;
	argv[4] = sysid;
	argv[5] = tli;
	argv[6] = floorbuf;
	argv[7] = seenbuf;
	memset(&m, 0, sizeof(m));
	if (meta_command(conn, 8, argv, meta_reply, &m) != 0)
		return -1;
	if (m.nfields != 3 || m.epoch < 1 || m.epoch > WTC_EPOCH_MAX)
	{
		snprintf(conn->errbuf, sizeof(conn->errbuf),
				 "unexpected reply to the check of %s", META_KEY);
		return -1;
	}
	seen_beat = m.beat;
	if (strcmp(m.why, "same") != 0)
	{
		ereport(LOG,
				(errmsg("wt_cache: epoch raised to %lld: %s", m.epoch,
						strcmp(m.why, "empty") == 0 ?
						"Valkey has no wt_cache metadata (it is new, or lost its data)" :
						strcmp(m.why, "identity") == 0 ?
						"Valkey was last written by another server or timeline" :
						"Valkey went back to an older state"),
				 errdetail("The attached tables of every database will be resynced.")));
	}
	if ((uint32) m.epoch != floor_epoch)
	{
		floor_epoch = (uint32) m.epoch;
		write_epoch_file(floor_epoch);
	}
	if (wtc_stats != NULL &&
		(pg_atomic_read_u32(&wtc_stats->epoch) != (uint32) m.epoch ||
		 pg_atomic_read_u32(&wtc_stats->epoch_known) == 0))
	{
		pg_atomic_write_u32(&wtc_stats->epoch, (uint32) m.epoch);
		pg_atomic_write_u32(&wtc_stats->epoch_known, 1);
		wtc_handoff_wake_all();
	}
	return 0;
}

/* ---------- a database's side ---------- */

static void
db_field(char *dst, size_t len)
{
	snprintf(dst, len, "db:%u", MyDatabaseId);
}

/* The epoch this database's tables were last resynced at, or -1 */
static void
hget_element(void *arg, int index, const RespReply *reply, const char *buf,
			 size_t len)
{
	long long  *out = (long long *) arg;

	if (reply->type == '$' && !reply->is_nil)
	{
		char		num[32];

		snprintf(num, sizeof(num), "%.*s", (int) Min(reply->len, sizeof(num) - 1),
				 reply->str);
		*out = strtoll(num, NULL, 10);
	}
}

/*
 * wtc_epoch_sync_db
 *		A per-database worker's part: if this database's tables were not
 *		resynced at the current epoch, queue their resync, then record the
 *		epoch in Valkey.  Returns 0, or -1 if Valkey failed (conn->errbuf).
 *		May raise an ERROR (queueing runs SQL): run it guarded.
 */
int
wtc_epoch_sync_db(WtcConn *conn)
{
	static uint32 done_epoch = 0;
	uint32		epoch = wtc_epoch_current();
	char		field[32];
	char		value[16];
	long long	theirs = -1;
	const char *argv[4];

	if (!wtc_epoch_known() || epoch == done_epoch)
		return 0;
	db_field(field, sizeof(field));
	snprintf(value, sizeof(value), "%u", epoch);
	argv[0] = "HGET";
	argv[1] = META_KEY;
	argv[2] = field;
	if (meta_command(conn, 3, argv, hget_element, &theirs) != 0)
		return -1;
	if (theirs != (long long) epoch)
	{
		wtc_worker_xact_begin();
		if (wtc_queue_resync_all() > 0)
			ereport(LOG,
					(errmsg("wt_cache: resyncing the attached tables of database \"%s\" at epoch %u",
							get_database_name(MyDatabaseId), epoch)));
		wtc_worker_xact_end();

		/* Queued for good: now say so in Valkey */
		argv[0] = "HSET";
		argv[3] = value;
		if (meta_command(conn, 4, argv, NULL, NULL) != 0)
			return -1;
	}
	done_epoch = epoch;
	return 0;
}
