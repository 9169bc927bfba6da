/*-------------------------------------------------------------------------
 *
 * attach.c
 *	  wt_cache.attach() and wt_cache.detach().
 *
 * Both check the caller's rights themselves: they are not SECURITY DEFINER
 * (inside one, current_user would be the definer), so GetUserId() is the
 * caller, who must own the table.  Every argument is checked before
 * anything changes.  The writes (the config row, the triggers) are then
 * made as the extension's owner, with search_path pinned to pg_catalog, so
 * neither the caller's rights on wt_cache.tables nor a hostile search_path
 * matter.  Finally the table's relcache entry is invalidated, so that every
 * backend reloads its options (config.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "access/xact.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "tcop/deparse_utility.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "attach.h"
#include "commit.h"
#include "config.h"
#include "epoch.h"
#include "keyenc.h"
#include "queue.h"
#include "resync.h"
#include "wt_cache.h"

PG_FUNCTION_INFO_V1(wtc_attach);
PG_FUNCTION_INFO_V1(wtc_detach);
PG_FUNCTION_INFO_V1(wtc_resync);
PG_FUNCTION_INFO_V1(wtc_on_ddl);

/* Names of the triggers attach creates */
#define ROW_TRIGGER "wt_cache_capture"
#define TRUNCATE_TRIGGER "wt_cache_truncate"

/*
 * Open the table named by the first argument, after checking that the
 * caller owns it, with the given lock.
 */
static Relation
open_owned_table(FunctionCallInfo fcinfo, LOCKMODE lockmode)
{
	Oid			relid;
	Relation	rel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be NULL"),
				 errhint("Name the table, for example 'public.flight'.")));
	relid = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table with OID %u does not exist", relid)));
	/* Check ownership before taking a strong lock on someone else's table */
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	rel = try_relation_open(relid, lockmode);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table with OID %u does not exist", relid)));
	return rel;
}

/* Refuse relations wt_cache cannot serve, saying why */
static void
check_relkind(Relation rel)
{
	const char *name = RelationGetRelationName(rel);

	switch (rel->rd_rel->relkind)
	{
		case RELKIND_RELATION:
			break;
		case RELKIND_VIEW:
		case RELKIND_MATVIEW:
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg(rel->rd_rel->relkind == RELKIND_VIEW ?
							"\"%s\" is a view" : "\"%s\" is a materialized view",
							name),
					 errdetail("wt_cache caches the rows of tables; a view has no rows of its own."),
					 errhint("Attach the tables the view reads from.")));
			break;
		case RELKIND_FOREIGN_TABLE:
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is a foreign table", name),
					 errdetail("Its rows change on another server, where wt_cache cannot see the changes."),
					 errhint("Install wt_cache on the server that holds the table and attach it there.")));
			break;
		case RELKIND_PARTITIONED_TABLE:
			break;				/* serves every partition, see attach */
		default:
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a table", name),
					 errhint("wt_cache.attach takes an ordinary table.")));
	}
	if (IsCatalogRelation(rel) ||
		RelationGetNamespace(rel) == get_namespace_oid(WTC_SCHEMA, true))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot attach system table \"%s\"", name),
				 errdetail("wt_cache serves user tables only.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot attach temporary table \"%s\"", name),
				 errdetail("Only the session that created a temporary table can read it."),
				 errhint("Attach a permanent table.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot attach unlogged table \"%s\"", name),
				 errdetail("Crash recovery empties an unlogged table without firing triggers, which would leave its rows in the cache."),
				 errhint("Make the table logged with ALTER TABLE ... SET LOGGED.")));
}

/*
 * Resolve a text[] of column names to attribute numbers, refusing NULLs,
 * unknown names, system columns and duplicates.
 */
static int
resolve_columns(Relation rel, ArrayType *arr, const char *argname,
				AttrNumber **attnums)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	*attnums = palloc(sizeof(AttrNumber) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		char	   *name;
		AttrNumber	attnum;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", argname),
					 errhint("Remove the NULL element from %s.", argname)));
		name = TextDatumGetCString(elems[i]);
		attnum = get_attnum(RelationGetRelid(rel), name);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist",
							name, RelationGetRelationName(rel)),
					 errhint("Check the names given in %s.", argname)));
		if (attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("system column \"%s\" cannot be used in %s",
							name, argname),
					 errdetail("Only the table's own columns are cached.")));
		for (int j = 0; j < i; j++)
			if ((*attnums)[j] == attnum)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears twice in %s",
								name, argname),
						 errhint("Name each column once.")));
		(*attnums)[i] = attnum;
	}
	return n;
}

