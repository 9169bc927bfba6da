/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  wt_cache.verify() and wt_cache.verify_summary(): an attached table
 *	  compared with what Valkey holds.
 *
 * Both run in the caller's session and never write, neither to Valkey nor
 * to a table.  Three passes:
 *
 * 1. The table is read under a snapshot.  Each row's key and JSON are
 *	  rendered as at commit (encode.c, fixed settings), and the JSON's SHA1
 *	  computed here.  Per 1,000 rows, one EVAL_RO of the script below
 *	  compares, inside Valkey, the SHA1 of what each key holds with ours and
 *	  returns the number of keys that exist and the wrong ones only: values
 *	  never travel back.  Five calls go in one round trip.
 *
 * 2. SCAN "<prefix>:*" (scan.c) lists the table's keys.  A key whose hash
 *	  is not among the hashes of the rows' keys, kept from pass 1, has no
 *	  row: unexpected.  Memory: 8 bytes per row (a sorted array of 64-bit
 *	  hashes, up to twice that while it grows), 8 MB for a million rows.
 *	  Two keys with the same 64-bit hash would hide an unexpected key:
 *	  odds of about rows / 2^64 per key.
 *
 * 3. Live writes make rows look wrong while they change: a commit's write
 *	  lands a moment after its commit record, and a row read by the first
 *	  pass may have changed by the time its key is read.  So each suspect is
 *	  checked once more at the end, under a new snapshot: its row read again
 *	  by key (an index lookup), its value compared again; only what is still
 *	  wrong is reported.  Under constant writes to one row, a report can
 *	  still be such a race.
 *
 * Tables with a ttl: a missing key is expected (it expired) and is not a
 * problem.  Tables in mode 'invalidate' have no expected value: refused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "access/relation.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha1.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "attach.h"
#include "config.h"
#include "encode.h"
#include "keyenc.h"
#include "retry.h"
#include "scan.h"
#include "wt_cache.h"

PG_FUNCTION_INFO_V1(wtc_verify);
PG_FUNCTION_INFO_V1(wtc_verify_summary);

/* Keys per script call (Valkey is blocked while one runs) */
#define CALL_KEYS 1000
/* Keys per round trip: calls pipelined */
#define BATCH_KEYS 5000
/* Suspects verify_summary re-checks; problems past these are counted as seen */
#define SUMMARY_MAX_SUSPECTS 10000

/* What is wrong with a key; the numbers are the script's */
#define P_OK 0
#define P_MISSING 1
#define P_STALE 2
#define P_UNEXPECTED 3

static const char *const problem_names[] = {"ok", "missing", "stale", "unexpected"};

/*
 * KEYS[i] is a key, ARGV[i] the SHA1 of the value it should hold, or ''
 * if it should not exist.  Returns the number of the keys that exist, then
 * i and the problem of each wrong key: 1 missing, 2 stale (another value,
 * or another type than a string), 3 unexpected.  Reads only (EVAL_RO).
 * One MGET for all keys (a GET per key costs three times as much); MGET
 * gives nil for a key of another type, so EXISTS tells those apart.
 */
static const char verify_script[] =
"local vals = redis.call('MGET', unpack(KEYS))\n"
"local res = {0}\n"
"for i = 1, #KEYS do\n"
"  local v, want, p = vals[i], ARGV[i], 0\n"
"  if not v and redis.call('EXISTS', KEYS[i]) == 1 then v = true end\n"
"  if v then\n"
"    res[1] = res[1] + 1\n"
"    if want == '' then p = 3\n"
"    elseif v == true or redis.sha1hex(v) ~= want then p = 2 end\n"
"  elseif want ~= '' then\n"
"    p = 1\n"
"  end\n"
"  if p > 0 then\n"
"    res[#res + 1] = i\n"
"    res[#res + 1] = p\n"
"  end\n"
"end\n"
"return res\n";

