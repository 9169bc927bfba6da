/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The row trigger: each changed row to a cache key and JSON value.
 *
 * attach creates AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW and AFTER
 * TRUNCATE triggers that call wt_cache.capture(), enabled ALWAYS so that
 * changes applied by logical replication reach the cache too.  The trigger
 * renders the key and value now, while an ERROR is still harmless, and
 * records them in the transaction's changeset; commit.c pushes them after
 * the commit record.  It runs no SPI and scans no catalog per row: the
 * table's options come from config.c's cache.  A partition of an
 * attached partitioned table is served by its options: PostgreSQL clones
 * the row trigger to every partition, and each row is converted to the
 * partitioned table's layout first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "changeset.h"
#include "config.h"
#include "encode.h"
#include "handoff.h"
#include "queue.h"
#include "wt_cache.h"

PG_FUNCTION_INFO_V1(wtc_capture);

/* Record one row's key: SET to its JSON, or DEL */
static void
record_row(const WtcTableConfig *cfg, TupleTableSlot *slot, bool is_delete,
		   StringInfo key, StringInfo val)
{
	resetStringInfo(key);
	if (!wtc_render_key(cfg, slot, key))
	{
		ereport(WARNING,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("row of table \"%s\" has a NULL key column and is not cached",
						get_rel_name(cfg->relid)),
				 errhint("Make the key columns NOT NULL, or attach the table with another key.")));
		return;
	}
	if (is_delete || cfg->invalidate)
	{
		wtc_changeset_put(cfg->relid, cfg->prefix_len + 1, key->data,
						  key->len, NULL, 0, 0);
		return;
	}
	resetStringInfo(val);
	wtc_render_json(cfg, slot, val);
	wtc_changeset_put(cfg->relid, cfg->prefix_len + 1, key->data, key->len,
					  val->data, val->len, cfg->ttl);
}

/*
 * Do two slots hold the same key?  Compares the key columns' binary
 * values; if they differ (even in representation only), the caller
 * renders both keys and compares text.
 */
static bool
same_key_datums(const WtcTableConfig *cfg, TupleTableSlot *a,
				TupleTableSlot *b)
{
	for (int i = 0; i < cfg->nkeys; i++)
	{
		AttrNumber	attnum = cfg->keys[i].attnum;
		Form_pg_attribute att = TupleDescAttr(a->tts_tupleDescriptor,
											  attnum - 1);
		bool		an,
					bn;
		Datum		av = slot_getattr(a, attnum, &an);
		Datum		bv = slot_getattr(b, attnum, &bn);

		if (an != bn)
			return false;
		if (!an && !datumIsEqual(av, bv, att->attbyval, att->attlen))
			return false;
	}
	return true;
}

/*
 * Has this transaction queued a resync of the table already?  A TRUNCATE
 * of a partitioned table fires the TRUNCATE trigger of every partition
 * (each has one, so that a partition truncated alone is handled too):
 * one resync of the attached table does for all of them.
 */
static bool
resync_queued(Oid relid)
{
	static LocalTransactionId lxid = InvalidLocalTransactionId;
	static SubTransactionId subxid = InvalidSubTransactionId;
	static List *queued = NIL;
	MemoryContext old;

	/*
	 * Within one (sub)transaction only: a savepoint rolled back takes its
	 * queued resync with it.  NB: the list of a previous transaction was
	 * freed with its memory.
	 */
	if (lxid != MyProc->lxid || subxid != GetCurrentSubTransactionId())
	{
		if (lxid == MyProc->lxid)
			list_free(queued);
		queued = NIL;
		lxid = MyProc->lxid;
		subxid = GetCurrentSubTransactionId();
	}
	if (list_member_oid(queued, relid))
		return true;
	old = MemoryContextSwitchTo(TopTransactionContext);
	queued = lappend_oid(queued, relid);
	MemoryContextSwitchTo(old);
	return false;
}

/*
 * wtc_capture
 *		The trigger function.
 */
Datum
wtc_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent ev;
	WtcTableConfig *cfg;
	WtcSavedSettings saved;
	StringInfoData key;
	StringInfoData val;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("wt_cache.capture() was not called by trigger manager")));
	ev = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("wt_cache.capture() must be fired AFTER the change")));

	cfg = wtc_config_get(trigdata->tg_relation);
	if (cfg == NULL)
		return PointerGetDatum(NULL);	/* not attached: nothing to do */

	if (TRIGGER_FIRED_BY_TRUNCATE(ev))
	{
		/*
		 * The worker removes the table's keys after commit (SCAN and
		 * UNLINK, without blocking us) and writes whatever rows the table
		 * has by then.  Keys this transaction set before the TRUNCATE are
		 * deleted at commit instead.
		 */
		if (!wtc_handoff_available())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot truncate table \"%s\" while it is attached to wt_cache",
							RelationGetRelationName(trigdata->tg_relation)),
					 errdetail("Removing a table's keys on TRUNCATE needs the wt_cache worker, which runs only when wt_cache is in shared_preload_libraries."),
					 errhint("Add wt_cache to shared_preload_libraries, or use DELETE.")));
		wtc_changeset_delete_rel(cfg->relid);
		if (!resync_queued(cfg->relid))
			wtc_queue_resync(cfg->relid, false);
		return PointerGetDatum(NULL);
	}

	if (!TRIGGER_FIRED_FOR_ROW(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("wt_cache.capture() must be fired FOR EACH ROW")));

	if (cfg->problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot cache changes to table \"%s\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("%s.", cfg->problem),
				 errhint("Attach the table again with wt_cache.attach(), or detach it.")));

	initStringInfo(&key);
	initStringInfo(&val);
	wtc_fixed_settings_enter(&saved);
	PG_TRY();
	{
		/* A partition's row, in the attached partitioned table's layout */
		TupleTableSlot *slot = wtc_config_root_slot(cfg, trigdata->tg_trigslot,
													false);

		if (TRIGGER_FIRED_BY_INSERT(ev))
			record_row(cfg, slot, false, &key, &val);
		else if (TRIGGER_FIRED_BY_DELETE(ev))
			record_row(cfg, slot, true, &key, &val);
		else if (TRIGGER_FIRED_BY_UPDATE(ev))
		{
			TupleTableSlot *oldslot = slot;
			TupleTableSlot *newslot = wtc_config_root_slot(cfg, trigdata->tg_newslot,
														   true);

			if (!same_key_datums(cfg, oldslot, newslot))
			{
				StringInfoData oldkey;

				initStringInfo(&oldkey);
				if (wtc_render_key(cfg, oldslot, &oldkey))
				{
					resetStringInfo(&key);
					if (!wtc_render_key(cfg, newslot, &key) ||
						key.len != oldkey.len ||
						memcmp(key.data, oldkey.data, key.len) != 0)
						wtc_changeset_put(cfg->relid, cfg->prefix_len + 1,
										  oldkey.data, oldkey.len, NULL, 0, 0);
				}
			}
			record_row(cfg, newslot, false, &key, &val);
		}
	}
	PG_FINALLY();
	{
		wtc_fixed_settings_exit(&saved);
	}
	PG_END_TRY();

	return PointerGetDatum(NULL);
}
