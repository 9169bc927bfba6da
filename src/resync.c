/*-------------------------------------------------------------------------
 *
 * resync.c
 *	  The worker's resync jobs: a table's keys removed, its rows written.
 *
 * A resync job (a 'resync' row of wt_cache.retry_queue) is queued by
 * TRUNCATE of an attached table, when a backend's handoff ring was full,
 * and after the server stopped uncleanly (handoffs held in shared memory
 * may be lost).  The worker removes every key of the table (SCAN with the
 * prefix, UNLINK, in batches, without blocking anyone), then writes every
 * row the table has under a snapshot taken after that: a change committed
 * meanwhile is either in that snapshot or pushed by its own commit after
 * the keys were removed, so the cache ends with the table's rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "commit.h"
#include "config.h"
#include "encode.h"
#include "fence.h"
#include "resync.h"
#include "retry.h"
#include "scan.h"
#include "stats.h"
#include "wt_cache.h"

#define WRITE_BATCH 5000

/*
 * UNLINK the keys of one SCAN reply; their version keys stay as
 * tombstones for a while (PEXPIRE), so that a late older write cannot
 * bring a row back.
 */
typedef struct UnlinkState
{
	WtcConn    *conn;
	int64		removed;		/* keys so far, for wt_cache.resync_progress */
} UnlinkState;

static bool
unlink_keys(void *arg, int nkeys, char **keys, const size_t *lens)
{
	UnlinkState *st = (UnlinkState *) arg;
	WtcConn    *conn = st->conn;
	StringInfoData cmd;
	bool		ok;

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "*%d\r\n$6\r\nUNLINK\r\n", nkeys + 1);
	for (int i = 0; i < nkeys; i++)
	{
		appendStringInfo(&cmd, "$%zu\r\n", lens[i]);
		appendBinaryStringInfo(&cmd, keys[i], lens[i]);
		appendBinaryStringInfo(&cmd, "\r\n", 2);
	}
	for (int i = 0; i < nkeys; i++)
	{
		appendStringInfo(&cmd, "*3\r\n$7\r\nPEXPIRE\r\n$%zu\r\n{", lens[i] + 4);
		appendBinaryStringInfo(&cmd, keys[i], lens[i]);
		appendStringInfo(&cmd, "}:v\r\n$%d\r\n%d\r\n",
						 (int) snprintf(NULL, 0, "%d", wtc_tombstone_ms), wtc_tombstone_ms);
	}
	ok = wtc_conn_exchange(conn, cmd.data, cmd.len, 1 + nkeys,
						   wtc_now_us() + (int64_t) Max(wtc_command_timeout_ms, 10000) * 1000,
						   NULL, NULL) == 0;
	pfree(cmd.data);
	st->removed += nkeys;
	wtc_progress_update("removing keys", st->removed, 0);
	return ok;
}

/* Remove every key "<prefix>:*"; false if the connection failed */
static bool
unlink_prefix(WtcConn *conn, const char *prefix)
{
	UnlinkState st = {conn, 0};

	return wtc_scan_prefix(conn, prefix, Max(wtc_command_timeout_ms, 10000),
						   unlink_keys, &st);
}

typedef struct WriteCount
{
	int			failed;
	char		err[256];
	bool		options_changed;	/* attach changed them meanwhile */
} WriteCount;

static void
count_result(void *arg, int keyindex, const char *err, size_t errlen)
{
	WriteCount *wc = (WriteCount *) arg;

	if (err != NULL && wc->failed++ == 0)
		snprintf(wc->err, sizeof(wc->err), "%.*s", (int) Min(errlen, 255), err);
}

/*
 * The batch sent last, whose replies are read once the next batch is
 * built: Valkey applies one batch while we scan and render the next.
 */
typedef struct InFlight
{
	bool		pending;
	int			ncalls;
	int			keys_per_call;
	int			nkeys;
	int64_t		deadline;
	int64		landed;			/* rows written so far */
} InFlight;