typedef struct Suspect
{
	char	   *key;
	int			len;
	int			first;			/* the problem the first passes saw */
	int			final;			/* the problem that stayed */
} Suspect;

typedef struct Verify
{
	Relation	rel;
	WtcTableConfig *cfg;
	WtcConn    *conn;
	int			timeout_ms;		/* per round trip */
	int			max_suspects;	/* -1: every one */
	pg_cryptohash_ctx *sha1;

	/* the rows' keys, sealed once the table is read */
	WtcKeySet	rowkeys;

	int64		rows;
	int64		present;		/* rows' keys that Valkey holds */
	int64		unkept[4];		/* problems seen past max_suspects */

	Suspect    *suspects;
	int			nsuspects;
	int			maxsuspects;

	/* One round trip: up to BATCH_KEYS keys in calls of CALL_KEYS */
	StringInfoData out;			/* finished calls */
	StringInfoData call_keys;	/* keys of the call being built */
	StringInfoData call_shas;	/* their SHA1s */
	int			ncall;			/* keys in the call being built */
	int			ncalls;
	int			nkeys;
	StringInfoData keys;		/* the round trip's keys, NUL-terminated */
	int		   *key_at;			/* offset of each in keys */
	int		   *key_len;
	int			problem[BATCH_KEYS];	/* from the replies */
	int64		batch_present;
	char		err[256];		/* first error reply */
} Verify;

static inline int
bulk_timeout_ms(void)
{
	/* As resync: long enough for a slow batch, still bounded */
	return Max(wtc_command_timeout_ms, 10000);
}

static void
append_bulk(StringInfo buf, const char *s, size_t len)
{
	appendStringInfo(buf, "$%zu\r\n", len);
	appendBinaryStringInfo(buf, s, len);
	appendBinaryStringInfo(buf, "\r\n", 2);
}

