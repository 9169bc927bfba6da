/*-------------------------------------------------------------------------
 *
 * async.c
 *	  The worker's side of asynchronous pushes (wt_cache.async_push).
 *
 * A committing backend copies its push (the script calls, built before the
 * commit record and versioned with its commit LSN, and the keys) into its
 * database's push ring in shared memory (handoff.c), and COMMIT returns.
 * The worker takes whatever has gathered there, up to WTC_ASYNC_SEND_MAX
 * bytes at a time, sends it in one write and reads the replies: under load,
 * Valkey and the worker are woken once for many commits, not once per
 * commit.  Each push is counted as a backend's would be, and the keys that
 * failed are handed off to the retry path.  Pushes leave the ring only
 * after that, so a worker that stops half-way loses nothing: a push sent
 * twice writes the same version again, or is refused as older.
 *
 * What is given up, against the default: read-your-writes (COMMIT returns
 * before Valkey has the rows), and the order of arrival of two commits'
 * writes, which fencing makes harmless (the newer version wins).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "async.h"
#include "commit.h"
#include "fence.h"
#include "handoff.h"
#include "stats.h"
#include "wt_cache.h"

/* What the worker sends in one write, at most (a push is never split) */
#define WTC_ASYNC_SEND_MAX (1024 * 1024)

typedef struct AsyncItem
{
	WtcPushEntry e;
	int			first_call;		/* index of its first reply */
	bool	   *failed;			/* per key */
	int			nfailed;
	WtcBatchReplies r;
	const char *kpos;			/* next key, for next_failed */
} AsyncItem;

typedef struct AsyncSend
{
	AsyncItem  *items;
	int			nitems;
	int			cur;			/* the item of the reply being visited */
} AsyncSend;

int			wtc_async_push_delay_ms = 3;

static MemoryContext async_cxt = NULL;
static char firsterr[256];
static TimestampTz last_log = 0;

static void
note_error(const char *err, size_t errlen)
{
	if (firsterr[0] == '\0')
	{
		size_t		n = Min(errlen, sizeof(firsterr) - 1);

		memcpy(firsterr, err, n);
		firsterr[n] = '\0';
	}
}

static void
item_key_result(void *arg, int keyindex, const char *err, size_t errlen)
{
	AsyncItem  *it = (AsyncItem *) arg;

	if (err == NULL || it->failed[keyindex])
		return;
	it->failed[keyindex] = true;
	it->nfailed++;
	note_error(err, errlen);
}

/* Reply visitor: reply index is over all the items' calls, in order */
static void
dispatch(void *arg, int index, const RespReply *reply, const char *buf,
		 size_t len)
{
	AsyncSend  *s = (AsyncSend *) arg;
	AsyncItem  *it;

	while (index >= s->items[s->cur].first_call + s->items[s->cur].e.ncalls)
		s->cur++;
	it = &s->items[s->cur];
	wtc_batch_reply(&it->r, index - it->first_call, reply, buf, len);
}

/* An item's failed keys, for wtc_handoff_keys (asks for i = 0, 1, ...) */
static bool
next_failed(void *arg, int i, WtcHandoffKey *k)
{
	AsyncItem  *it = (AsyncItem *) arg;

	if (i == 0)
		it->kpos = it->e.keys;
	it->kpos += wtc_handoff_entry(it->kpos, k);
	return it->failed[i];
}

/*
 * wtc_async_send
 *		Send the pushes gathered in the database's push ring (slot) through
 *		conn, or, if !can_send (no connection, the circuit open), hand all
 *		their keys off.  Returns the number of pushes taken from the ring;
 *		*handed_off is set when keys were handed off (the worker stores them
 *		next).  On a failed exchange the connection is closed.
 */