static bool
collect_batch(WtcConn *conn, InFlight *f, WriteCount *wc)
{
	WtcBatchReplies r;

	if (!f->pending)
		return true;
	f->pending = false;
	memset(&r, 0, sizeof(r));
	r.keys_per_call = f->keys_per_call;
	r.nkeys = f->nkeys;
	r.on_key = count_result;
	r.arg = wc;
	if (wtc_conn_exchange(conn, NULL, 0, f->ncalls, f->deadline,
						  wtc_batch_reply, &r) != 0)
		return false;
	/* Refused as older: a commit after our snapshot wrote them */
	wtc_count(&wtc_stats->stale_rejected, r.nstale);
	f->landed += f->nkeys;
	wtc_progress_update("writing rows", 0, f->landed);
	return true;
}

/* Read the replies of the batch before, then send this one */
static bool
send_batch(WtcConn *conn, WtcWriteBatch *b, InFlight *f, WriteCount *wc,
		   const char *version)
{
	wtc_batch_finish(b);
	if (!collect_batch(conn, f, wc))
		return false;
	if (b->nkeys == 0)
		return true;
	wtc_batch_set_version(b, version);
	/* Test-only: land this batch late, as a delayed commit's push would */
	if (wtc_test_push_delay_ms > 0)
		pg_usleep((long) wtc_test_push_delay_ms * 1000L);
	f->deadline = wtc_now_us() + (int64_t) Max(wtc_command_timeout_ms, 10000) * 1000;
	if (wtc_conn_send(conn, b->out.data, b->out.len, f->deadline) != 0)
		return false;
	f->pending = true;
	f->ncalls = b->ncalls;
	f->keys_per_call = b->keys_per_call;
	f->nkeys = b->nkeys;
	return true;
}

/* Delete, fenced, the keys of one SCAN reply that belong to no row */
typedef struct GhostState
{
	WtcConn    *conn;
	const WtcKeySet *ks;
	const char *version;
	WriteCount *wc;
	int64		removed;
} GhostState;

static bool
delete_ghosts(void *arg, int nkeys, char **keys, const size_t *lens)
{
	GhostState *st = (GhostState *) arg;
	WtcWriteBatch b;
	InFlight	f = {0};
	bool		ok;

	wtc_batch_init(&b, st->conn->script_sha);
	for (int i = 0; i < nkeys; i++)
		if (!wtc_keyset_has(st->ks, keys[i], lens[i]))
			wtc_batch_add(&b, keys[i], lens[i], NULL, 0, 0);
	st->removed += b.nkeys;
	ok = send_batch(st->conn, &b, &f, st->wc, st->version) &&
		collect_batch(st->conn, &f, st->wc);
	pfree(b.out.data);
	wtc_progress_update("removing keys", st->removed, f.landed);
	return ok;
}

/*
 * Is this lock holder a VACUUM (or autovacuum, or CREATE INDEX
 * CONCURRENTLY)?  Their ShareUpdateExclusiveLock conflicts with the
 * ShareLock we ask about, but they change no row: no need to wait for them,
 * and vacuuming a big table takes long.  A vxid whose backend has moved on
 * has ended anyway.
 */
static bool
changes_no_rows(VirtualTransactionId vxid)
{
	PGPROC	   *proc;

	if (vxid.backendId == InvalidBackendId)
		return false;			/* a prepared transaction */
	proc = BackendIdGetProc(vxid.backendId);
	return proc != NULL &&
		(proc->lxid != vxid.localTransactionId ||
		 (proc->statusFlags & (PROC_IS_AUTOVACUUM | PROC_IN_VACUUM | PROC_IN_SAFE_IC)) != 0);
}

/*
 * wtc_wait_for_writers
 *		Wait until every transaction that holds a lock a writer takes
 *		(RowExclusiveLock or stronger) on one of the tables has ended, as
 *		CREATE INDEX CONCURRENTLY waits (but not for VACUUM): for up to
 *		timeout_ms, polling, or with timeout_ms < 0 for as long as it takes,
 *		in lock waits that show in pg_locks.  True if they all ended.
 *
 * This makes versions safe beside commits still in flight: take the WAL
 * insert position, wait, then read under a new snapshot.  That snapshot
 * sees every commit of those tables whose record precedes the position (a
 * committed transaction keeps its locks until it has left the proc array);
 * any other commit gets a newer version than the position, and wins.
 */
