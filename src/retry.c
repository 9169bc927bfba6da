/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  The worker's side of the retry queue.
 *
 * wtc_retry_store_handoffs moves the keys backends handed off at commit
 * (handoff.c) into wt_cache.retry_queue, a logged table: from then on a
 * crash cannot lose them.  It consumes the ring only after the insert
 * committed.
 *
 * wtc_retry_batch takes due entries, re-reads each
 * key's current row, or finds it gone, and writes that through the same
 * script as commits (fence.c): SET the row's JSON, or DEL.  So a retry
 * never writes a stale value of its own, whatever order entries are
 * retried in.  Per key: written, the entry goes; a transient error (LOADING,
 * BUSY, OOM...) backs off exponentially with jitter up to a cap; a
 * permanent one (WRONGTYPE) parks the entry as dead, with its error, for
 * wt_cache.replay_dead.  If the connection fails, nothing changes and the
 * caller opens the circuit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "config.h"
#include "encode.h"
#include "fence.h"
#include "handoff.h"
#include "keyenc.h"
#include "queue.h"
#include "resync.h"
#include "retry.h"
#include "stats.h"
#include "wt_cache.h"

int			wtc_retry_base_ms = 100;
int			wtc_retry_max_ms = 60000;
int			wtc_retry_batch_size = 5000;

/*
 * The queue entry being processed alone (retry with limit 1, or a resync
 * job), so that if it makes the worker fail the worker can park it.
 */
int64		wtc_current_entry_id = 0;

/*
 * wtc_worker_xact_begin, wtc_worker_xact_end
 *		Bracket one of the worker's transactions: a statement time (a
 *		background worker must set it, or now() stays at its start), the
 *		transaction, a snapshot, SPI.
 */
void
wtc_worker_xact_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
wtc_worker_xact_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

typedef struct RetryItem
{
	Oid			relid;
	char	   *key;
	int			keylen;
	int			key_offset;
	int64	   *ids;
	int			nids;
	char	   *value;			/* row JSON; NULL: DEL */
	int			ttl;
	bool		drop;			/* nothing to write: table gone or detached */
	bool		busy;			/* row held by a writer: retry a bit later */
	bool		gone_ok;		/* DEL whatever the row: invalidate mode or
								 * a key of an old prefix */
	const char *err;			/* result */
	size_t		errlen;
	bool		done;
} RetryItem;

/* ---------- handoffs to the queue ---------- */

typedef struct PeekIter
{
	const char *buf;
	Size		len;
	Size		pos;
} PeekIter;

static bool
next_peeked(void *arg, int i, WtcHandoffKey *k)
{
	PeekIter   *it = (PeekIter *) arg;

	if (it->pos >= it->len)
		return false;
	it->pos += wtc_handoff_entry(it->buf + it->pos, k);
	return true;
}

/*
 * wtc_retry_store_handoffs
 *		Move handed-off keys, resync requests and the after-crash resync
 *		into the queue table.  Returns the number of keys moved.
 */
int
wtc_retry_store_handoffs(int slot)
{
	Size		len;
	uint64		upto;
	char	   *buf;
	Oid			rels[64];
	bool		all;
	int			nrels;
	bool		unclean;
	int			moved = 0;

	wtc_worker_xact_begin();
	buf = wtc_handoff_peek(slot, &len, &upto);
	if (buf != NULL)
	{
		PeekIter	it = {buf, len, 0};

		wtc_queue_keys(next_peeked, &it, INT_MAX);
		for (Size p = 0; p < len; moved++)
		{
			WtcHandoffKey k;

			p += wtc_handoff_entry(buf + p, &k);
		}
	}
	nrels = wtc_handoff_peek_resync(slot, rels, lengthof(rels), &all);
	unclean = wtc_handoff_take_unclean(slot);
	for (int i = 0; i < nrels; i++)
		wtc_queue_resync(rels[i], false);
	if (all || unclean)
	{
		(void) wtc_queue_resync_all();
		if (unclean)
			ereport(LOG,
					(errmsg("wt_cache: the server did not stop cleanly; resyncing the attached tables of database \"%s\"",
							get_database_name(MyDatabaseId))));
	}
	wtc_worker_xact_end();

	/* Stored: now the ring may forget them */
	if (buf != NULL)
		wtc_handoff_consume(slot, upto);
	if (nrels > 0 || all)
		wtc_handoff_consume_resync(slot, rels, nrels, all);
	return moved;
}