static int
cmp_suspect(const void *a, const void *b)
{
	const Suspect *x = (const Suspect *) a;
	const Suspect *y = (const Suspect *) b;
	int			c = memcmp(x->key, y->key, Min(x->len, y->len));

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

/* The lowercase hex SHA1 of data, as Valkey's redis.sha1hex prints it */
static void
sha1_hex(Verify *v, const char *data, size_t len, char *hex)
{
	uint8		digest[SHA1_DIGEST_LENGTH];

	if (pg_cryptohash_init(v->sha1) < 0 ||
		pg_cryptohash_update(v->sha1, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(v->sha1, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA1: %s", pg_cryptohash_error(v->sha1));
	hex[hex_encode((const char *) digest, SHA1_DIGEST_LENGTH, hex)] = '\0';
}

/* ---------- round trips ---------- */

static void
batch_reset(Verify *v)
{
	resetStringInfo(&v->out);
	resetStringInfo(&v->call_keys);
	resetStringInfo(&v->call_shas);
	resetStringInfo(&v->keys);
	v->ncall = 0;
	v->ncalls = 0;
	v->nkeys = 0;
	v->batch_present = 0;
	v->err[0] = '\0';
}

/* Assemble the call being built: EVAL_RO script n keys... shas... */
static void
finish_call(Verify *v)
{
	char		num[16];

	if (v->ncall == 0)
		return;
	appendStringInfo(&v->out, "*%d\r\n", 3 + 2 * v->ncall);
	append_bulk(&v->out, "EVAL_RO", 7);
	append_bulk(&v->out, verify_script, sizeof(verify_script) - 1);
	append_bulk(&v->out, num, pg_ltoa(v->ncall, num));
	appendBinaryStringInfo(&v->out, v->call_keys.data, v->call_keys.len);
	appendBinaryStringInfo(&v->out, v->call_shas.data, v->call_shas.len);
	resetStringInfo(&v->call_keys);
	resetStringInfo(&v->call_shas);
	v->ncall = 0;
	v->ncalls++;
}

/* Add a key to the round trip, with the SHA1 it should hold ("": none) */
static void
batch_add(Verify *v, const char *key, size_t len, const char *sha)
{
	append_bulk(&v->call_keys, key, len);
	append_bulk(&v->call_shas, sha, strlen(sha));
	v->key_at[v->nkeys] = v->keys.len;
	v->key_len[v->nkeys] = (int) len;
	appendBinaryStringInfo(&v->keys, key, len);
	appendStringInfoChar(&v->keys, '\0');
	v->problem[v->nkeys] = P_OK;
	v->nkeys++;
	if (++v->ncall == CALL_KEYS)
		finish_call(v);
}

typedef struct CallReply
{
	Verify	   *v;
	int			first;			/* index of the call's first key */
	long long	i;				/* key number just read (1-based) */
} CallReply;

static void
call_element(void *arg, long index, const RespReply *el)
{
	CallReply  *cr = (CallReply *) arg;
	Verify	   *v = cr->v;

	if (el->type != ':')
		return;
	if (index == 0)
		v->batch_present += el->integer;
	else if (index % 2 == 1)
		cr->i = el->integer;
	else if (cr->i >= 1 && cr->i <= CALL_KEYS &&
			 cr->first + cr->i - 1 < v->nkeys &&
			 el->integer >= P_MISSING && el->integer <= P_UNEXPECTED)
		v->problem[cr->first + cr->i - 1] = (int) el->integer;
}

/*
 * Reply visitor: fills v->problem.  No ERROR here: the connection would be
 * left in the middle of an exchange.
 */
static void
call_reply(void *arg, int index, const RespReply *reply, const char *buf,
		   size_t len)
{
	Verify	   *v = (Verify *) arg;

	if (reply->type == '*' && !reply->is_nil)
	{
		CallReply	cr = {v, index * CALL_KEYS, 0};
		RespReply	again;

		(void) resp_parse(buf, len, &again, call_element, &cr);
	}
	else if (v->err[0] == '\0')
	{
		if (reply->type == '-')
			snprintf(v->err, sizeof(v->err), "%.*s",
					 (int) Min(reply->len, 200), reply->str);
		else
			strlcpy(v->err, "unexpected reply to EVAL_RO", sizeof(v->err));
	}
}

static void
conn_failed(Verify *v)
{
	char	   *why = pstrdup(v->conn->errbuf);

	wtc_conn_close(v->conn);
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("verify of table \"%s\" failed: %s",
					RelationGetRelationName(v->rel), why),
			 errhint("Run it again once Valkey answers.")));
}

/* Send the round trip and read the problems into v->problem */
static void
batch_send(Verify *v)
{
	finish_call(v);
	if (v->ncalls == 0)
		return;
	if (wtc_conn_exchange(v->conn, v->out.data, v->out.len, v->ncalls,
						  wtc_now_us() + (int64_t) v->timeout_ms * 1000,
						  call_reply, v) != 0)
		conn_failed(v);
	if (v->err[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("Valkey replied with an error to verify of table \"%s\": %s",
						RelationGetRelationName(v->rel), v->err),
				 errhint("wt_cache.verify needs Valkey, or Redis 7 or later (EVAL_RO).")));
}

/* ---------- suspects ---------- */

static void
note_problem(Verify *v, const char *key, size_t len, int problem)
{
	Suspect    *s;

	if (problem == P_MISSING && v->cfg->ttl > 0)
		return;					/* expired: expected with a ttl */
	if (v->max_suspects >= 0 && v->nsuspects >= v->max_suspects)
	{
		v->unkept[problem]++;
		return;
	}
	if (v->nsuspects == v->maxsuspects)
	{
		v->maxsuspects = Max(64, v->maxsuspects * 2);
		v->suspects = v->suspects ?
			repalloc_huge(v->suspects, sizeof(Suspect) * v->maxsuspects) :
			MemoryContextAllocHuge(CurrentMemoryContext,
								   sizeof(Suspect) * v->maxsuspects);
	}
	s = &v->suspects[v->nsuspects++];
	s->key = palloc(len + 1);	/* not pnstrdup: a key may hold a NUL */
	memcpy(s->key, key, len);
	s->key[len] = '\0';
	s->len = (int) len;
	s->first = problem;
	s->final = problem;
}

/* After a round trip of pass 1: every wrong key is a suspect */
static void
note_batch(Verify *v)
{
	v->present += v->batch_present;
	for (int i = 0; i < v->nkeys; i++)
		if (v->problem[i] != P_OK)
			note_problem(v, v->keys.data + v->key_at[i], v->key_len[i],
						 v->problem[i]);
}

/* ---------- pass 1: the rows ---------- */

static void
check_rows(Verify *v)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	WtcRowScan	scan;
	TupleTableSlot *slot;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "wt_cache verify row",
												  ALLOCSET_DEFAULT_SIZES);
	StringInfoData key;
	StringInfoData json;
	char		sha[2 * SHA1_DIGEST_LENGTH + 1];

	initStringInfo(&key);
	initStringInfo(&json);
	batch_reset(v);
	wtc_rowscan_begin(&scan, v->rel, snap);
	while (wtc_rowscan_next(&scan, &slot))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		resetStringInfo(&key);
		resetStringInfo(&json);
		if (wtc_render_key(v->cfg, slot, &key))
		{
			wtc_render_json(v->cfg, slot, &json);
			MemoryContextSwitchTo(old);
			sha1_hex(v, json.data, json.len, sha);
			wtc_keyset_add(&v->rowkeys, key.data, key.len);
			batch_add(v, key.data, key.len, sha);
			v->rows++;
		}
		MemoryContextSwitchTo(old);
		if (v->nkeys == BATCH_KEYS)
		{
			batch_send(v);
			note_batch(v);
			batch_reset(v);
			MemoryContextReset(row_cxt);
			CHECK_FOR_INTERRUPTS();
		}
	}
	batch_send(v);
	note_batch(v);
	batch_reset(v);
	wtc_rowscan_end(&scan);
	UnregisterSnapshot(snap);
	MemoryContextDelete(row_cxt);
	pfree(key.data);
	pfree(json.data);
}