bool
wtc_wait_for_writers(const Oid *relids, int n, int timeout_ms)
{
	VirtualTransactionId *all = NULL;
	int			nall = 0;
	int64_t		deadline = wtc_now_us() + (int64_t) Max(timeout_ms, 0) * 1000;
	List	   *locked = NIL;
	ListCell   *lc;

	/*
	 * A partitioned table's writers may lock only the partitions they
	 * write (a write straight into a partition): wait for those too.
	 */
	for (int i = 0; i < n; i++)
	{
		locked = lappend_oid(locked, relids[i]);
		if (get_rel_relkind(relids[i]) == RELKIND_PARTITIONED_TABLE)
			locked = list_concat(locked, wtc_leaf_relids(relids[i]));
	}
	foreach(lc, locked)
	{
		LOCKTAG		tag;
		VirtualTransactionId *v;
		int			count = 0;

		SET_LOCKTAG_RELATION(tag, MyDatabaseId, lfirst_oid(lc));
		v = GetLockConflicts(&tag, ShareLock, &count);
		if (count == 0)
			continue;
		all = all ? repalloc(all, sizeof(*all) * (nall + count)) :
			palloc(sizeof(*all) * count);
		for (int j = 0; j < count; j++)
			if (!changes_no_rows(v[j]))
				all[nall++] = v[j];
	}
	for (;;)
	{
		int			left = 0;

		for (int i = 0; i < nall; i++)
			if (!VirtualXactLock(all[i], timeout_ms < 0))
				all[left++] = all[i];
		nall = left;
		if (nall == 0)
			return true;
		if (wtc_now_us() >= deadline)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * wtc_row_changed_since
 *		Was the row version whose xmin this is written by a transaction that
 *		snapshot "before" does not see?  Taken before the version, "before" tells rows that a
 *		commit changed after the version was taken: writing one with that
 *		version could later let an older commit's late write (newer version,
 *		older row) land over it.  Such a commit pushes the row itself.
 */
bool
wtc_row_changed_since(TransactionId xmin, Snapshot before)
{
	if (!TransactionIdIsNormal(xmin))
		return false;
	if (TransactionIdIsCurrentTransactionId(xmin))
		return true;			/* our own commit will push it */
	return XidInMVCCSnapshot(xmin, before);
}

/* The version a resync writes with: see wtc_wait_for_writers */
static XLogRecPtr
safe_version(Relation rel)
{
	XLogRecPtr	lsn = GetXLogInsertRecPtr();
	Oid			relid = RelationGetRelid(rel);

	(void) wtc_wait_for_writers(&relid, 1, -1);
	return lsn;
}

/*
 * Write every row of the table, with the version written to version; with
 * ks, also gather the keys of the rows there are.  False if the connection
 * failed.
 */
static bool
write_rows(WtcConn *conn, Relation rel, WtcTableConfig *cfg, int64 *rows,
		   WriteCount *wc, WtcKeySet *ks, char *version)
{
	Snapshot	before;
	Snapshot	snap;
	WtcRowScan	scan;
	TupleTableSlot *slot;
	StringInfoData key;
	StringInfoData json;
	WtcWriteBatch batch;
	WtcSavedSettings saved;
	volatile bool ok = true;
	InFlight	inflight = {0};
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"wt_cache resync batch",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	/*
	 * NB: rows written by a commit that this snapshot does not see are left
	 * to that commit's own push (wtc_row_changed_since).  The others are
	 * as of the version: no commit with an older record than the version
	 * is missing from them (safe_version), none with a newer one is in.
	 */
	before = RegisterSnapshot(GetLatestSnapshot());
	wtc_progress_update("waiting for transactions", 0, 0);
	wtc_format_version(version, safe_version(rel));

	/*
	 * NB: the options may have changed while we waited (attach again, say
	 * with a column fewer): rows written with the old ones could put back
	 * what the new ones leave out.  That attach queued its own load.
	 */
	AcceptInvalidationMessages();
	{
		WtcTableConfig *now = wtc_config_get(rel);

		if (now == NULL || now->problem != NULL || !wtc_config_same(cfg, now))
		{
			wc->options_changed = true;
			UnregisterSnapshot(before);
			MemoryContextDelete(batch_cxt);
			return true;
		}
	}
	wtc_progress_update("writing rows", 0, 0);
	snap = RegisterSnapshot(GetLatestSnapshot());
	wtc_rowscan_begin(&scan, rel, snap);
	old = MemoryContextSwitchTo(batch_cxt);
	wtc_batch_init(&batch, conn->script_sha);
	wtc_fixed_settings_enter(&saved);
	PG_TRY();
	{
		initStringInfo(&key);
		initStringInfo(&json);
		while (ok && wtc_rowscan_next(&scan, &slot))
		{
			resetStringInfo(&key);
			if (!wtc_render_key(cfg, slot, &key))
				continue;
			if (ks != NULL)
				wtc_keyset_add(ks, key.data, key.len);
			if (wtc_row_changed_since(wtc_slot_xmin(scan.leaf_slot), before))
				continue;
			resetStringInfo(&json);
			wtc_render_json(cfg, slot, &json);
			wtc_batch_add(&batch, key.data, key.len, json.data, json.len, cfg->ttl);
			(*rows)++;
			if (batch.nkeys >= WRITE_BATCH)
			{
				ok = send_batch(conn, &batch, &inflight, wc, version);
				MemoryContextReset(batch_cxt);
				initStringInfo(&key);
				initStringInfo(&json);
				wtc_batch_init(&batch, conn->script_sha);
				CHECK_FOR_INTERRUPTS();
			}
		}
		if (ok)
			ok = send_batch(conn, &batch, &inflight, wc, version) &&
				collect_batch(conn, &inflight, wc);
	}
	PG_FINALLY();
	{
		wtc_fixed_settings_exit(&saved);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch_cxt);
	wtc_rowscan_end(&scan);
	UnregisterSnapshot(snap);
	UnregisterSnapshot(before);
	return ok;
}

/*
 * Remove every key of the table (unless load) and write every row (unless
 * it is in invalidate mode), showing progress in wt_cache.resync_progress.
 * False if the connection failed.
 */
static bool
resync_rel(WtcConn *conn, Relation rel, WtcTableConfig *cfg, bool load,
		   int64 *rows, WriteCount *wc)
{
	bool		ok;
	char		version[WTC_VERSION_LEN + 1];

	wtc_progress_begin(RelationGetRelid(rel), load);
	if (cfg->invalidate)
		ok = load || unlink_prefix(conn, cfg->prefix);
	else if (load)
		ok = write_rows(conn, rel, cfg, rows, wc, NULL, version);
	else
	{
		WtcKeySet	ks;
		GhostState	st = {conn, &ks, version, wc, 0};

		/*
		 * The rows first, then the keys of rows there are not, deleted with
		 * the same version: a row inserted meanwhile has a newer one, and
		 * its key stays.  Readers never miss a row that is there.
		 */
		wtc_keyset_init(&ks);
		ok = write_rows(conn, rel, cfg, rows, wc, &ks, version);
		if (ok && !wc->options_changed)
		{
			wtc_keyset_seal(&ks);
			ok = wtc_scan_prefix(conn, cfg->prefix, Max(wtc_command_timeout_ms, 10000),
								 delete_ghosts, &st);
		}
		wtc_keyset_free(&ks);
	}
	wtc_progress_end();
	return ok;
}

/*
 * wtc_resync_table
 *		Remove every key of an attached table and write every row, with a
 *		version safe beside live writes.  Returns the rows written, or -1 if
 *		the connection failed (conn->errbuf says why).
 */
int64
wtc_resync_table(WtcConn *conn, Relation rel, WtcTableConfig *cfg,
				 int *failed, char *err, size_t errlen)
{
	int64		rows = 0;
	WriteCount	wc = {0};

	if (!resync_rel(conn, rel, cfg, false, &rows, &wc))
		return -1;
	if (wc.options_changed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the wt_cache options of table \"%s\" changed during its resync",
						RelationGetRelationName(rel)),
				 errhint("Run wt_cache.resync() again.")));
	*failed = wc.failed;
	strlcpy(err, wc.err, errlen);
	return rows;
}