/*
 * Find the key: the primary key, or the unique index whose columns are
 * exactly key_columns.  The key must be checked immediately (not
 * DEFERRABLE: two rows could swap keys inside one statement, and the
 * delete of one's old key would remove the other's new one) and its
 * columns must be NOT NULL.  Returns the key columns in key order.
 */
static int
resolve_key(Relation rel, ArrayType *key_columns, AttrNumber **attnums)
{
	const char *name = RelationGetRelationName(rel);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;
	int			n = 0;

	if (key_columns != NULL)
	{
		n = resolve_columns(rel, key_columns, "key_columns", attnums);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_columns must name at least one column"),
					 errhint("Leave key_columns NULL to use the primary key.")));
	}

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index idx;
		bool		match;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", indexoid);
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (key_columns == NULL)
			match = idx->indisprimary;
		else
		{
			match = idx->indisunique && idx->indisvalid &&
				idx->indnkeyatts == n &&
				heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
				heap_attisnull(tup, Anum_pg_index_indpred, NULL);
			for (int i = 0; match && i < n; i++)
			{
				bool		in = false;

				for (int j = 0; j < n; j++)
					if (idx->indkey.values[j] == (*attnums)[i])
						in = true;
				match = in;
			}
		}
		if (match)
		{
			if (!idx->indimmediate)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("the key of table \"%s\" is DEFERRABLE", name),
						 errdetail("Rows can swap keys inside one statement when uniqueness is checked late, which would leave the cache wrong."),
						 errhint("Use a key that is checked immediately.")));
			if (key_columns == NULL)
			{
				n = idx->indnkeyatts;
				*attnums = palloc(sizeof(AttrNumber) * n);
				for (int i = 0; i < n; i++)
					(*attnums)[i] = idx->indkey.values[i];
			}
			found = indexoid;
		}
		ReleaseSysCache(tup);
		if (OidIsValid(found))
			break;
	}

	if (!OidIsValid(found))
	{
		if (key_columns == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("table \"%s\" has no primary key", name),
					 errdetail("wt_cache names each row's cache key after its primary key."),
					 errhint("Add a primary key, or name the columns of a unique key in key_columns.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("key_columns of table \"%s\" do not match a unique index", name),
				 errhint("Create a unique index on exactly these columns (no expressions, no WHERE clause), or leave key_columns out to use the primary key.")));
	}

	for (int i = 0; i < n; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel),
											  (*attnums)[i] - 1);

		if (!att->attnotnull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("key column \"%s\" of table \"%s\" can be NULL",
							NameStr(att->attname), name),
					 errdetail("A row with a NULL key could not be cached."),
					 errhint("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL.",
							 quote_identifier(name),
							 quote_identifier(NameStr(att->attname)))));
	}
	return n;
}

static void
check_prefix(const char *prefix)
{
	size_t		bad = 0;

	switch (wtc_prefix_check(prefix, strlen(prefix), &bad))
	{
		case WTC_PREFIX_OK:
			return;
		case WTC_PREFIX_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_prefix must not be empty"),
					 errhint("Leave key_prefix NULL to use the table's name.")));
			break;
		case WTC_PREFIX_TOO_LONG:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_prefix is too long"),
					 errdetail("A key prefix may have at most %d bytes.",
							   WTC_PREFIX_MAX_LEN),
					 errhint("Choose a shorter key_prefix.")));
			break;
		case WTC_PREFIX_BAD_CHAR:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_prefix \"%s\" contains a character not allowed in a key prefix",
							prefix),
					 errdetail("Byte %zu is not allowed: a prefix may not contain spaces, control characters, or any of * ? [ ] \\ { } %%.",
							   bad + 1),
					 errhint("Give attach a key_prefix made of letters, digits and punctuation such as _ - . : /")));
			break;
		case WTC_PREFIX_EDGE_COLON:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_prefix \"%s\" must not start or end with \":\"",
							prefix),
					 errdetail("Keys are \"<prefix>:<key>\"; wt_cache adds the separator."),
					 errhint("Remove the \":\" at the edge of the prefix.")));
			break;
	}
}

/*
 * Run the privileged part as the extension's owner (the owner of
 * wt_cache.tables), with search_path pinned.  The caller's checks are done.
 */
typedef struct Privileged
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} Privileged;

