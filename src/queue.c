/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Writing to wt_cache.retry_queue inside the current transaction.
 *
 * Keys are queued inside the writing transaction when its push cannot
 * happen at commit: the circuit is open, Valkey could not be reached before
 * the commit record, the transaction is too large to keep in memory, or it
 * is being prepared for two-phase commit.  The queue rows then commit (or
 * roll back) with the data: nothing can be lost in between.  TRUNCATE queues
 * a resync of the table the same way.
 *
 * The inserts run as the extension's owner: the writing role needs no
 * rights on wt_cache's tables.  Every name is qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "changeset.h"
#include "config.h"
#include "queue.h"
#include "stats.h"
#include "wt_cache.h"

#define QUEUE_BATCH 10000

/* Set when this transaction queued something: wake the worker at commit */
bool		wtc_queue_pending_wake = false;

typedef struct QueueCtx
{
	Oid			save_userid;
	int			save_sec_context;
	bool		pushed_snapshot;
} QueueCtx;

static void
queue_enter(QueueCtx *q)
{
	wtc_become_extension_owner(&q->save_userid, &q->save_sec_context);
	q->pushed_snapshot = !ActiveSnapshotSet();
	if (q->pushed_snapshot)
		PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
queue_exit(QueueCtx *q)
{
	SPI_finish();
	if (q->pushed_snapshot)
		PopActiveSnapshot();
	SetUserIdAndSecContext(q->save_userid, q->save_sec_context);
}

static void
insert_batch(Datum *rels, Datum *keys, Datum *offsets, int n)
{
	Oid			argtypes[3] = {OIDARRAYOID, TEXTARRAYOID, INT2ARRAYOID};
	Datum		values[3];

	values[0] = PointerGetDatum(construct_array(rels, n, OIDOID, sizeof(Oid),
												true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(offsets, n, INT2OID, 2, true,
												TYPALIGN_SHORT));
	if (SPI_execute_with_args("INSERT INTO wt_cache.retry_queue (rel, key, key_offset) "
							  "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into wt_cache.retry_queue");
	/* The worker storing handed-off keys counted them as handed off */
	if (!IsBackgroundWorker)
		wtc_count(&wtc_stats->keys_queued, n);
}

/*
 * wtc_queue_keys
 *		Queue up to n keys, in batches: next gives the i-th, or false when
 *		there are no more.  Memory stays bounded by one batch, whatever n.
 */
void
wtc_queue_keys(WtcHandoffNext next, void *arg, int n)
{
	QueueCtx	q;
	Datum	   *rels = palloc(sizeof(Datum) * QUEUE_BATCH);
	Datum	   *keys = palloc(sizeof(Datum) * QUEUE_BATCH);
	Datum	   *offsets = palloc(sizeof(Datum) * QUEUE_BATCH);
	MemoryContext batch_cxt;
	MemoryContext old;
	int			m = 0;

	queue_enter(&q);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "wt_cache queue batch",
									  ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(batch_cxt);
	for (int i = 0; i < n; i++)
	{
		WtcHandoffKey k;

		if (!next(arg, i, &k))
			break;				/* no more keys */
		rels[m] = ObjectIdGetDatum(k.relid);
		keys[m] = PointerGetDatum(cstring_to_text_with_len(k.key, k.keylen));
		offsets[m] = Int16GetDatum(k.key_offset);
		if (++m == QUEUE_BATCH)
		{
			insert_batch(rels, keys, offsets, m);
			/* NB: SPI returns in its own context, not in ours */
			MemoryContextSwitchTo(batch_cxt);
			MemoryContextReset(batch_cxt);
			m = 0;
		}
	}
	if (m > 0)
		insert_batch(rels, keys, offsets, m);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch_cxt);
	queue_exit(&q);
	wtc_queue_pending_wake = true;
}

/*
 * wtc_queue_next_change
 *		WtcHandoffNext over the changeset: the i-th change's key.  Does not
 *		allocate or throw (commit.c hands failed keys off with it).
 */
bool
wtc_queue_next_change(void *arg, int i, WtcHandoffKey *k)
{
	const WtcChange *ch = wtc_changeset_get(i);

	k->relid = ch->relid;
	k->key_offset = ch->key_offset;
	k->key = ch->key;
	k->keylen = ch->keylen;
	return true;
}

static bool
next_spilled(void *arg, int i, WtcHandoffKey *k)
{
	WtcSpilledKey *sk = (WtcSpilledKey *) arg;

	/* NB: the key is read into the queue's batch context, reset per batch */
	if (!wtc_changeset_spill_next(sk))
		return false;
	k->relid = sk->relid;
	k->key_offset = sk->key_offset;
	k->key = sk->key;
	k->keylen = sk->keylen;
	return true;
}

/*
 * wtc_queue_changeset
 *		Queue every key of the transaction: those in memory and those
 *		spilled to the temporary file.
 */
void
wtc_queue_changeset(void)
{
	int			n = wtc_changeset_count();

	if (n > 0)
		wtc_queue_keys(wtc_queue_next_change, NULL, n);
	if (wtc_changeset_overflowed())
	{
		WtcSpilledKey sk = {0};

		wtc_changeset_spill_rewind();
		wtc_queue_keys(next_spilled, &sk, INT_MAX);
		/* Close it now: a file still open at commit is reported as leaked */
		wtc_changeset_spill_close();
	}
}

/*
 * wtc_queue_resync_all
 *		Ask the worker to resync every attached table of this database.
 *		Returns how many.
 */
int
wtc_queue_resync_all(void)
{
	List	   *rels = NIL;
	ListCell   *lc;
	QueueCtx	q;
	MemoryContext caller = CurrentMemoryContext;

	queue_enter(&q);
	if (SPI_execute("SELECT rel::pg_catalog.oid FROM wt_cache.tables", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read wt_cache.tables");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(caller);

		rels = lappend_oid(rels,
						   DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc,
														  1, &isnull)));
		MemoryContextSwitchTo(old);
	}
	queue_exit(&q);
	foreach(lc, rels)
		wtc_queue_resync(lfirst_oid(lc), false);
	return list_length(rels);
}

/*
 * wtc_queue_resync
 *		Ask the worker to resync a table: remove its keys and write its
 *		rows; or, with load, only write its rows (attach).
 */
void
wtc_queue_resync(Oid relid, bool load)
{
	QueueCtx	q;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(relid),
	CStringGetTextDatum(load ? "load" : "resync")};

	queue_enter(&q);
	if (SPI_execute_with_args("INSERT INTO wt_cache.retry_queue (rel, kind) VALUES ($1, $2)",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into wt_cache.retry_queue");
	queue_exit(&q);
	wtc_queue_pending_wake = true;
}