/* ---------- pass 2: keys without a row ---------- */

static bool
check_keys(void *arg, int nkeys, char **keys, const size_t *lens)
{
	Verify	   *v = (Verify *) arg;

	for (int i = 0; i < nkeys; i++)
	{
		if (!wtc_keyset_has(&v->rowkeys, keys[i], lens[i]))
			note_problem(v, keys[i], lens[i], P_UNEXPECTED);
	}
	return true;
}

/* ---------- pass 3: the suspects again ---------- */

/*
 * Split a key's parts after "<prefix>:" and decode them into text datums;
 * false if the key cannot be one of the table's.
 */
static bool
key_parts(Verify *v, const Suspect *s, Datum *parts)
{
	const char *p = s->key + v->cfg->prefix_len + 1;
	const char *end = s->key + s->len;

	if (s->len <= v->cfg->prefix_len ||
		memcmp(s->key, v->cfg->prefix, v->cfg->prefix_len) != 0 ||
		s->key[v->cfg->prefix_len] != ':')
		return false;
	for (int k = 0; k < v->cfg->nkeys; k++)
	{
		const char *sep = memchr(p, ':', end - p);
		const char *stop = (k == v->cfg->nkeys - 1) ? end : sep;
		char	   *buf;
		size_t		len;

		if (stop == NULL || (k == v->cfg->nkeys - 1 && sep != NULL))
			return false;
		buf = palloc(stop - p + 1);
		len = wtc_key_part_decode(buf, p, stop - p);
		buf[len] = '\0';
		/* A row's key prints in the database encoding, without NUL */
		if (strlen(buf) != len || !pg_verifymbstr(buf, len, true))
			return false;
		parts[k] = CStringGetTextDatum(buf);
		p = stop + 1;
	}
	return true;
}