/* ---------- re-reading rows ---------- */

/* "OPERATOR(schema.=)" for the type's default equality */
static char *
equality_operator(Oid typid)
{
	TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	Form_pg_operator op;
	char	   *result;

	if (!OidIsValid(tce->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("type %s has no equality operator", format_type_be(typid))));
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tce->eq_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tce->eq_opr);
	op = (Form_pg_operator) GETSTRUCT(tup);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(op->oprnamespace)),
					  NameStr(op->oprname));
	ReleaseSysCache(tup);
	return result;
}

/* Split a key's parts (after the prefix) and decode them; NULL on mismatch */
static char **
key_parts(const RetryItem *it, int nkeys)
{
	char	  **parts = palloc0(sizeof(char *) * nkeys);
	const char *p = it->key + it->key_offset;
	const char *end = it->key + it->keylen;

	for (int i = 0; i < nkeys; i++)
	{
		const char *sep = memchr(p, ':', end - p);
		const char *stop = (i == nkeys - 1) ? end : sep;

		if (stop == NULL || (i == nkeys - 1 && sep != NULL))
			return NULL;
		parts[i] = palloc(stop - p + 1);
		parts[i][wtc_key_part_decode(parts[i], p, stop - p)] = '\0';
		p = stop + 1;
	}
	return parts;
}

/*
 * Build the lookup of a batch's rows by key:
 *
 *	SELECT x.ctid, u.ord, x.tableoid
 *	  FROM ROWS FROM (unnest($1), ...) WITH ORDINALITY u(p1, ..., ord),
 *	LATERAL (SELECT t.ctid FROM ONLY tbl t
 *			  WHERE t.k1 = u.p1::type1 AND ... <suffix>) x
 *
 * NB: LATERAL, so that each key is one index lookup: a join lets the
 * planner hash the whole table for every batch.  Also used by verify.c.
 */
/*
 * wtc_row_lookup_result
 *		Row r of a wtc_row_lookup_query result (SPI_tuptable): the row's
 *		ctid, the ordinal of its key among the arguments (from 1), and the
 *		relation that holds it (a partition, or the table).
 */
void
wtc_row_lookup_result(uint64 r, ItemPointer *tid, int64 *ord, Oid *leaf)
{
	HeapTuple	tup = SPI_tuptable->vals[r];
	TupleDesc	td = SPI_tuptable->tupdesc;
	bool		isnull;

	*tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, td, 1, &isnull));
	*ord = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
	*leaf = DatumGetObjectId(SPI_getbinval(tup, td, 3, &isnull));
}

char *
wtc_row_lookup_query(Relation rel, WtcTableConfig *cfg, const char *suffix)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT x.ctid, u.ord, x.tableoid FROM ROWS FROM (");
	for (int k = 0; k < cfg->nkeys; k++)
		appendStringInfo(&sql, "%spg_catalog.unnest($%d)", k ? ", " : "", k + 1);
	appendStringInfoString(&sql, ") WITH ORDINALITY AS u(");
	for (int k = 0; k < cfg->nkeys; k++)
		appendStringInfo(&sql, "p%d, ", k + 1);
	/* ONLY: an inheritance parent serves its own rows; not a partitioned one */
	appendStringInfoString(&sql, "ord), LATERAL (SELECT t.ctid, t.tableoid FROM ");
	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		appendStringInfoString(&sql, "ONLY ");
	appendStringInfoString(&sql,
						   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													  RelationGetRelationName(rel)));
	appendStringInfoString(&sql, " t WHERE ");
	for (int k = 0; k < cfg->nkeys; k++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, cfg->keys[k].attnum - 1);

		appendStringInfo(&sql, "%st.%s %s u.p%d::%s", k ? " AND " : "",
						 quote_identifier(NameStr(att->attname)),
						 equality_operator(att->atttypid), k + 1,
						 format_type_be_qualified(att->atttypid));
	}
	appendStringInfo(&sql, "%s) x", suffix);
	return sql.data;
}