/*
 * While attach, detach or the DDL handler run their own DDL (CREATE
 * TRIGGER, ALTER TABLE ... ENABLE ALWAYS TRIGGER), the DDL event trigger
 * (wtc_on_ddl) has nothing to check.  Marked by (transaction,
 * subtransaction), so that an error that ends either forgets the mark.
 */
static LocalTransactionId busy_lxid = InvalidLocalTransactionId;
static SubTransactionId busy_subxid = InvalidSubTransactionId;

static bool
ddl_busy(void)
{
	return busy_lxid == MyProc->lxid &&
		busy_subxid == GetCurrentSubTransactionId();
}

static void
privileged_enter(Privileged *p)
{
	busy_lxid = MyProc->lxid;
	busy_subxid = GetCurrentSubTransactionId();
	wtc_become_extension_owner(&p->save_userid, &p->save_sec_context);
	p->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
privileged_exit(Privileged *p)
{
	SPI_finish();
	AtEOXact_GUC(true, p->save_nestlevel);
	SetUserIdAndSecContext(p->save_userid, p->save_sec_context);
	busy_lxid = InvalidLocalTransactionId;
}

static void
spi_exec(const char *sql, int expect)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expect)
		elog(ERROR, "wt_cache: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/*
 * Drop the table's triggers that call wt_cache.capture(), except (with
 * keep_ours) the two named as attach names its own.  attach's
 * triggers are found by their function, not their name, so that one the
 * owner renamed is still removed by detach (or replaced by attach) instead
 * of firing beside the new one.  Triggers cloned from a partitioned
 * parent's go with the parent's.  Runs in privileged mode.
 */
static void
drop_capture_triggers(Oid relid, const char *qname, bool keep_ours)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	List	   *names = NIL;
	ListCell   *lc;

	if (SPI_execute_with_args("SELECT tgname::pg_catalog.text FROM pg_catalog.pg_trigger"
							  " WHERE tgrelid OPERATOR(pg_catalog.=) $1"
							  " AND tgfoid OPERATOR(pg_catalog.=) 'wt_cache.capture()'::pg_catalog.regprocedure"
							  " AND tgparentid OPERATOR(pg_catalog.=) 0",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the triggers of relation %u", relid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 1);

		if (keep_ours && (strcmp(name, ROW_TRIGGER) == 0 ||
						  strcmp(name, TRUNCATE_TRIGGER) == 0))
			continue;
		names = lappend(names, name);
	}
	foreach(lc, names)
		spi_exec(psprintf("DROP TRIGGER %s ON %s",
						  quote_identifier((char *) lfirst(lc)), qname),
				 SPI_OK_UTILITY);
}

static void add_truncate_triggers(Oid relid);
static void remove_partition_triggers(Oid relid);

static Datum
attnum_array(AttrNumber *attnums, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int16GetDatum(attnums[i]);
	return PointerGetDatum(construct_array(d, n, INT2OID, 2, true,
										   TYPALIGN_SHORT));
}