/*
 * Look up the rows of n keys (parts[k][i]: part k of key i) under snap;
 * sets found[i] and tids[i].  Returns false, having found nothing, if a
 * part is not a valid value of its column's type (such a key is no row's),
 * so the caller can look the keys up one by one.  Other errors are thrown.
 */
static bool
lookup_rows(Verify *v, SPIPlanPtr plan, Snapshot snap, Datum **parts, int n,
			bool *found, ItemPointerData *tids, Oid *leaves)
{
	int			nk = v->cfg->nkeys;
	Datum	   *args = palloc(sizeof(Datum) * nk);
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	for (int k = 0; k < nk; k++)
		args[k] = PointerGetDatum(construct_array(parts[k], n, TEXTOID, -1,
												  false, TYPALIGN_INT));
	memset(found, 0, sizeof(bool) * n);

	/* A subtransaction, so that a key that does not parse is no ERROR */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (SPI_execute_snapshot(plan, args, NULL, snap, InvalidSnapshot,
								 true, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read rows of \"%s\"",
				 RelationGetRelationName(v->rel));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			ItemPointer tid;
			int64		ord;
			Oid			leaf;

			wtc_row_lookup_result(r, &tid, &ord, &leaf);
			if (ord >= 1 && ord <= n)
			{
				found[ord - 1] = true;
				tids[ord - 1] = *tid;
				leaves[ord - 1] = leaf;
			}
		}
		SPI_freetuptable(SPI_tuptable);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			ReThrowError(edata);
		FreeErrorData(edata);
		memset(found, 0, sizeof(bool) * n);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Check each suspect once more, under a new snapshot: read its row again
 * by key, then ask Valkey again.  s->final is what is still wrong.
 */
static void
recheck(Verify *v)
{
	WtcTableConfig *cfg = v->cfg;
	int			nk = cfg->nkeys;
	Snapshot	snap;
	SPIPlanPtr	plan;
	Oid		   *argtypes = palloc(sizeof(Oid) * nk);
	Datum	  **parts = palloc(sizeof(Datum *) * nk);
	Datum	  **one = palloc(sizeof(Datum *) * nk);
	int		   *map = palloc(sizeof(int) * CALL_KEYS);
	bool	   *found = palloc(sizeof(bool) * CALL_KEYS);
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * CALL_KEYS);
	Oid		   *leaves = palloc(sizeof(Oid) * CALL_KEYS);
	char	  (*shas)[2 * SHA1_DIGEST_LENGTH + 1] = palloc(sizeof(*shas) * CALL_KEYS);
	TupleTableSlot *slot = table_slot_create(v->rel, NULL);
	Datum	   *kparts = palloc(sizeof(Datum) * nk);
	StringInfoData key;
	StringInfoData json;
	Oid			save_userid;
	int			save_sec_context;
	int			n = 0;
	MemoryContext chunk_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"wt_cache verify recheck",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	/* One report per key: SCAN may return a key twice */
	qsort(v->suspects, v->nsuspects, sizeof(Suspect), cmp_suspect);
	for (int i = 0; i < v->nsuspects; i++)
		if (n == 0 || cmp_suspect(&v->suspects[n - 1], &v->suspects[i]) != 0)
			v->suspects[n++] = v->suspects[i];
	v->nsuspects = n;

	for (int k = 0; k < nk; k++)
	{
		argtypes[k] = TEXTARRAYOID;
		parts[k] = palloc(sizeof(Datum) * CALL_KEYS);
		one[k] = palloc(sizeof(Datum));
	}
	initStringInfo(&key);
	initStringInfo(&json);

	/*
	 * Read as the extension's owner: the table's owner may have revoked
	 * their own SELECT, or forced row security on themselves; the first
	 * pass read the table below both.
	 */
	wtc_become_extension_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(wtc_row_lookup_query(v->rel, cfg, ""), nk, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the lookup of \"%s\": %s",
			 RelationGetRelationName(v->rel), SPI_result_code_string(SPI_result));
	snap = RegisterSnapshot(GetLatestSnapshot());

	for (int first = 0; first < v->nsuspects; first += CALL_KEYS)
	{
		int			count = Min(CALL_KEYS, v->nsuspects - first);
		int			m = 0;

		old = MemoryContextSwitchTo(chunk_cxt);

		/* The rows of the keys that can be the table's */
		for (int i = 0; i < count; i++)
		{
			found[i] = false;
			shas[i][0] = '\0';
			if (!key_parts(v, &v->suspects[first + i], kparts))
				continue;
			for (int k = 0; k < nk; k++)
				parts[k][m] = kparts[k];
			map[m++] = i;
		}
		if (m > 0 && !lookup_rows(v, plan, snap, parts, m, found, tids, leaves))
		{
			/* Some key does not parse: one by one */
			for (int j = 0; j < m; j++)
			{
				for (int k = 0; k < nk; k++)
					one[k][0] = parts[k][j];
				(void) lookup_rows(v, plan, snap, one, 1, &found[j], &tids[j],
								   &leaves[j]);
			}
		}

		/* The value each key should hold now, if its row renders that key */
		for (int j = m - 1; j >= 0; j--)
		{
			Suspect    *s = &v->suspects[first + map[j]];
			TupleTableSlot *row;

			if (!found[j] ||
				(row = wtc_fetch_row(v->rel, leaves[j], &tids[j], snap, slot, NULL)) == NULL)
				continue;
			resetStringInfo(&key);
			if (!wtc_render_key(cfg, row, &key) ||
				key.len != s->len || memcmp(key.data, s->key, s->len) != 0)
				continue;
			resetStringInfo(&json);
			wtc_render_json(cfg, row, &json);
			sha1_hex(v, json.data, json.len, shas[map[j]]);
		}

		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);

		batch_reset(v);
		for (int i = 0; i < count; i++)
			batch_add(v, v->suspects[first + i].key, v->suspects[first + i].len,
					  shas[i]);
		batch_send(v);
		for (int i = 0; i < count; i++)
		{
			Suspect    *s = &v->suspects[first + i];
			bool		now_present;

			s->final = v->problem[i];
			if (s->final == P_MISSING && cfg->ttl > 0)
				s->final = P_OK;

			/*
			 * Rows' keys that Valkey holds: the first pass counted the stale
			 * ones; count what holds now instead (unexpected keys are
			 * counted apart).
			 */
			now_present = v->problem[i] == P_STALE ||
				(v->problem[i] == P_OK && shas[i][0] != '\0');
			v->present += (now_present ? 1 : 0) - (s->first == P_STALE ? 1 : 0);
		}
		CHECK_FOR_INTERRUPTS();
	}

	MemoryContextDelete(chunk_cxt);
	UnregisterSnapshot(snap);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	ExecDropSingleTupleTableSlot(slot);
}

