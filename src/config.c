/*-------------------------------------------------------------------------
 *
 * config.c
 *	  Options of attached tables, loaded once per backend and cached.
 *
 * The trigger must not scan a catalog or run SPI per row, so each table's
 * options are read from wt_cache.tables once, resolved against the table's
 * descriptor (column numbers, JSON categories, output functions), and kept
 * in a hash table.  attach and detach send a relcache invalidation for the
 * table; our relcache callback then marks the entry stale and the next row
 * reloads it.  A table that is not attached is cached too (as "not
 * attached"), so a stray trigger costs one hash lookup.
 *
 * NB: an invalidation can arrive while a trigger is using an entry (any
 * catalog access accepts invalidations), so a stale entry's memory is not
 * freed at once but at the end of the transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/tupconvert.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/syscache.h"
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "config.h"
#include "wt_cache.h"

typedef struct WtcConfigEntry
{
	Oid			relid;			/* hash key */
	bool		valid;
	WtcTableConfig *cfg;		/* NULL: not attached */
} WtcConfigEntry;

static HTAB *config_hash = NULL;

/* Stale configurations, freed at the end of the transaction */
static List *retired = NIL;

static void
retire(WtcTableConfig *cfg)
{
	MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

	retired = lappend(retired, cfg->cxt);
	MemoryContextSwitchTo(old);
}

/*
 * Relcache invalidation callback: mark the table's entry (or all entries)
 * stale.  Must not free anything (see the header comment).
 */
static void
config_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	WtcConfigEntry *entry;

	if (config_hash == NULL)
		return;
	if (OidIsValid(relid))
	{
		entry = hash_search(config_hash, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		/* Partitions served by this table's options */
		hash_seq_init(&status, config_hash);
		while ((entry = hash_seq_search(&status)) != NULL)
			if (entry->cfg != NULL && entry->cfg->relid == relid)
				entry->valid = false;
		return;
	}
	hash_seq_init(&status, config_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

void
wtc_config_init(void)
{
	CacheRegisterRelcacheCallback(config_relcache_callback, (Datum) 0);
}

/*
 * wtc_config_end_xact
 *		Free configurations that went stale during the transaction.
 */
void
wtc_config_end_xact(void)
{
	ListCell   *lc;

	foreach(lc, retired)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired);
	retired = NIL;
}

/*
 * wtc_config_table_oid
 *		OID of wt_cache.tables, or InvalidOid if missing_ok and the extension
 *		is not installed in this database.
 */
Oid
wtc_config_table_oid(bool missing_ok)
{
	Oid			nsp = get_namespace_oid(WTC_SCHEMA, missing_ok);
	Oid			relid = InvalidOid;

	if (OidIsValid(nsp))
		relid = get_relname_relid("tables", nsp);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("wt_cache is not installed in this database"),
				 errhint("Run CREATE EXTENSION wt_cache.")));
	return relid;
}

/*
 * wtc_become_extension_owner
 *		Act as the owner of wt_cache.tables (the extension's owner) until
 *		SetUserIdAndSecContext(*save_userid, *save_sec_context): for writes
 *		to wt_cache's own tables that the calling role may not make itself.
 */