/*
 * Fill in the current JSON of each item of one table (NULL: row gone).
 *
 * With lock (when the writers of the table did not end in time, see
 * wtc_retry_batch), the rows are read FOR SHARE, and the lock is held until
 * the worker's transaction ends, after its write to Valkey: a transaction
 * that changes such a row later waits for that, so its own commit-time
 * write lands after ours.  SKIP LOCKED, so that the worker never waits for
 * (or deadlocks with) a writer: a row a writer holds is left for later
 * (item->busy), as that writer pushes it itself; a second, unlocked read
 * tells it apart from a row that is gone.  Without lock, a plain read: its
 * version makes it safe, and no writer ever waits for Valkey through us;
 * a row changed by a commit that "before" (taken before the version) does
 * not see is that commit's to push (item->drop).
 */
static void
read_rows(Relation rel, WtcTableConfig *cfg, RetryItem *items, int n,
		  Snapshot before)
{
	bool		lock = (before == NULL);
	Oid		   *argtypes = palloc(sizeof(Oid) * cfg->nkeys);
	Datum	   *args = palloc(sizeof(Datum) * cfg->nkeys);
	Datum	  **cols = palloc(sizeof(Datum *) * cfg->nkeys);
	int		   *map = palloc(sizeof(int) * n);
	bool	   *found = palloc0(sizeof(bool) * n);
	int			m = 0;
	TupleTableSlot *slot;
	WtcSavedSettings saved;

	for (int k = 0; k < cfg->nkeys; k++)
		cols[k] = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		char	  **parts;

		items[i].value = NULL;
		if (items[i].key_offset != cfg->prefix_len + 1 ||
			memcmp(items[i].key, cfg->prefix, cfg->prefix_len) != 0 ||
			cfg->invalidate ||
			(parts = key_parts(&items[i], cfg->nkeys)) == NULL)
		{
			items[i].gone_ok = true;	/* DEL: invalidate mode, or an old prefix */
			continue;
		}
		for (int k = 0; k < cfg->nkeys; k++)
			cols[k][m] = CStringGetTextDatum(parts[k]);
		map[m++] = i;
	}
	if (m == 0)
		return;
	for (int k = 0; k < cfg->nkeys; k++)
	{
		argtypes[k] = TEXTARRAYOID;
		args[k] = PointerGetDatum(construct_array(cols[k], m, TEXTOID, -1,
												  false, TYPALIGN_INT));
	}

	slot = table_slot_create(rel, NULL);
	/* Key parts were printed under the fixed settings: read them so too */
	wtc_fixed_settings_enter(&saved);
	PG_TRY();
	{
		StringInfoData json;

		if (SPI_execute_with_args(wtc_row_lookup_query(rel, cfg, lock ? " FOR SHARE OF t SKIP LOCKED" : ""),
								  cfg->nkeys, argtypes, args, NULL,
								  false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read rows of \"%s\"", RelationGetRelationName(rel));
		initStringInfo(&json);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			ItemPointer tid;
			int64		ord;
			Oid			leaf;
			RetryItem  *it;
			TupleTableSlot *row;
			TransactionId xmin = InvalidTransactionId;

			wtc_row_lookup_result(r, &tid, &ord, &leaf);
			it = &items[map[ord - 1]];
			found[ord - 1] = true;
			/* The version read (locked: maybe newer than our snapshot's) */
			if ((row = wtc_fetch_row(rel, leaf, tid, SnapshotAny, slot, &xmin)) == NULL)
				continue;
			if (!lock && wtc_row_changed_since(xmin, before))
			{
				it->drop = true;
				continue;
			}
			resetStringInfo(&json);
			wtc_render_json(cfg, row, &json);
			it->value = MemoryContextStrdup(TopTransactionContext, json.data);
		}

		/* Rows not locked: gone, or held by a writer? */
		if (lock && (int) SPI_processed < m &&
			SPI_execute_with_args(wtc_row_lookup_query(rel, cfg, ""), cfg->nkeys,
								  argtypes, args, NULL, true, 0) == SPI_OK_SELECT)
		{
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				ItemPointer tid;
				int64		ord;
				Oid			leaf;

				wtc_row_lookup_result(r, &tid, &ord, &leaf);
				if (!found[ord - 1])
					items[map[ord - 1]].busy = true;
			}
		}
	}
	PG_FINALLY();
	{
		wtc_fixed_settings_exit(&saved);
	}
	PG_END_TRY();
	ExecDropSingleTupleTableSlot(slot);
}