int
wtc_async_send(WtcConn *conn, int slot, bool can_send, bool *handed_off)
{
	MemoryContext old;
	AsyncSend	s;
	Size		len;
	uint64		upto;
	char	   *buf;
	char	   *out;
	Size		outlen = 0;
	int			ncalls = 0;
	int			nstale = 0;
	int			nfailed = 0;

	if (async_cxt == NULL)
		async_cxt = AllocSetContextCreate(TopMemoryContext,
										  "wt_cache asynchronous pushes",
										  ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(async_cxt);
	buf = wtc_handoff_push_peek(slot, WTC_ASYNC_SEND_MAX, &len, &upto);
	if (buf == NULL)
	{
		MemoryContextSwitchTo(old);
		return 0;
	}

	/* The items, and all their calls in one buffer */
	memset(&s, 0, sizeof(s));
	for (Size p = 0; p < len; s.nitems++)
	{
		WtcPushEntry e;

		p += wtc_handoff_push_entry(buf + p, &e);
	}
	s.items = palloc0(sizeof(AsyncItem) * s.nitems);
	for (Size p = 0, i = 0; p < len; i++)
	{
		AsyncItem  *it = &s.items[i];

		p += wtc_handoff_push_entry(buf + p, &it->e);
		it->first_call = ncalls;
		it->failed = palloc0(sizeof(bool) * Max(it->e.nkeys, 1));
		it->r.keys_per_call = it->e.keys_per_call;
		it->r.nkeys = it->e.nkeys;
		it->r.on_key = item_key_result;
		it->r.arg = it;
		ncalls += it->e.ncalls;
		outlen += it->e.outlen;
	}
	out = palloc(outlen);
	outlen = 0;
	for (int i = 0; i < s.nitems; i++)
	{
		memcpy(out + outlen, s.items[i].e.out, s.items[i].e.outlen);
		outlen += s.items[i].e.outlen;
	}

	firsterr[0] = '\0';
	if (can_send)
	{
		int			rc;

		conn->progress_us = (int64_t) wtc_command_timeout_ms * 1000;
		rc = wtc_conn_exchange(conn, out, outlen, ncalls,
							   wtc_now_us() + conn->progress_us, dispatch, &s);
		conn->progress_us = 0;
		if (rc != 0)
		{
			note_error(conn->errbuf, strlen(conn->errbuf));
			wtc_stats_push_failed(conn->errbuf);
			wtc_conn_close(conn);
			can_send = false;
		}
		else
			wtc_stats_push_ok();
	}
	if (!can_send)
	{
		note_error("Valkey is not reachable", 23);
		for (int i = 0; i < s.nitems; i++)
		{
			AsyncItem  *it = &s.items[i];

			for (int k = 0; k < it->e.nkeys; k++)
				it->failed[k] = true;
			it->nfailed = it->e.nkeys;
		}
	}

	/* Count each push as its backend would have, hand off what failed */
	for (int i = 0; i < s.nitems; i++)
	{
		AsyncItem  *it = &s.items[i];

		nstale += it->r.nstale;
		wtc_count(&wtc_stats->keys_written, it->e.nkeys - it->nfailed);
		if (it->nfailed == 0)
		{
			wtc_count(&wtc_stats->xacts_pushed, 1);
			continue;
		}
		nfailed += it->nfailed;
		wtc_count(&wtc_stats->push_failures, 1);
		{
			int			stored = wtc_handoff_keys(it->e.nkeys, next_failed, it);

			if (stored >= 0)
				wtc_count(&wtc_stats->keys_handed_off, stored);
			else
				wtc_count(&wtc_stats->keys_lost, it->nfailed);
		}
		*handed_off = true;
	}
	wtc_count(&wtc_stats->stale_rejected, nstale);
	wtc_handoff_push_consume(slot, upto);

	if (nfailed > 0)
	{
		TimestampTz now = GetCurrentTimestamp();

		wtc_stats_error(firsterr);
		if (TimestampDifferenceExceeds(last_log, now, wtc_log_interval_ms))
		{
			ereport(LOG,
					(errmsg_plural("wt_cache could not write %d key of asynchronous commits to Valkey",
								   "wt_cache could not write %d keys of asynchronous commits to Valkey",
								   nfailed, nfailed),
					 errdetail("%s; the keys go to the retry queue.", firsterr)));
			last_log = now;
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(async_cxt);
	return s.nitems;
}