static char *
qualified_name(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/*
 * wt_cache.attach(rel regclass, key_prefix text, columns text[],
 *				   exclude text[], ttl integer, mode text, key_columns text[],
 *				   load boolean)
 *
 * With load (the default), the worker writes the rows the table has once
 * this transaction commits: a 'load' job, which is a resync that removes
 * no keys, so the cache is never emptier than before.
 */
Datum
wtc_attach(PG_FUNCTION_ARGS)
{
	/* Locked like CREATE TRIGGER does */
	Relation	rel = open_owned_table(fcinfo, ShareRowExclusiveLock);
	Oid			relid = RelationGetRelid(rel);
	char	   *prefix;
	AttrNumber *key_attnums;
	int			nkeys;
	AttrNumber *col_attnums = NULL;
	int			ncols = -1;
	AttrNumber *excl_attnums = NULL;
	int			nexcl = -1;
	int			ttl = 0;
	const char *mode = "write";
	Privileged priv;
	char	   *qname;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			argtypes[7] = {OIDOID, TEXTOID, INT2ARRAYOID, INT2ARRAYOID,
	INT2ARRAYOID, INT4OID, TEXTOID};
	List	   *ancestors = NIL;
	List	   *partitions = NIL;
	List	   *family;
	ListCell   *lc;

	check_relkind(rel);

	/* Check every argument before changing anything */
	if (!PG_ARGISNULL(5))
	{
		mode = text_to_cstring(PG_GETARG_TEXT_PP(5));
		if (strcmp(mode, "write") != 0 && strcmp(mode, "invalidate") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown mode \"%s\"", mode),
					 errhint("mode is 'write' (SET the row as JSON) or 'invalidate' (DEL the key on every change).")));
	}
	if (!PG_ARGISNULL(4))
	{
		ttl = PG_GETARG_INT32(4);
		if (ttl <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ttl must be a positive number of seconds"),
					 errhint("Leave ttl NULL for keys that do not expire.")));
	}
	if (!PG_ARGISNULL(2) && !PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns and exclude cannot both be given"),
				 errhint("Name the columns to keep, or the columns to leave out, not both.")));
	if (!PG_ARGISNULL(2))
	{
		ncols = resolve_columns(rel, PG_GETARG_ARRAYTYPE_P(2), "columns",
								&col_attnums);
		if (ncols == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("columns must name at least one column"),
					 errhint("Leave columns NULL to cache every column.")));
	}
	if (!PG_ARGISNULL(3))
		nexcl = resolve_columns(rel, PG_GETARG_ARRAYTYPE_P(3), "exclude",
								&excl_attnums);
	nkeys = resolve_key(rel, PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6),
						&key_attnums);
	prefix = PG_ARGISNULL(1) ? pstrdup(RelationGetRelationName(rel)) :
		text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_prefix(prefix);
	qname = qualified_name(rel);

	/* Its partitions and the tables it is a partition of: not attached */
	if (rel->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		partitions = find_all_inheritors(relid, AccessShareLock, NULL);
	family = list_concat_copy(ancestors, partitions);

	/* NB: ALTER TABLE below refuses a table this session holds open */
	relation_close(rel, NoLock);
	privileged_enter(&priv);

	/* Serialize attaches, then look for an overlapping prefix */
	spi_exec("LOCK TABLE wt_cache.tables IN SHARE ROW EXCLUSIVE MODE",
			 SPI_OK_UTILITY);
	spi_exec("SELECT rel::oid, key_prefix FROM wt_cache.tables", SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			other = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc,
														   1, &isnull));
		char	   *oprefix = SPI_getvalue(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc, 2);

		if (other == relid)
			continue;
		if (list_member_oid(family, other))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot attach table \"%s\": its %s \"%s\" is attached",
							RelationGetRelationName(rel),
							get_rel_relispartition(relid) && list_member_oid(ancestors, other) ?
							"partitioned table" : "partition",
							get_rel_name(other)),
					 errdetail("An attached partitioned table serves all its partitions."),
					 errhint(list_member_oid(ancestors, other) ?
							 "Attach options apply to the whole partitioned table: attach it again to change them." :
							 "Detach the partition from wt_cache first.")));
		if (wtc_prefixes_overlap(prefix, strlen(prefix), oprefix,
								 strlen(oprefix)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("key_prefix \"%s\" overlaps key_prefix \"%s\" of table %s",
							prefix, oprefix,
							DatumGetCString(DirectFunctionCall1(regclassout,
																ObjectIdGetDatum(other)))),
					 errdetail("The keys of one table would match the other's prefix."),
					 errhint("Give attach a different key_prefix.")));
	}

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(prefix);
	values[2] = attnum_array(key_attnums, nkeys);
	if (ncols >= 0)
		values[3] = attnum_array(col_attnums, ncols);
	else
		nulls[3] = 'n';
	if (nexcl > 0)
		values[4] = attnum_array(excl_attnums, nexcl);
	else
		nulls[4] = 'n';
	values[5] = Int32GetDatum(ttl);
	if (ttl == 0)
		nulls[5] = 'n';
	values[6] = CStringGetTextDatum(mode);

	if (SPI_execute_with_args("DELETE FROM wt_cache.tables WHERE rel = $1::pg_catalog.oid::pg_catalog.regclass",
							  1, argtypes, values, nulls, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not update wt_cache.tables");
	if (SPI_execute_with_args("INSERT INTO wt_cache.tables "
							  "(rel, key_prefix, key_attnums, column_attnums, exclude_attnums, ttl, mode) "
							  "VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2, $3, $4, $5, $6, $7)",
							  7, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into wt_cache.tables");

	drop_capture_triggers(relid, qname, true);
	spi_exec(psprintf("CREATE OR REPLACE TRIGGER " ROW_TRIGGER
					  " AFTER INSERT OR UPDATE OR DELETE ON %s"
					  " FOR EACH ROW EXECUTE FUNCTION wt_cache.capture()", qname),
			 SPI_OK_UTILITY);
	spi_exec(psprintf("CREATE OR REPLACE TRIGGER " TRUNCATE_TRIGGER
					  " AFTER TRUNCATE ON %s"
					  " FOR EACH STATEMENT EXECUTE FUNCTION wt_cache.capture()", qname),
			 SPI_OK_UTILITY);
	spi_exec(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER " ROW_TRIGGER
					  ", ENABLE ALWAYS TRIGGER " TRUNCATE_TRIGGER, qname),
			 SPI_OK_UTILITY);
	/*
	 * A partitioned table: PostgreSQL clones the row trigger to every
	 * partition, now and later, but not the TRUNCATE trigger, and a
	 * partition can be truncated alone.  Each partition gets one (new ones
	 * from the DDL event trigger).
	 */
	if (partitions != NIL)
		add_truncate_triggers(relid);

	privileged_exit(&priv);

	if ((PG_NARGS() < 8 || PG_ARGISNULL(7) || PG_GETARG_BOOL(7)) &&
		strcmp(mode, "write") == 0)
		wtc_queue_resync(relid, true);

	CacheInvalidateRelcacheByRelid(relid);
	foreach(lc, partitions)
		CacheInvalidateRelcacheByRelid(lfirst_oid(lc));
	wtc_register_at_commit = true;
	PG_RETURN_VOID();
}

/*
 * wt_cache.detach(rel regclass)
 */
Datum
wtc_detach(PG_FUNCTION_ARGS)
{
	/*
	 * NB: DROP TRIGGER takes AccessExclusiveLock: take it now, not after a
	 * weaker lock, or a worker resyncing the table (which waits for the
	 * transactions that hold a lock like ours) and this upgrade deadlock.
	 */
	Relation	rel = open_owned_table(fcinfo, AccessExclusiveLock);
	Oid			relid = RelationGetRelid(rel);
	char	   *qname = qualified_name(rel);
	Privileged	priv;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *relname = pstrdup(RelationGetRelationName(rel));
	List	   *partitions = NIL;
	ListCell   *lc;

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		partitions = find_all_inheritors(relid, AccessShareLock, NULL);
	relation_close(rel, NoLock);
	privileged_enter(&priv);
	spi_exec("LOCK TABLE wt_cache.tables IN SHARE ROW EXCLUSIVE MODE",
			 SPI_OK_UTILITY);
	if (SPI_execute_with_args("DELETE FROM wt_cache.tables WHERE rel = $1::pg_catalog.oid::pg_catalog.regclass",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not update wt_cache.tables");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not attached to wt_cache",
						relname),
				 errhint("SELECT * FROM wt_cache.attached lists the attached tables.")));
	drop_capture_triggers(relid, qname, false);
	foreach(lc, partitions)
		if (lfirst_oid(lc) != relid)
			remove_partition_triggers(lfirst_oid(lc));
	privileged_exit(&priv);

	CacheInvalidateRelcacheByRelid(relid);
	foreach(lc, partitions)
		CacheInvalidateRelcacheByRelid(lfirst_oid(lc));
	PG_RETURN_VOID();
}

/*
 * wt_cache.resync(rel regclass) RETURNS bigint
 *		Write every row of an attached table to Valkey and remove the keys
 *		of rows that are gone: cache warm-up and repair, in this session,
 *		safe beside live writes (versions, see resync.c).  Only the table's
 *		owner may.  Returns the number of rows written.
 */
Datum
wtc_resync(PG_FUNCTION_ARGS)
{
	/* Like a SELECT: writes go on meanwhile; DDL and TRUNCATE wait */
	Relation	rel = open_owned_table(fcinfo, AccessShareLock);
	WtcTableConfig *cfg;
	int64		rows;
	int			failed = 0;
	char		err[256];

	cfg = wtc_config_get(rel);
	if (cfg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not attached to wt_cache",
						RelationGetRelationName(rel)),
				 errhint("Attach it with wt_cache.attach() first.")));
	if (cfg->problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot resync table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("%s.", cfg->problem),
				 errhint("Attach the table again with wt_cache.attach().")));
	if (wtc_conn_ensure() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not connect to Valkey: %s", wtc_backend_conn.errbuf)));
	if (!wtc_epoch_known())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot resync table \"%s\" yet", RelationGetRelationName(rel)),
				 errdetail("The wt_cache launcher has not checked Valkey's epoch since the server started."),
				 errhint("Try again in a moment; see the server log if this persists.")));
	rows = wtc_resync_table(&wtc_backend_conn, rel, cfg, &failed, err, sizeof(err));
	if (rows < 0)
	{
		char	   *why = pstrdup(wtc_backend_conn.errbuf);

		wtc_conn_close(&wtc_backend_conn);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("resync of table \"%s\" failed: %s",
						RelationGetRelationName(rel), why),
				 errhint("Run it again once Valkey answers; nothing in the table changed.")));
	}
	if (failed > 0)
		ereport(WARNING,
				(errmsg("%d rows of table \"%s\" could not be written", failed,
						RelationGetRelationName(rel)),
				 errdetail("%s", err)));
	relation_close(rel, NoLock);
	PG_RETURN_INT64(rows);
}