/* ---------- one batch ---------- */

static void
item_result(void *arg, int keyindex, const char *err, size_t errlen)
{
	RetryItem **order = (RetryItem **) arg;
	RetryItem  *it = order[keyindex];

	it->done = true;
	if (err != NULL)
	{
		/* The reply buffer is reused: keep a copy */
		it->err = MemoryContextStrdup(TopTransactionContext,
									  pnstrdup(err, Min(errlen, 500)));
		it->errlen = strlen(it->err);
	}
}

static Datum
id_array(RetryItem *items, int n, bool (*pick) (RetryItem *), int *count)
{
	int			total = 0;
	Datum	   *d;

	for (int i = 0; i < n; i++)
		if (pick(&items[i]))
			total += items[i].nids;
	d = palloc(sizeof(Datum) * Max(total, 1));
	total = 0;
	for (int i = 0; i < n; i++)
		if (pick(&items[i]))
			for (int j = 0; j < items[i].nids; j++)
				d[total++] = Int64GetDatum(items[i].ids[j]);
	*count = total;
	return PointerGetDatum(construct_array(d, total, INT8OID, 8, true, TYPALIGN_DOUBLE));
}

static Datum
item_ids(const RetryItem *it)
{
	Datum	   *d = palloc(sizeof(Datum) * it->nids);

	for (int j = 0; j < it->nids; j++)
		d[j] = Int64GetDatum(it->ids[j]);
	return PointerGetDatum(construct_array(d, it->nids, INT8OID, 8, true,
										   TYPALIGN_DOUBLE));
}

static bool
pick_ok(RetryItem *it)
{
	return it->drop || (it->done && it->err == NULL);
}

static bool
pick_transient(RetryItem *it)
{
	return it->busy || (!it->drop && it->done && it->err != NULL &&
						wtc_error_is_transient(it->err, it->errlen));
}

/*
 * wtc_retry_batch
 *		Retry up to limit due keys.  Returns the number of queue entries
 *		taken (0: nothing due).  Sets *conn_failed if Valkey could not be
 *		reached (then nothing changed).
 */