/*
 * wtc_resync_job
 *		Run one due resync job.  Returns 1 if there was one, 0 if not.
 *		Sets *conn_failed if Valkey could not be reached (the job stays).
 */
int
wtc_resync_job(WtcConn *conn, bool *conn_failed)
{
	int64		id;
	Oid			relid;
	bool		isnull;
	Relation	rel;
	WtcTableConfig *cfg = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	int64		rows = 0;
	WriteCount	wc = {0};
	bool		load;

	*conn_failed = false;
	wtc_worker_xact_begin();
	if (SPI_execute("SELECT id, rel, kind OPERATOR(pg_catalog.=) 'load' FROM wt_cache.retry_queue"
					" WHERE kind IN ('resync', 'load') AND state = 'pending'"
					" AND next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
					" ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read wt_cache.retry_queue");
	if (SPI_processed == 0)
	{
		wtc_worker_xact_end();
		return 0;
	}
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	load = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	wtc_current_entry_id = id;
	values[0] = Int64GetDatum(id);

	rel = try_relation_open(relid, AccessShareLock);
	if (rel != NULL)
		cfg = wtc_config_get(rel);
	/*
	 * NB: writing the rows waits for the table's writers (safe_version);
	 * one that takes long (a forgotten prepared transaction, say) must not
	 * hold the worker up, so the job waits for a later pass instead.
	 */
	if (cfg != NULL && cfg->problem == NULL &&
		!wtc_wait_for_writers(&relid, 1, WTC_WRITERS_WAIT_MS))
	{
		wtc_current_entry_id = 0;
		relation_close(rel, AccessShareLock);
		if (SPI_execute_with_args("UPDATE wt_cache.retry_queue SET next_attempt_at ="
								  " pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) interval '1 s'"
								  " WHERE id OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update wt_cache.retry_queue");
		wtc_worker_xact_end();
		return 0;
	}
	if (cfg != NULL && cfg->problem == NULL)
	{
		pgstat_report_activity(STATE_RUNNING,
							   psprintf("%s table %s", load ? "loading" : "resyncing",
										RelationGetRelationName(rel)));
		if (!resync_rel(conn, rel, cfg, load, &rows, &wc))
		{
			*conn_failed = true;
			wtc_current_entry_id = 0;
			relation_close(rel, AccessShareLock);
			wtc_worker_xact_end();
			return 1;
		}
		if (wc.options_changed)
			ereport(LOG,
					(errmsg("wt_cache: %s of table \"%s\" skipped: its options changed meanwhile",
							load ? "load" : "resync", RelationGetRelationName(rel)),
					 errdetail("The change of options queued a load or resync of its own, unless attach was given load => false.")));
		else
			ereport(LOG,
					(errmsg("wt_cache: %s table \"%s\": %lld rows written",
							load ? "loaded" : "resynced",
							RelationGetRelationName(rel), (long long) rows),
					 wc.failed > 0 ?
					 errdetail("%d keys could not be written: %s", wc.failed, wc.err) : 0));
		wtc_count(&wtc_stats->resyncs, 1);
		wtc_count(&wtc_stats->retry_keys_written, rows - wc.failed);
		wtc_count(&wtc_stats->retry_failures, wc.failed);
	}
	if (rel != NULL)
		relation_close(rel, AccessShareLock);

	/*
	 * NB: only this job is done.  Another job for the table may stem from a
	 * TRUNCATE that committed after our snapshot, so it must run too.
	 */
	if (SPI_execute_with_args("DELETE FROM wt_cache.retry_queue WHERE id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not update wt_cache.retry_queue");
	wtc_worker_xact_end();
	wtc_current_entry_id = 0;
	return 1;
}