/*
 * wtc_open_owned_table
 *		For the other SQL-callable functions that act on a table the caller
 *		must own (verify): the same checks and messages as resync's.
 */
Relation
wtc_open_owned_table(FunctionCallInfo fcinfo, LOCKMODE lockmode)
{
	return open_owned_table(fcinfo, lockmode);
}

/* ---------- DDL on attached tables: the event triggers ---------- */

/* An attached table, as the DDL handler sees it */
typedef struct Attached
{
	Oid			relid;
	int			nkeys;
	AttrNumber *keys;
	bool		write;			/* mode 'write' */
	bool		touched;		/* changed by this command: check its key */
	bool		load;			/* its values changed shape: rewrite rows */
	bool		resync;			/* its keys changed: remove and rewrite */
} Attached;

/* Every attached table (in privileged mode) */
static List *
read_attached(MemoryContext cxt)
{
	List	   *result = NIL;
	MemoryContext old;

	spi_exec("SELECT rel::pg_catalog.oid, key_attnums, mode OPERATOR(pg_catalog.=) 'write'"
			 " FROM wt_cache.tables", SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Attached   *a;
		Datum	   *elems;
		bool	   *nulls;

		old = MemoryContextSwitchTo(cxt);
		a = palloc0(sizeof(Attached));
		a->relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, td, 2, &isnull)),
						  INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls,
						  &a->nkeys);
		a->keys = palloc(sizeof(AttrNumber) * Max(a->nkeys, 1));
		for (int k = 0; k < a->nkeys; k++)
			a->keys[k] = DatumGetInt16(elems[k]);
		a->write = DatumGetBool(SPI_getbinval(tup, td, 3, &isnull));
		result = lappend(result, a);
		MemoryContextSwitchTo(old);
	}
	return result;
}

