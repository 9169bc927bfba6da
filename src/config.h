/*-------------------------------------------------------------------------
 *
 * config.h
 *	  Options of attached tables, loaded once per backend and cached.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_CONFIG_H
#define WTC_CONFIG_H

#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

/* How a column is rendered in JSON: PostgreSQL's own json.c categories */
typedef enum WtcJsonCategory
{
	WTC_JSON_BOOL,
	WTC_JSON_INTEGER,			/* int2, int4, int8: always a JSON number */
	WTC_JSON_NUMERIC,			/* float4, float8, numeric: NaN is quoted */
	WTC_JSON_DATE,
	WTC_JSON_TIMESTAMP,
	WTC_JSON_TIMESTAMPTZ,
	WTC_JSON_JSON,				/* json, jsonb: output as it is */
	WTC_JSON_ARRAY,
	WTC_JSON_COMPOSITE,
	WTC_JSON_CAST,				/* user type with a cast to json */
	WTC_JSON_TEXT,				/* text, varchar, bpchar: its bytes, quoted */
	WTC_JSON_OTHER				/* text output, quoted */
} WtcJsonCategory;

typedef struct WtcColumn
{
	AttrNumber	attnum;
	WtcJsonCategory category;
	Oid			typid;			/* base type */
	FmgrInfo	fn;				/* output or cast function, when needed */
	char	   *json_name;		/* "name": */
	int			json_name_len;
} WtcColumn;

typedef struct WtcKeyColumn
{
	AttrNumber	attnum;
	FmgrInfo	out;
} WtcKeyColumn;

typedef struct WtcTableConfig
{
	Oid			relid;
	char	   *prefix;
	int			prefix_len;
	int			nkeys;
	WtcKeyColumn *keys;
	int			ncols;
	WtcColumn  *cols;
	AttrNumber	max_attnum;		/* highest attnum any of the above needs */
	int			ttl;			/* seconds, 0 for none */
	bool		invalidate;		/* mode 'invalidate': DEL on every change */
	char	   *problem;		/* why the options no longer fit the table */
	MemoryContext cxt;

	/*
	 * For a partition of an attached partitioned table: relid above is the
	 * partitioned table's, and the attnums are its; rows of the partition
	 * are converted to its layout through map (NULL when the layouts are
	 * the same) into root_slot and root_slot2 (old and new row).
	 */
	struct AttrMap *map;
	struct TupleTableSlot *root_slot;
	struct TupleTableSlot *root_slot2;
} WtcTableConfig;

/* A scan of a table's rows in the attached table's layout (config.c) */
typedef struct WtcRowScan
{
	Relation	root;
	struct SnapshotData *snap;
	List	   *leaves;			/* OIDs of the relations to scan */
	int			next;
	Relation	leaf;
	struct TableScanDescData *scan;
	struct TupleTableSlot *leaf_slot;
	struct TupleTableSlot *root_slot;
	struct AttrMap *map;
	MemoryContext cxt;			/* where each leaf's scan lives (the caller's
								 * at begin: not a context it resets per
								 * batch of rows) */
} WtcRowScan;

/* Column numbers of wt_cache.tables */
#define Anum_wtc_tables_rel				1
#define Anum_wtc_tables_key_prefix		2
#define Anum_wtc_tables_key_attnums		3
#define Anum_wtc_tables_column_attnums	4
#define Anum_wtc_tables_exclude_attnums 5
#define Anum_wtc_tables_ttl				6
#define Anum_wtc_tables_mode			7
#define Natts_wtc_tables				8

extern Oid	wtc_config_table_oid(bool missing_ok);
extern void wtc_become_extension_owner(Oid *save_userid, int *save_sec_context);
extern WtcTableConfig *wtc_config_get(Relation rel);
extern void wtc_config_end_xact(void);
extern struct TupleTableSlot *wtc_config_root_slot(const WtcTableConfig *cfg,
												   struct TupleTableSlot *slot,
												   bool second);
extern List *wtc_leaf_relids(Oid relid);
extern void wtc_rowscan_begin(WtcRowScan *rs, Relation rel,
							  struct SnapshotData *snap);
extern bool wtc_rowscan_next(WtcRowScan *rs, struct TupleTableSlot **slot);
extern void wtc_rowscan_end(WtcRowScan *rs);
extern bool wtc_config_same(const WtcTableConfig *a, const WtcTableConfig *b);
extern TransactionId wtc_slot_xmin(struct TupleTableSlot *slot);
extern struct TupleTableSlot *wtc_fetch_row(Relation rel, Oid leaf,
											ItemPointer tid,
											struct SnapshotData *snap,
											struct TupleTableSlot *slot,
											TransactionId *xmin);

#endif							/* WTC_CONFIG_H */