void
wtc_become_extension_owner(Oid *save_userid, int *save_sec_context)
{
	Oid			tables_oid = wtc_config_table_oid(false);
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(tables_oid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", tables_oid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner, *save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * Categorize a type as PostgreSQL's json.c does (json_categorize_type),
 * once per column instead of once per value.
 */
static void
categorize(WtcColumn *col, Oid typid, MemoryContext cxt)
{
	Oid			funcoid = InvalidOid;
	bool		isvarlena;

	typid = getBaseType(typid);
	col->typid = typid;
	switch (typid)
	{
		case BOOLOID:
			col->category = WTC_JSON_BOOL;
			break;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			col->category = WTC_JSON_INTEGER;
			getTypeOutputInfo(typid, &funcoid, &isvarlena);
			break;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			col->category = WTC_JSON_NUMERIC;
			getTypeOutputInfo(typid, &funcoid, &isvarlena);
			break;
		case DATEOID:
			col->category = WTC_JSON_DATE;
			break;
		case TIMESTAMPOID:
			col->category = WTC_JSON_TIMESTAMP;
			break;
		case TIMESTAMPTZOID:
			col->category = WTC_JSON_TIMESTAMPTZ;
			break;
		case JSONOID:
		case JSONBOID:
			col->category = WTC_JSON_JSON;
			getTypeOutputInfo(typid, &funcoid, &isvarlena);
			break;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			/* Their output function returns their bytes as they are */
			col->category = WTC_JSON_TEXT;
			break;
		default:
			if (OidIsValid(get_element_type(typid)) || typid == ANYARRAYOID ||
				typid == ANYCOMPATIBLEARRAYOID || typid == RECORDARRAYOID)
				col->category = WTC_JSON_ARRAY;
			else if (type_is_rowtype(typid))
				col->category = WTC_JSON_COMPOSITE;
			else
			{
				col->category = WTC_JSON_OTHER;
				if (typid >= FirstNormalObjectId)
				{
					Oid			castfunc;
					CoercionPathType ctype;

					ctype = find_coercion_pathway(JSONOID, typid,
												  COERCION_EXPLICIT,
												  &castfunc);
					if (ctype == COERCION_PATH_FUNC && OidIsValid(castfunc))
					{
						col->category = WTC_JSON_CAST;
						funcoid = castfunc;
					}
				}
				if (col->category == WTC_JSON_OTHER)
					getTypeOutputInfo(typid, &funcoid, &isvarlena);
			}
			break;
	}
	if (OidIsValid(funcoid))
		fmgr_info_cxt(funcoid, &col->fn, cxt);
}

static bool
attnum_in(AttrNumber attnum, Datum arr, bool isnull)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (isnull)
		return false;
	a = DatumGetArrayTypeP(arr);
	deconstruct_array(a, INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && DatumGetInt16(elems[i]) == attnum)
			return true;
	return false;
}

/*
 * Build a table's configuration from its wt_cache.tables row.
 */
static WtcTableConfig *
build_config(Relation rel, HeapTuple row, TupleDesc rowdesc)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext cxt;
	MemoryContext old;
	WtcTableConfig *cfg;
	Datum		d;
	bool		isnull;
	Datum		cols_d;
	bool		cols_null;
	Datum		excl_d;
	bool		excl_null;
	ArrayType  *keys;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	   *mode;

	cxt = AllocSetContextCreate(CacheMemoryContext, "wt_cache table options",
								ALLOCSET_SMALL_SIZES);
	MemoryContextCopyAndSetIdentifier(cxt, RelationGetRelationName(rel));
	old = MemoryContextSwitchTo(cxt);

	cfg = palloc0(sizeof(WtcTableConfig));
	cfg->cxt = cxt;
	cfg->relid = RelationGetRelid(rel);

	d = heap_getattr(row, Anum_wtc_tables_key_prefix, rowdesc, &isnull);
	cfg->prefix = TextDatumGetCString(d);
	cfg->prefix_len = strlen(cfg->prefix);

	d = heap_getattr(row, Anum_wtc_tables_ttl, rowdesc, &isnull);
	cfg->ttl = isnull ? 0 : DatumGetInt32(d);

	d = heap_getattr(row, Anum_wtc_tables_mode, rowdesc, &isnull);
	mode = TextDatumGetCString(d);
	cfg->invalidate = (strcmp(mode, "invalidate") == 0);

	/* Key columns, in key order */
	d = heap_getattr(row, Anum_wtc_tables_key_attnums, rowdesc, &isnull);
	keys = DatumGetArrayTypeP(d);
	deconstruct_array(keys, INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls, &n);
	cfg->nkeys = n;
	cfg->keys = palloc0(sizeof(WtcKeyColumn) * n);
	for (int i = 0; i < n; i++)
	{
		AttrNumber	attnum = DatumGetInt16(elems[i]);
		Form_pg_attribute att;
		Oid			outfunc;
		bool		isvarlena;

		if (attnum < 1 || attnum > desc->natts ||
			TupleDescAttr(desc, attnum - 1)->attisdropped)
		{
			cfg->problem = psprintf("a key column of table \"%s\" was dropped",
									RelationGetRelationName(rel));
			break;
		}
		att = TupleDescAttr(desc, attnum - 1);
		cfg->keys[i].attnum = attnum;
		getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &cfg->keys[i].out, cxt);
		cfg->max_attnum = Max(cfg->max_attnum, attnum);
	}

	/* JSON columns, in table order */
	cols_d = heap_getattr(row, Anum_wtc_tables_column_attnums, rowdesc, &cols_null);
	excl_d = heap_getattr(row, Anum_wtc_tables_exclude_attnums, rowdesc, &excl_null);
	cfg->cols = palloc0(sizeof(WtcColumn) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		WtcColumn  *col;
		StringInfoData buf;

		if (att->attisdropped)
			continue;
		if (!cols_null && !attnum_in(att->attnum, cols_d, false))
			continue;
		if (attnum_in(att->attnum, excl_d, excl_null))
			continue;
		col = &cfg->cols[cfg->ncols++];
		col->attnum = att->attnum;
		categorize(col, att->atttypid, cxt);
		initStringInfo(&buf);
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoChar(&buf, ':');
		col->json_name = buf.data;
		col->json_name_len = buf.len;
		cfg->max_attnum = Max(cfg->max_attnum, att->attnum);
	}

	MemoryContextSwitchTo(old);
	return cfg;
}