static Attached *
find_attached(List *attached, Oid relid)
{
	ListCell   *lc;

	foreach(lc, attached)
	{
		Attached   *a = lfirst(lc);

		if (a->relid == relid)
			return a;
	}
	return NULL;
}

/* The attached table that serves relid: itself, or a partitioned ancestor */
static Attached *
serving_table(List *attached, Oid relid)
{
	Attached   *a = find_attached(attached, relid);
	ListCell   *lc;

	if (a != NULL || !get_rel_relispartition(relid))
		return a;
	foreach(lc, get_partition_ancestors(relid))
		if ((a = find_attached(attached, lfirst_oid(lc))) != NULL)
			return a;
	return NULL;
}

/*
 * Is the table's key still what attach found: the columns of a unique,
 * valid, immediately checked index without expressions or WHERE clause,
 * each NOT NULL?  Any such index will do (a primary key dropped and added
 * again on the same columns keeps the table cached).
 */
static bool
key_still_valid(Attached *a)
{
	Relation	rel = try_relation_open(a->relid, AccessShareLock);
	TupleDesc	desc;
	List	   *indexes;
	ListCell   *lc;
	bool		ok = false;

	if (rel == NULL)
		return true;			/* dropped: the sql_drop handler forgets it */
	desc = RelationGetDescr(rel);
	for (int k = 0; k < a->nkeys; k++)
	{
		Form_pg_attribute att;

		if (a->keys[k] < 1 || a->keys[k] > desc->natts)
			goto done;
		att = TupleDescAttr(desc, a->keys[k] - 1);
		if (att->attisdropped || !att->attnotnull)
			goto done;
	}
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;
		bool		match;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		match = idx->indisunique && idx->indisvalid && idx->indimmediate &&
			idx->indnkeyatts == a->nkeys &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL);
		for (int i = 0; match && i < a->nkeys; i++)
		{
			bool		in = false;

			for (int j = 0; j < a->nkeys; j++)
				if (idx->indkey.values[j] == a->keys[i])
					in = true;
			match = in;
		}
		ReleaseSysCache(tup);
		if (match)
		{
			ok = true;
			break;
		}
	}