/* ---------- the whole ---------- */

/*
 * Open and check the table named by the first argument, and connect.
 */
static void
verify_begin(FunctionCallInfo fcinfo, Verify *v)
{
	const char *name;

	memset(v, 0, sizeof(*v));
	wtc_keyset_init(&v->rowkeys);
	/* Like a SELECT: writes go on meanwhile; DDL and TRUNCATE wait */
	v->rel = wtc_open_owned_table(fcinfo, AccessShareLock);
	name = RelationGetRelationName(v->rel);
	v->cfg = wtc_config_get(v->rel);
	if (v->cfg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not attached to wt_cache", name),
				 errhint("Attach it with wt_cache.attach() first.")));
	if (v->cfg->problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot verify table \"%s\"", name),
				 errdetail("%s.", v->cfg->problem),
				 errhint("Attach the table again with wt_cache.attach().")));
	if (v->cfg->invalidate)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot verify table \"%s\"", name),
				 errdetail("The table is attached in mode 'invalidate': wt_cache deletes its keys and never writes them, so there is no value to compare."),
				 errhint("Only tables attached in mode 'write' can be verified.")));
	if (wtc_conn_ensure() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not connect to Valkey: %s", wtc_backend_conn.errbuf)));
	v->conn = &wtc_backend_conn;
	v->timeout_ms = bulk_timeout_ms();
	v->sha1 = pg_cryptohash_create(PG_SHA1);
	if (v->sha1 == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	initStringInfo(&v->out);
	initStringInfo(&v->call_keys);
	initStringInfo(&v->call_shas);
	initStringInfo(&v->keys);
	v->key_at = palloc(sizeof(int) * BATCH_KEYS);
	v->key_len = palloc(sizeof(int) * BATCH_KEYS);
}

static void
verify_run(Verify *v)
{
	WtcSavedSettings saved;

	wtc_fixed_settings_enter(&saved);
	PG_TRY();
	{
		check_rows(v);
		wtc_keyset_seal(&v->rowkeys);
		if (!wtc_scan_prefix(v->conn, v->cfg->prefix, v->timeout_ms,
							 check_keys, v))
			conn_failed(v);
		if (v->nsuspects > 0)
			recheck(v);
	}
	PG_FINALLY();
	{
		wtc_fixed_settings_exit(&saved);
	}
	PG_END_TRY();
	pg_cryptohash_free(v->sha1);
	v->sha1 = NULL;
}

/* A key as text: bytes the database encoding cannot hold shown as \xNN */
static text *
key_text(const char *key, int len)
{
	StringInfoData buf;

	if (memchr(key, '\0', len) == NULL && pg_verifymbstr(key, len, true))
		return cstring_to_text_with_len(key, len);
	initStringInfo(&buf);
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) key[i];

		if (c == 0 || c >= 0x80)
			appendStringInfo(&buf, "\\x%02x", c);
		else
			appendStringInfoChar(&buf, c);
	}
	return cstring_to_text_with_len(buf.data, buf.len);
}