/*
 * Read the table's row from wt_cache.tables, if any.  Direct heap access,
 * no SPI: it runs inside the trigger, with the writing role's rights, and
 * that role has no access to wt_cache.tables.
 */
static WtcTableConfig *
load_config(Relation rel)
{
	Oid			tables_oid = wtc_config_table_oid(true);
	Relation	tables;
	WtcTableConfig *cfg = NULL;
	Snapshot	snap;
	List	   *candidates;
	ListCell   *lc;

	if (!OidIsValid(tables_oid))
		return NULL;
	/* The table's own options, or those of a partitioned ancestor */
	candidates = list_make1_oid(RelationGetRelid(rel));
	if (rel->rd_rel->relispartition)
		candidates = list_concat(candidates,
								 get_partition_ancestors(RelationGetRelid(rel)));
	tables = table_open(tables_oid, AccessShareLock);
	/* The latest committed options, and our own transaction's */
	snap = RegisterSnapshot(GetLatestSnapshot());
	foreach(lc, candidates)
	{
		SysScanDesc scan;
		ScanKeyData key;
		HeapTuple	row;

		ScanKeyInit(&key, Anum_wtc_tables_rel, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(tables, InvalidOid, false, snap, 1, &key);
		row = systable_getnext(scan);
		if (HeapTupleIsValid(row))
		{
			if (lfirst_oid(lc) == RelationGetRelid(rel))
				cfg = build_config(rel, row, RelationGetDescr(tables));
			else
			{
				Relation	root = relation_open(lfirst_oid(lc), AccessShareLock);
				MemoryContext old;

				cfg = build_config(root, row, RelationGetDescr(tables));
				old = MemoryContextSwitchTo(cfg->cxt);
				cfg->map = build_attrmap_by_name_if_req(RelationGetDescr(rel),
														RelationGetDescr(root));
				if (cfg->map != NULL)
				{
					TupleDesc	rootdesc = CreateTupleDescCopy(RelationGetDescr(root));

					cfg->root_slot = MakeSingleTupleTableSlot(rootdesc, &TTSOpsVirtual);
					cfg->root_slot2 = MakeSingleTupleTableSlot(rootdesc, &TTSOpsVirtual);
				}
				MemoryContextSwitchTo(old);
				relation_close(root, AccessShareLock);
			}
		}
		systable_endscan(scan);
		if (cfg != NULL)
			break;
	}
	UnregisterSnapshot(snap);
	table_close(tables, AccessShareLock);
	return cfg;
}

/*
 * wtc_config_root_slot
 *		A row of the table cfg was loaded for, in the layout of the attached
 *		table (a partitioned ancestor's, see load_config): slot itself, or
 *		its columns mapped into one of cfg's two slots.
 */
TupleTableSlot *
wtc_config_root_slot(const WtcTableConfig *cfg, TupleTableSlot *slot,
					 bool second)
{
	if (cfg->map == NULL)
		return slot;
	return execute_attr_map_slot(cfg->map, slot,
								 second ? cfg->root_slot2 : cfg->root_slot);
}

/*
 * wtc_leaf_relids
 *		The relations that hold a table's rows: itself, or the leaf
 *		partitions of a partitioned table.
 */
List *
wtc_leaf_relids(Oid relid)
{
	List	   *result = NIL;
	ListCell   *lc;

	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return list_make1_oid(relid);
	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
	{
		char		kind = get_rel_relkind(lfirst_oid(lc));

		if (kind == RELKIND_RELATION)
			result = lappend_oid(result, lfirst_oid(lc));
	}
	return result;
}

/*
 * wtc_rowscan_begin, wtc_rowscan_next, wtc_rowscan_end
 *		Every row of an attached table under snap, in its own layout: for a
 *		partitioned table, each leaf partition's rows, converted.
 */
void
wtc_rowscan_begin(WtcRowScan *rs, Relation rel, Snapshot snap)
{
	memset(rs, 0, sizeof(*rs));
	rs->root = rel;
	rs->snap = snap;
	rs->leaves = wtc_leaf_relids(RelationGetRelid(rel));
	rs->root_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	rs->cxt = CurrentMemoryContext;
}

static void
rowscan_close_leaf(WtcRowScan *rs)
{
	if (rs->scan != NULL)
		table_endscan(rs->scan);
	if (rs->leaf_slot != NULL)
		ExecDropSingleTupleTableSlot(rs->leaf_slot);
	if (rs->leaf != NULL && rs->leaf != rs->root)
		relation_close(rs->leaf, NoLock);
	rs->scan = NULL;
	rs->leaf_slot = NULL;
	rs->leaf = NULL;
	rs->map = NULL;
}

bool
wtc_rowscan_next(WtcRowScan *rs, TupleTableSlot **slot)
{
	for (;;)
	{
		if (rs->scan == NULL)
		{
			Oid			leafid;
			MemoryContext old;

			if (rs->next >= list_length(rs->leaves))
				return false;
			leafid = list_nth_oid(rs->leaves, rs->next++);
			rs->leaf = leafid == RelationGetRelid(rs->root) ? rs->root :
				try_relation_open(leafid, AccessShareLock);
			if (rs->leaf == NULL)
				continue;		/* dropped meanwhile */
			old = MemoryContextSwitchTo(rs->cxt);
			rs->map = build_attrmap_by_name_if_req(RelationGetDescr(rs->leaf),
												   RelationGetDescr(rs->root));
			rs->leaf_slot = table_slot_create(rs->leaf, NULL);
			rs->scan = table_beginscan(rs->leaf, rs->snap, 0, NULL);
			MemoryContextSwitchTo(old);
		}
		if (table_scan_getnextslot(rs->scan, ForwardScanDirection, rs->leaf_slot))
		{
			*slot = rs->map == NULL ? rs->leaf_slot :
				execute_attr_map_slot(rs->map, rs->leaf_slot, rs->root_slot);
			return true;
		}
		rowscan_close_leaf(rs);
	}
}

/*
 * wtc_fetch_row
 *		The version of row tid of relation leaf (rel itself, or one of its
 *		partitions) that snap sees, in rel's layout: in slot, made by
 *		table_slot_create(rel).  NULL if there is none.  With xmin, also
 *		the xmin of the version found.
 */
/*
 * wtc_config_same
 *		Do two loads of a table's options write the same keys and values?
 */
bool
wtc_config_same(const WtcTableConfig *a, const WtcTableConfig *b)
{
	if (a == b)
		return true;
	if (a->relid != b->relid || strcmp(a->prefix, b->prefix) != 0 ||
		a->nkeys != b->nkeys || a->ncols != b->ncols || a->ttl != b->ttl ||
		a->invalidate != b->invalidate)
		return false;
	for (int i = 0; i < a->nkeys; i++)
		if (a->keys[i].attnum != b->keys[i].attnum)
			return false;
	for (int i = 0; i < a->ncols; i++)
		if (a->cols[i].attnum != b->cols[i].attnum ||
			a->cols[i].typid != b->cols[i].typid ||
			strcmp(a->cols[i].json_name, b->cols[i].json_name) != 0)
			return false;
	return true;
}

/* The xmin of the row version in a table's own slot (Invalid if none) */
TransactionId
wtc_slot_xmin(TupleTableSlot *slot)
{
	bool		isnull;
	Datum		d = slot_getsysattr(slot, MinTransactionIdAttributeNumber, &isnull);

	return isnull ? InvalidTransactionId : DatumGetTransactionId(d);
}

TupleTableSlot *
wtc_fetch_row(Relation rel, Oid leaf, ItemPointer tid, Snapshot snap,
			  TupleTableSlot *slot, TransactionId *xmin)
{
	Relation	part;
	TupleTableSlot *leaf_slot;
	AttrMap    *map;
	bool		found;

	if (leaf == RelationGetRelid(rel) || !OidIsValid(leaf))
	{
		if (!table_tuple_fetch_row_version(rel, tid, snap, slot))
			return NULL;
		if (xmin)
			*xmin = wtc_slot_xmin(slot);
		return slot;
	}
	part = try_relation_open(leaf, AccessShareLock);
	if (part == NULL)
		return NULL;
	leaf_slot = table_slot_create(part, NULL);
	found = table_tuple_fetch_row_version(part, tid, snap, leaf_slot);
	if (found)
	{
		if (xmin)
			*xmin = wtc_slot_xmin(leaf_slot);
		map = build_attrmap_by_name_if_req(RelationGetDescr(part),
										   RelationGetDescr(rel));
		ExecClearTuple(slot);
		if (map == NULL)
		{
			slot_getallattrs(leaf_slot);
			memcpy(slot->tts_values, leaf_slot->tts_values,
				   sizeof(Datum) * slot->tts_tupleDescriptor->natts);
			memcpy(slot->tts_isnull, leaf_slot->tts_isnull,
				   sizeof(bool) * slot->tts_tupleDescriptor->natts);
			ExecStoreVirtualTuple(slot);
		}
		else
			execute_attr_map_slot(map, leaf_slot, slot);
		/* NB: its values point into the leaf's buffer, dropped below */
		ExecMaterializeSlot(slot);
	}
	ExecDropSingleTupleTableSlot(leaf_slot);
	relation_close(part, NoLock);
	return found ? slot : NULL;
}

void
wtc_rowscan_end(WtcRowScan *rs)
{
	rowscan_close_leaf(rs);
	ExecDropSingleTupleTableSlot(rs->root_slot);
}

/*
 * wtc_config_get
 *		The options of an attached table, or NULL if it is not attached.
 *		Loads them on first use and after an invalidation.
 */
WtcTableConfig *
wtc_config_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	WtcConfigEntry *entry;
	bool		found;

	if (config_hash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(WtcConfigEntry);
		ctl.hcxt = CacheMemoryContext;
		config_hash = hash_create("wt_cache table options", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(config_hash, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->valid = false;
		entry->cfg = NULL;
	}
	/* Loading may take invalidations itself: loop until it stays valid */
	while (!entry->valid)
	{
		WtcTableConfig *cfg;

		if (entry->cfg != NULL)
			retire(entry->cfg);
		entry->cfg = NULL;
		entry->valid = true;
		PG_TRY();
		{
			cfg = load_config(rel);
		}
		PG_CATCH();
		{
			entry->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (!entry->valid)
		{
			if (cfg != NULL)
				retire(cfg);
			continue;
		}
		entry->cfg = cfg;
	}
	return entry->cfg;
}