done:
	relation_close(rel, AccessShareLock);
	return ok;
}

static void
refuse_lost_key(Attached *a)
{
	char	   *name = get_rel_name(a->relid);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot drop or change the key of table \"%s\" while it is attached to wt_cache",
					name ? name : "?"),
			 errdetail("wt_cache names each row's cache key after the columns of a unique key, which must stay unique, NOT NULL and not DEFERRABLE."),
			 errhint("Detach the table with wt_cache.detach(), change its key, attach it again and run wt_cache.resync() to remove the keys of the old key.")));
}

/* Put attach's TRUNCATE trigger on a partition and its own partitions */
static void
add_truncate_triggers(Oid relid)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
	{
		Oid			part = lfirst_oid(lc);
		char	   *qname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)),
													   get_rel_name(part));

		if (get_rel_relkind(part) == RELKIND_FOREIGN_TABLE)
			continue;			/* TRUNCATE of a foreign partition: see README */
		spi_exec(psprintf("CREATE OR REPLACE TRIGGER " TRUNCATE_TRIGGER
						  " AFTER TRUNCATE ON %s"
						  " FOR EACH STATEMENT EXECUTE FUNCTION wt_cache.capture()", qname),
				 SPI_OK_UTILITY);
		spi_exec(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER " TRUNCATE_TRIGGER, qname),
				 SPI_OK_UTILITY);
	}
}

/* Remove attach's triggers from a partition that left its table */
static void
remove_partition_triggers(Oid relid)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
	{
		Oid			part = lfirst_oid(lc);

		drop_capture_triggers(part,
							  quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)),
														 get_rel_name(part)),
							  false);
	}
}

/* The search_path of the role that ran the command (see partition_of) */
static OverrideSearchPath *command_search_path = NULL;

/*
 * The partition an ATTACH or DETACH PARTITION names, looked up as the
 * command looked it up: with its role's search_path, not ours.
 */
static Oid
partition_of(AlterTableCmd *atc)
{
	PartitionCmd *pc = (PartitionCmd *) atc->def;
	Oid			relid;

	PushOverrideSearchPath(command_search_path);
	relid = RangeVarGetRelid(pc->name, NoLock, false);
	PopOverrideSearchPath();
	return relid;
}

/*
 * What an ALTER TABLE of an attached table (or of a table one serves)
 * means for its cache: a column added, dropped or of another type changes
 * every row's JSON (load); a key column of another type changes its keys
 * (resync); a partition attached brings rows (load), one detached takes
 * its rows away (resync).
 */
static void
classify_alter_table(CollectedCommand *cmd, Attached *a, List *attached)
{
	ListCell   *lc;

	foreach(lc, cmd->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = lfirst(lc);
		AlterTableCmd *atc = (AlterTableCmd *) sub->parsetree;

		if (!IsA(atc, AlterTableCmd))
			continue;
		switch (atc->subtype)
		{
			case AT_AddColumn:
			case AT_AddColumnRecurse:
			case AT_DropColumn:
			case AT_DropColumnRecurse:
				a->load = true;
				break;
			case AT_AlterColumnType:
				{
					AttrNumber	attnum = get_attnum(a->relid, atc->name);

					a->load = true;
					for (int k = 0; k < a->nkeys; k++)
						if (a->keys[k] == attnum)
							a->resync = true;
				}
				break;
			case AT_AttachPartition:
				{
					Oid			part = partition_of(atc);

					if (find_attached(attached, part) != NULL)
						ereport(ERROR,
								(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
								 errmsg("cannot attach table \"%s\" as a partition of \"%s\"",
										get_rel_name(part), get_rel_name(a->relid)),
								 errdetail("Both are attached to wt_cache, each with its own options."),
								 errhint("Detach \"%s\" from wt_cache first with wt_cache.detach().",
										 get_rel_name(part))));
					add_truncate_triggers(part);
					a->load = true;
				}
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				remove_partition_triggers(partition_of(atc));
				a->resync = true;
				break;
			default:
				break;
		}
	}
}

