/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  Every key of a table's prefix, from SCAN, in batches.
 *
 * Resync removes a table's keys and verify looks for keys without a row:
 * both walk "<prefix>:*" with SCAN (COUNT 1000 per call), which never
 * blocks Valkey the way KEYS would.  A prefix cannot contain glob
 * characters and does not overlap another table's (attach checks both), so
 * the pattern matches this table's keys only; version keys "{<key>}:v"
 * start with '{' and never match.  SCAN may return a key more than once
 * (when Valkey rehashes meanwhile): callers must not mind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "encode.h"
#include "scan.h"

#define SCAN_COUNT "1000"

/* The keys of one SCAN reply, copied out of the connection's buffer */
typedef struct ScanState
{
	char		cursor[32];
	StringInfoData buf;			/* the keys, each NUL-terminated */
	int			nkeys;
	int			maxkeys;
	size_t	   *offsets;
	size_t	   *lens;
} ScanState;

static void
scan_key(void *arg, long index, const RespReply *el)
{
	ScanState  *st = (ScanState *) arg;

	if (el->type != '$' || el->is_nil)
		return;
	if (st->nkeys == st->maxkeys)
	{
		st->maxkeys *= 2;
		st->offsets = repalloc(st->offsets, sizeof(size_t) * st->maxkeys);
		st->lens = repalloc(st->lens, sizeof(size_t) * st->maxkeys);
	}
	st->offsets[st->nkeys] = st->buf.len;
	st->lens[st->nkeys] = el->len;
	appendBinaryStringInfo(&st->buf, el->str, el->len);
	appendStringInfoChar(&st->buf, '\0');
	st->nkeys++;
}

static void
scan_element(void *arg, long index, const RespReply *el)
{
	ScanState  *st = (ScanState *) arg;

	if (index == 0 && el->type == '$')
		snprintf(st->cursor, sizeof(st->cursor), "%.*s",
				 (int) Min(el->len, sizeof(st->cursor) - 1), el->str);
	else if (index == 1 && el->type == '*')
	{
		RespReply	inner;

		(void) resp_parse(el->raw, el->rawlen, &inner, scan_key, st);
	}
}

static void
scan_reply(void *arg, int index, const RespReply *reply, const char *buf,
		   size_t len)
{
	RespReply	again;

	if (reply->type == '*')
		(void) resp_parse(buf, len, &again, scan_element, arg);
}

/*
 * wtc_scan_prefix
 *		Call on_batch with the keys "<prefix>:*" of each SCAN reply, until
 *		the cursor comes back to 0.  Each SCAN must answer within timeout_ms.
 *		Returns false if an exchange failed (conn->errbuf says why; the
 *		caller closes the connection), or on_batch returned false.
 */
bool
wtc_scan_prefix(WtcConn *conn, const char *prefix, int timeout_ms,
				WtcScanBatch on_batch, void *arg)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "wt_cache scan",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	   *pattern = psprintf("%s:*", prefix);
	char	  **keys = palloc(sizeof(char *) * 1024);
	int			maxkeys = 1024;
	ScanState	st;
	StringInfoData cmd;
	bool		ok = true;

	strlcpy(st.cursor, "0", sizeof(st.cursor));
	initStringInfo(&st.buf);
	initStringInfo(&cmd);
	st.maxkeys = 1024;
	st.offsets = palloc(sizeof(size_t) * st.maxkeys);
	st.lens = palloc(sizeof(size_t) * st.maxkeys);
	do
	{
		const char *argv[6] = {"SCAN", st.cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
		size_t		argvlen[6] = {4, strlen(st.cursor), 5, strlen(pattern), 5, strlen(SCAN_COUNT)};

		resetStringInfo(&cmd);
		wtc_append_command(&cmd, 6, argv, argvlen);
		resetStringInfo(&st.buf);
		st.nkeys = 0;
		/* An answer without a cursor ends the scan */
		strlcpy(st.cursor, "0", sizeof(st.cursor));
		if (wtc_conn_exchange(conn, cmd.data, cmd.len, 1,
							  wtc_now_us() + (int64_t) timeout_ms * 1000,
							  scan_reply, &st) != 0)
		{
			ok = false;
			break;
		}
		if (st.nkeys > 0)
		{
			if (st.nkeys > maxkeys)
			{
				maxkeys = st.maxkeys;
				keys = repalloc(keys, sizeof(char *) * maxkeys);
			}
			for (int i = 0; i < st.nkeys; i++)
				keys[i] = st.buf.data + st.offsets[i];
			MemoryContextSwitchTo(old);
			ok = on_batch(arg, st.nkeys, keys, st.lens);
			MemoryContextSwitchTo(cxt);
			if (!ok)
				break;
		}
		CHECK_FOR_INTERRUPTS();
	} while (strcmp(st.cursor, "0") != 0);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return ok;
}

/* ---------- the keys rows have ---------- */

void
wtc_keyset_init(WtcKeySet *ks)
{
	memset(ks, 0, sizeof(*ks));
	ks->cxt = CurrentMemoryContext;
}

static uint64
key_hash(const char *key, size_t len)
{
	return hash_bytes_extended((const unsigned char *) key, (int) len, 0);
}

void
wtc_keyset_add(WtcKeySet *ks, const char *key, size_t len)
{
	if (ks->n == ks->cap)
	{
		ks->cap = Max(ks->cap * 2, 1024);
		ks->h = ks->h ? repalloc_huge(ks->h, sizeof(uint64) * ks->cap) :
			MemoryContextAllocHuge(ks->cxt, sizeof(uint64) * ks->cap);
	}
	ks->h[ks->n++] = key_hash(key, len);
}

static int
cmp_hash(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

void
wtc_keyset_seal(WtcKeySet *ks)
{
	if (ks->n > 1)
		qsort(ks->h, ks->n, sizeof(uint64), cmp_hash);
}

bool
wtc_keyset_has(const WtcKeySet *ks, const char *key, size_t len)
{
	uint64		h = key_hash(key, len);

	return ks->n > 0 &&
		bsearch(&h, ks->h, ks->n, sizeof(uint64), cmp_hash) != NULL;
}

void
wtc_keyset_free(WtcKeySet *ks)
{
	if (ks->h != NULL)
		pfree(ks->h);
	ks->h = NULL;
	ks->n = ks->cap = 0;
}