/*
 * wt_cache.verify(rel regclass) RETURNS TABLE (key text, problem text)
 *		One row per key that is still wrong at the end, ordered by key.
 */
Datum
wtc_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Verify		v;

	verify_begin(fcinfo, &v);
	v.max_suspects = -1;
	verify_run(&v);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < v.nsuspects; i++)
	{
		Suspect    *s = &v.suspects[i];
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (s->final == P_OK)
			continue;
		values[0] = PointerGetDatum(key_text(s->key, s->len));
		values[1] = CStringGetTextDatum(problem_names[s->final]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	relation_close(v.rel, NoLock);
	return (Datum) 0;
}

/*
 * wt_cache.verify_summary(rel regclass) RETURNS TABLE (rows bigint,
 *		keys bigint, missing bigint, stale bigint, unexpected bigint)
 *		The counts of what verify would report, for monitoring: keeps at
 *		most SUMMARY_MAX_SUSPECTS keys to check again; problems past that
 *		are counted as the first passes saw them.
 */
Datum
wtc_verify_summary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Verify		v;
	int64		count[4] = {0, 0, 0, 0};
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	verify_begin(fcinfo, &v);
	v.max_suspects = SUMMARY_MAX_SUSPECTS;
	verify_run(&v);

	for (int p = P_MISSING; p <= P_UNEXPECTED; p++)
		count[p] = v.unkept[p];
	for (int i = 0; i < v.nsuspects; i++)
		count[v.suspects[i].final]++;

	InitMaterializedSRF(fcinfo, 0);
	values[0] = Int64GetDatum(v.rows);
	values[1] = Int64GetDatum(v.present + count[P_UNEXPECTED]);
	values[2] = Int64GetDatum(count[P_MISSING]);
	values[3] = Int64GetDatum(count[P_STALE]);
	values[4] = Int64GetDatum(count[P_UNEXPECTED]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	relation_close(v.rel, NoLock);
	return (Datum) 0;
}