static void
on_ddl_command_end(void)
{
	Privileged	priv;
	List	   *attached;
	List	   *jobs = NIL;
	ListCell   *lc;
	MemoryContext caller = CurrentMemoryContext;

	command_search_path = GetOverrideSearchPath(caller);
	privileged_enter(&priv);
	spi_exec("SELECT objid, command FROM pg_catalog.pg_event_trigger_ddl_commands()"
			 " WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass",
			 SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		SPITupleTable *cmds = SPI_tuptable;
		uint64		ncmds = SPI_processed;

		attached = read_attached(caller);
		for (uint64 i = 0; i < ncmds; i++)
		{
			bool		isnull;
			Oid			objid = DatumGetObjectId(SPI_getbinval(cmds->vals[i], cmds->tupdesc, 1, &isnull));
			CollectedCommand *cmd = (CollectedCommand *)
				DatumGetPointer(SPI_getbinval(cmds->vals[i], cmds->tupdesc, 2, &isnull));
			Attached   *a = serving_table(attached, objid);

			if (a == NULL)
				continue;
			if (a->relid != objid && cmd->type == SCT_Simple &&
				IsA(cmd->parsetree, CreateStmt))
			{
				/* CREATE TABLE ... PARTITION OF a table an attached one serves */
				add_truncate_triggers(objid);
				continue;
			}
			a->touched = true;
			if (cmd->type == SCT_AlterTable)
				classify_alter_table(cmd, a, attached);
			else if (cmd->type == SCT_Simple && IsA(cmd->parsetree, RenameStmt) &&
					 ((RenameStmt *) cmd->parsetree)->renameType == OBJECT_COLUMN)
				a->load = true; /* the JSON names the column */
		}
		foreach(lc, attached)
		{
			Attached   *a = lfirst(lc);

			if (!a->touched)
				continue;
			if (!key_still_valid(a))
				refuse_lost_key(a);
			if (a->resync || (a->load && a->write))
			{
				MemoryContext old = MemoryContextSwitchTo(caller);

				jobs = lappend(jobs, a);
				MemoryContextSwitchTo(old);
			}
		}
	}
	privileged_exit(&priv);

	foreach(lc, jobs)
	{
		Attached   *a = lfirst(lc);

		wtc_queue_resync(a->relid, !a->resync);
		CacheInvalidateRelcacheByRelid(a->relid);
		wtc_register_at_commit = true;
	}
}

/*
 * A dropped table: forget its options and its queue entries, so that its
 * prefix is free again.  An index or constraint dropped: check that every
 * attached table still has its key.
 */
static void
on_sql_drop(void)
{
	Privileged	priv;
	bool		index_dropped;
	bool		isnull;
	List	   *attached;
	ListCell   *lc;

	privileged_enter(&priv);
	spi_exec("WITH d AS (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()"
			 "            WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
			 "              AND objsubid OPERATOR(pg_catalog.=) 0),"
			 " q AS (DELETE FROM wt_cache.retry_queue r USING d"
			 "        WHERE r.rel OPERATOR(pg_catalog.=) d.objid)"
			 " DELETE FROM wt_cache.tables t USING d"
			 "  WHERE t.rel::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid",
			 SPI_OK_DELETE);
	spi_exec("SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0"
			 " FROM pg_catalog.pg_event_trigger_dropped_objects()"
			 " WHERE object_type OPERATOR(pg_catalog.=) ANY ('{index,table constraint}')",
			 SPI_OK_SELECT);
	index_dropped = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	if (index_dropped)
	{
		attached = read_attached(CurrentMemoryContext);
		foreach(lc, attached)
			if (!key_still_valid(lfirst(lc)))
				refuse_lost_key(lfirst(lc));
	}
	privileged_exit(&priv);
}

/*
 * wt_cache._on_ddl(): the event trigger function, for ddl_command_end and
 * sql_drop.  Runs as the role that ran the command; reads and writes
 * wt_cache's tables as the extension's owner.
 */
Datum
wtc_on_ddl(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("wt_cache._on_ddl() was not called by event trigger manager")));
	trigdata = (EventTriggerData *) fcinfo->context;
	/* Our own DDL, or the extension itself is being dropped */
	if (ddl_busy() || !OidIsValid(wtc_config_table_oid(true)))
		PG_RETURN_VOID();
	if (strcmp(trigdata->event, "sql_drop") == 0)
		on_sql_drop();
	else if (strcmp(trigdata->event, "ddl_command_end") == 0)
		on_ddl_command_end();
	PG_RETURN_VOID();
}