int
wtc_retry_batch(WtcConn *conn, int limit, bool *conn_failed)
{
	RetryItem  *items;
	RetryItem **order;
	int			n;
	int			taken = 0;
	WtcWriteBatch batch;
	WtcBatchReplies r;
	MemoryContext old;
	XLogRecPtr	waited_lsn;
	Snapshot	before;

	*conn_failed = false;
	wtc_current_entry_id = 0;
	wtc_worker_xact_begin();
	/*
	 * NB: no FOR UPDATE: a database's worker is the only one that retries or
	 * deletes pending entries (backends only insert them; replay_dead and
	 * purge_dead touch dead ones), and locking each entry would cost a
	 * write per key.
	 */
	if (SPI_execute(psprintf("WITH due AS ("
							 " SELECT id, rel, key, key_offset FROM wt_cache.retry_queue"
							 " WHERE state = 'pending' AND kind = 'key'"
							 " AND next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
							 " ORDER BY next_attempt_at, id LIMIT %d)"
							 " SELECT rel, key, pg_catalog.min(key_offset), pg_catalog.array_agg(id)"
							 " FROM due GROUP BY rel, key ORDER BY rel", limit),
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read wt_cache.retry_queue");
	n = (int) SPI_processed;
	old = MemoryContextSwitchTo(TopTransactionContext);
	items = palloc0(sizeof(RetryItem) * Max(n, 1));
	order = palloc0(sizeof(RetryItem *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		text	   *key;
		ArrayType  *ids;
		Datum	   *elems;
		int			nelems;

		items[i].relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		key = DatumGetTextPP(SPI_getbinval(tup, td, 2, &isnull));
		items[i].keylen = VARSIZE_ANY_EXHDR(key);
		items[i].key = pnstrdup(VARDATA_ANY(key), items[i].keylen);
		items[i].key_offset = DatumGetInt16(SPI_getbinval(tup, td, 3, &isnull));
		ids = DatumGetArrayTypePCopy(SPI_getbinval(tup, td, 4, &isnull));
		deconstruct_array(ids, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, NULL, &nelems);
		items[i].ids = palloc(sizeof(int64) * nelems);
		for (int j = 0; j < nelems; j++)
			items[i].ids[j] = DatumGetInt64(elems[j]);
		items[i].nids = nelems;
		taken += nelems;
		if (limit == 1)
			wtc_current_entry_id = items[i].ids[0];
	}
	MemoryContextSwitchTo(old);

	/*
	 * The version: the WAL position now, if every transaction writing these
	 * tables now ends soon (wtc_wait_for_writers): then every row read
	 * below, present or gone, is at least as new as any commit with an
	 * older record; rows a newer commit changed are left to it (see
	 * read_rows).  If one does not end soon (a long transaction), the
	 * present rows are written with the position after they were read (see
	 * below), and the gone ones wait for a later pass.
	 */
	{
		Oid		   *relids = palloc(sizeof(Oid) * Max(n, 1));
		int			nrels = 0;

		for (int i = 0; i < n; i++)
			if (nrels == 0 || relids[nrels - 1] != items[i].relid)
				relids[nrels++] = items[i].relid;
		before = RegisterSnapshot(GetLatestSnapshot());
		waited_lsn = GetXLogInsertRecPtr();
		if (!wtc_wait_for_writers(relids, nrels, WTC_WRITERS_WAIT_MS))
			waited_lsn = InvalidXLogRecPtr;
		pfree(relids);
	}

	/* Re-read the rows, table by table */
	for (int start = 0; start < n;)
	{
		int			end = start;
		Relation	rel;
		WtcTableConfig *cfg = NULL;

		while (end < n && items[end].relid == items[start].relid)
			end++;
		rel = try_relation_open(items[start].relid, AccessShareLock);
		if (rel != NULL)
			cfg = wtc_config_get(rel);
		if (cfg == NULL || cfg->problem != NULL)
		{
			/* Dropped or detached: nothing of ours to write */
			for (int i = start; i < end; i++)
				items[i].drop = true;
		}
		else
		{
			read_rows(rel, cfg, &items[start], end - start,
					  XLogRecPtrIsInvalid(waited_lsn) ? NULL : before);
			for (int i = start; i < end; i++)
				items[i].ttl = cfg->ttl;
		}
		if (rel != NULL)
			relation_close(rel, AccessShareLock);
		start = end;
	}

	UnregisterSnapshot(before);

	/*
	 * Write them, all in one exchange.  NB: without the wait above, the
	 * version is the WAL position now, after the reads: a commit that
	 * changed a row before we read it has an older commit record; one that
	 * changes it later waits for our FOR SHARE lock, held until our write
	 * has landed, and gets a newer one.  That holds for rows we found, not
	 * for rows we did not: an insert still in flight may have an older
	 * commit record, so those wait for a pass with the wait.
	 */
	wtc_batch_init(&batch, conn->script_sha);
	for (int i = 0, k = 0; i < n; i++)
	{
		if (XLogRecPtrIsInvalid(waited_lsn) && items[i].value == NULL &&
			!items[i].drop && !items[i].gone_ok)
			items[i].busy = true;
		if (items[i].drop || items[i].busy)
			continue;
		wtc_batch_add(&batch, items[i].key, items[i].keylen, items[i].value,
					  items[i].value ? strlen(items[i].value) : 0, items[i].ttl);
		order[k++] = &items[i];
	}
	wtc_batch_finish(&batch);
	if (batch.nkeys > 0)
	{
		char		version[WTC_VERSION_LEN + 1];

		wtc_format_version(version, XLogRecPtrIsInvalid(waited_lsn) ?
						   GetXLogInsertRecPtr() : waited_lsn);
		wtc_batch_set_version(&batch, version);
		memset(&r, 0, sizeof(r));
		r.keys_per_call = batch.keys_per_call;
		r.nkeys = batch.nkeys;
		r.on_key = item_result;
		r.arg = order;
		if (wtc_conn_exchange(conn, batch.out.data, batch.out.len, batch.ncalls,
							  wtc_now_us() + (int64_t) Max(wtc_command_timeout_ms, 10000) * 1000,
							  wtc_batch_reply, &r) != 0)
		{
			/* Leave the entries as they are; the caller opens the circuit */
			*conn_failed = true;
			wtc_worker_xact_end();
			return taken;
		}
	}

	/* Record the results */
	{
		Oid			t1[1] = {INT8ARRAYOID};
		Oid			t3[3] = {INT8ARRAYOID, INT4OID, INT4OID};
		Datum		v[3];
		int			count;
		int			nok = 0;
		int			nfail = 0;
		int			ndead = 0;

		v[0] = id_array(items, n, pick_ok, &count);
		if (count > 0 &&
			SPI_execute_with_args("DELETE FROM wt_cache.retry_queue WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
								  1, t1, v, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not update wt_cache.retry_queue");
		v[0] = id_array(items, n, pick_transient, &count);
		v[1] = Int32GetDatum(wtc_retry_base_ms);
		v[2] = Int32GetDatum(wtc_retry_max_ms);
		if (count > 0 &&
			SPI_execute_with_args("UPDATE wt_cache.retry_queue SET attempts = attempts + 1,"
								  " next_attempt_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
								  "  pg_catalog.make_interval(secs => LEAST($3::float8,"
								  "   $2::float8 * 2.0 ^ LEAST(attempts, 30))"
								  "   * (0.5 + pg_catalog.random() / 2) / 1000.0)"
								  " WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
								  3, t3, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update wt_cache.retry_queue");
		for (int i = 0; i < n; i++)
		{
			RetryItem  *it = &items[i];

			if (it->drop)
				continue;
			if (!it->done)
				continue;
			if (it->err == NULL)
				nok++;
			else
			{
				Oid			t2[2] = {INT8ARRAYOID, TEXTOID};
				Datum		v2[2];
				bool		dead = !wtc_error_is_transient(it->err, it->errlen);

				nfail++;
				v2[0] = item_ids(it);
				v2[1] = CStringGetTextDatum(it->err);
				if (SPI_execute_with_args(dead ?
										  "UPDATE wt_cache.retry_queue SET state = 'dead', attempts = attempts + 1,"
										  " last_error = $2, dead_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) ANY ($1)" :
										  "UPDATE wt_cache.retry_queue SET last_error = $2 WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
										  2, t2, v2, NULL, false, 0) != SPI_OK_UPDATE)
					elog(ERROR, "could not update wt_cache.retry_queue");
				if (dead)
					ndead++;
				wtc_stats_error(it->err);
			}
		}
		wtc_count(&wtc_stats->retry_keys_written, nok - (batch.nkeys > 0 ? r.nstale : 0));
		if (batch.nkeys > 0)
			wtc_count(&wtc_stats->stale_rejected, r.nstale);
		wtc_count(&wtc_stats->retry_failures, nfail);
		wtc_count(&wtc_stats->keys_dead, ndead);
	}
	wtc_worker_xact_end();
	wtc_current_entry_id = 0;
	return taken;
}

/*
 * wtc_retry_mark_dead
 *		An entry made the worker fail (its row cannot be read or rendered):
 *		park it, so that it cannot crash-loop the worker.
 */
void
wtc_retry_mark_dead(int64 id, const char *err)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(id), CStringGetTextDatum(err)};

	wtc_worker_xact_begin();
	if (SPI_execute_with_args("UPDATE wt_cache.retry_queue SET state = 'dead', attempts = attempts + 1,"
							  " last_error = $2, dead_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update wt_cache.retry_queue");
	wtc_worker_xact_end();
	wtc_count(&wtc_stats->keys_dead, 1);
	wtc_stats_error(err);
}

/*
 * wtc_retry_next_due_ms
 *		Milliseconds until the next pending entry is due, at most cap_ms.
 */
int
wtc_retry_next_due_ms(int cap_ms)
{
	int			ms = cap_ms;

	wtc_worker_xact_begin();
	if (SPI_execute("SELECT pg_catalog.ceil(pg_catalog.date_part('epoch',"
					" pg_catalog.min(next_attempt_at) OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) * 1000)"
					" FROM wt_cache.retry_queue WHERE state = 'pending'", true, 0) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			ms = (int) Max(0, Min((double) cap_ms, DatumGetFloat8(d)));
	}
	wtc_worker_xact_end();
	return ms;
}
