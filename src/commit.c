/*-------------------------------------------------------------------------
 *
 * commit.c
 *	  Transaction callbacks: push the changes after the commit record.
 *
 * XACT_EVENT_PRE_COMMIT: the transaction can still fail, so everything that
 * can raise an ERROR happens here.  Either the commands are encoded into
 * one buffer (for a push of several script calls, buffers are only sized
 * for its largest call) and the connection is opened (and its script
 * loaded), or, when the push cannot happen at commit, the keys are queued in
 * wt_cache.retry_queue inside this very transaction (queue.c): the circuit
 * is open, Valkey cannot be reached, or the transaction outgrew
 * wt_cache.max_changes.  Queued keys commit or roll back with the data.
 *
 * XACT_EVENT_COMMIT: the commit record is written and the transaction's
 * row locks are still held.  The prebuilt bytes go to Valkey in one round
 * trip, and the replies are read against a deadline
 * (wt_cache.command_timeout).  COMMIT returns to the client only after
 * that, which is what makes the cache read-your-writes.  Keys that could not
 * be written are handed to the worker through shared memory (handoff.c).
 * A push of several calls is built here call by call into the buffers
 * sized at PRE_COMMIT, each call sent as soon as it is built, so that
 * Valkey runs one while the backend builds the next (stream_push).
 * A push of one script call (up to wt_cache.keys_per_call keys: nearly
 * every transaction) is sent here, and its reply read in the resource
 * owner callback after the locks are released (release_callback), so that
 * a transaction waiting for one of our rows does not wait for Valkey too;
 * the transaction's memory lives until after that callback.  A push of
 * several calls reads its replies here, each extending the deadline.
 *
 * With wt_cache.async_push (off by default), COMMIT copies the prebuilt
 * bytes, versioned, and the keys into its database's push ring in shared
 * memory (handoff.c) and returns: the worker sends what commits gathered
 * there in one write, reads the replies and hands off the keys that failed
 * (worker.c).  This trades read-your-writes for latency and for Valkey's
 * and the backend's work per commit.  A push that does not fit in the ring
 * is made by the backend, as without the setting.
 *
 * XACT_EVENT_PRE_PREPARE: a prepared transaction's changes cannot wait in
 * backend memory, so its keys are queued inside it: COMMIT PREPARED makes
 * them visible to the worker (woken by the utility hook below), ROLLBACK
 * PREPARED discards them.
 *
 * NB: an ERROR in the XACT_EVENT_COMMIT callback becomes a PANIC.  Nothing
 * called from do_push may raise one: it writes to a socket, reads into a
 * malloc'd buffer and parses in place (valkey.c, resp.c, fence.c), copies
 * keys into shared memory under an LWLock (handoff.c) and bumps atomic
 * counters (stats.c); every buffer it needs was allocated at PRE_COMMIT.
 * Interrupts are held meanwhile, so nobody can cancel a hung read; the
 * deadline bounds it.  Failures are logged at LOG level, at most once per
 * wt_cache.log_interval, and counted in wt_cache.stats: the client sees no
 * WARNING, since its transaction is committed and nothing is lost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "changeset.h"
#include "commit.h"
#include "config.h"
#include "epoch.h"
#include "fence.h"
#include "handoff.h"
#include "queue.h"
#include "stats.h"
#include "wt_cache.h"

/* The push prepared at PRE_COMMIT, carried out at COMMIT */
typedef struct WtcPush
{
	bool		pending;		/* a push was prepared */
	WtcWriteBatch batch;		/* the EVALSHA calls, in TopTransactionContext */
	int			nkeys;
	bool	   *failed;			/* per key, allocated at PRE_COMMIT */
	int			nfailed;
	char		firsterr[256];	/* first error, for the log */
	bool		async;			/* wt_cache.async_push: to the push ring */
	bool		streamed;		/* several calls, built and sent at COMMIT */
	int64_t		deadline;
	/* sent at COMMIT, replies read once the locks are released */
	bool		awaiting;
	int64_t		start;
} WtcPush;

static WtcPush push;

bool		wtc_async_push = false;

/* Test-only: delay the push after the commit record (superuser only) */
int			wtc_test_push_delay_ms = 0;

/* Rate limit of the LOG lines about failed pushes */
int			wtc_log_interval_ms = 10000;
static TimestampTz last_log = 0;
static int	suppressed_logs = 0;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* CREATE EXTENSION or attach ran: make sure this database has a worker */
bool		wtc_register_at_commit = false;

PG_FUNCTION_INFO_V1(wtc_wake);

/*
 * wt_cache._wake(): at commit, claim this database's handoff slot and wake
 * its worker (or the launcher, which starts one).  At commit, because a
 * worker started earlier would not see an uncommitted CREATE EXTENSION.
 */
Datum
wtc_wake(PG_FUNCTION_ARGS)
{
	wtc_register_at_commit = true;
	PG_RETURN_VOID();
}

/*
 * Queue the whole changeset inside the transaction instead of pushing.
 */
static void
queue_instead(void)
{
	wtc_queue_changeset();
	memset(&push, 0, sizeof(push));
}

/*
 * PRE_COMMIT: build the commands and open the connection, or queue.
 */
static void
prepare_push(void)
{
	int			n = wtc_changeset_count();
	MemoryContext old;

	memset(&push, 0, sizeof(push));
	if (wtc_changeset_empty())
		return;

	/* With the retry path in place, a push that cannot happen is queued */
	if (wtc_handoff_available())
	{
		if (wtc_changeset_overflowed() || wtc_circuit_is_open() ||
			!wtc_epoch_known())
		{
			queue_instead();
			return;
		}
		if ((wtc_async_push ? wtc_conn_ensure_unchecked() :
			 wtc_conn_ensure()) != 0)
		{
			wtc_stats_push_failed(wtc_backend_conn.errbuf);
			queue_instead();
			return;
		}
	}
	else if (wtc_conn_ensure() != 0)
	{
		strlcpy(push.firsterr, wtc_backend_conn.errbuf, sizeof(push.firsterr));
		push.pending = true;	/* reported at COMMIT, see do_push */
		push.nkeys = n;
		push.nfailed = n;
		return;
	}

	old = MemoryContextSwitchTo(TopTransactionContext);
	wtc_batch_init(&push.batch, wtc_backend_conn.script_sha);
	push.async = wtc_async_push && wtc_handoff_available();
	if (n > push.batch.keys_per_call && !push.async)
	{
		/* Several calls: size the buffers for the largest, build at COMMIT */
		Size		call = 0;
		Size		max_call = 0;

		for (int i = 0; i < n; i++)
		{
			const WtcChange *ch = wtc_changeset_get(i);

			call += wtc_batch_item_bound(ch->keylen, ch->vallen);
			if ((i + 1) % push.batch.keys_per_call == 0 || i == n - 1)
			{
				max_call = Max(max_call, call);
				call = 0;
			}
		}
		wtc_batch_stream_reserve(&push.batch, max_call);
		push.streamed = true;
	}
	else
	{
		for (int i = 0; i < n; i++)
		{
			const WtcChange *ch = wtc_changeset_get(i);

			wtc_batch_add(&push.batch, ch->key, ch->keylen, ch->value,
						  ch->vallen, ch->ttl);
		}
		wtc_batch_finish(&push.batch);
	}
	push.failed = palloc0(sizeof(bool) * n);
	MemoryContextSwitchTo(old);
	push.nkeys = n;
	push.pending = true;
}

/* Record each key's result.  Cannot fail. */
static void
key_result(void *arg, int keyindex, const char *err, size_t errlen)
{
	WtcPush    *p = (WtcPush *) arg;

	if (err == NULL || p->failed[keyindex])
		return;
	p->failed[keyindex] = true;
	if (p->nfailed++ == 0)
	{
		size_t		n = Min(errlen, sizeof(p->firsterr) - 1);

		memcpy(p->firsterr, err, n);
		p->firsterr[n] = '\0';
	}
}

/* The failed keys of a push, for the handoff (skips the others) */
static bool
next_failed_key(void *arg, int i, WtcHandoffKey *k)
{
	WtcPush    *p = (WtcPush *) arg;

	if (p->failed != NULL && !p->failed[i])
		return false;
	return wtc_queue_next_change(NULL, i, k);
}

/*
 * Hand the failed keys to the worker and log, at most once per interval.
 * Cannot fail: an ereport(LOG) does not throw.
 */
static void
report_failure(WtcPush *p)
{
	int			stored = -1;
	TimestampTz now = GetCurrentTimestamp();

	if (wtc_handoff_available())
	{
		stored = wtc_handoff_keys(p->nkeys, next_failed_key, p);
		if (stored >= 0)
			wtc_count(&wtc_stats->keys_handed_off, stored);
		else
			wtc_count(&wtc_stats->keys_lost, p->nfailed);
		wtc_handoff_wake(MyDatabaseId);
	}
	else
	{
		/* Not preloaded: no retry path; tell the client */
		ereport(WARNING,
				(errmsg_plural("wt_cache could not write %d key to Valkey",
							   "wt_cache could not write %d keys to Valkey",
							   p->nfailed, p->nfailed),
				 errdetail("%s", p->firsterr),
				 errhint("Without wt_cache in shared_preload_libraries failed writes are not retried; the cache may hold old values for these keys.")));
		return;
	}

	if (TimestampDifferenceExceeds(last_log, now, wtc_log_interval_ms))
	{
		ereport(LOG,
				(errmsg_plural("wt_cache could not write %d key to Valkey at commit",
							   "wt_cache could not write %d keys to Valkey at commit",
							   p->nfailed, p->nfailed),
				 stored >= 0 ?
				 errdetail("%s; the keys were handed to the wt_cache worker%s.",
						   p->firsterr,
						   suppressed_logs > 0 ? " (and similar failures since the last message)" : "") :
				 errdetail("%s; no handoff slot is free for this database (wt_cache.max_databases), the keys will be fixed by the next change or resync.",
						   p->firsterr)));
		last_log = now;
		suppressed_logs = 0;
	}
	else
		suppressed_logs++;
}

/* Count a push's outcome, and hand off its failed keys.  Cannot fail. */
static void
account(WtcPush *p)
{
	if (p->nfailed > 0)
	{
		if (wtc_stats != NULL)
			pg_atomic_fetch_add_u64(&wtc_stats->push_failures, 1);
		report_failure(p);
	}
	else
		wtc_count(&wtc_stats->xacts_pushed, 1);
	wtc_count(&wtc_stats->keys_written, p->nkeys - p->nfailed);
}

/* A push's exchange failed: every key failed.  Cannot fail. */
static void
all_failed(WtcPush *p)
{
	strlcpy(p->firsterr, wtc_backend_conn.errbuf, sizeof(p->firsterr));
	wtc_conn_close(&wtc_backend_conn);
	for (int i = 0; i < p->nkeys; i++)
		p->failed[i] = true;
	p->nfailed = p->nkeys;
	wtc_stats_push_failed(p->firsterr);
}

/*
 * Send out (if any) and read the replies of a push, each within
 * wt_cache.command_timeout of the one before (the first before deadline),
 * recording each key's result.  NB: the deadline is per reply, one per
 * wt_cache.keys_per_call keys: a large transaction's push takes as long as
 * Valkey needs, while a Valkey that stops answering costs one timeout.
 * Returns true if every reply came.  Cannot fail.
 */
static bool
read_replies(WtcPush *p, const char *out, size_t outlen, int64_t deadline)
{
	WtcBatchReplies r;
	int			rc;

	memset(&r, 0, sizeof(r));
	r.keys_per_call = p->batch.keys_per_call;
	r.nkeys = p->nkeys;
	r.on_key = key_result;
	r.arg = p;
	HOLD_INTERRUPTS();
	wtc_backend_conn.progress_us = (int64_t) wtc_command_timeout_ms * 1000;
	wtc_backend_conn.spin_us = wtc_reply_spin_us;
	rc = wtc_conn_exchange(&wtc_backend_conn, out, outlen, p->batch.ncalls,
						   deadline, wtc_batch_reply, &r);
	wtc_backend_conn.progress_us = 0;
	wtc_backend_conn.spin_us = 0;
	RESUME_INTERRUPTS();
	if (rc != 0)
	{
		all_failed(p);
		return false;
	}
	wtc_stats_push_ok();
	wtc_count(&wtc_stats->stale_rejected, r.nstale);
	if (p->nfailed > 0)
		wtc_stats_error(p->firsterr);
	return true;
}

/* The time from sending a push to its last reply, for wt_cache.stats */
static void
count_round_trip(int64_t start)
{
	if (wtc_stats == NULL)
		return;
	pg_atomic_fetch_add_u64(&wtc_stats->rtt_sum_us,
							(uint64) (wtc_now_us() - start));
	pg_atomic_fetch_add_u64(&wtc_stats->rtt_count, 1);
}

/*
 * A streamed push (several calls): build each call into the buffers sized
 * at PRE_COMMIT and send it, so that Valkey runs one call while the next is
 * built, then read the replies.  Each send may take wt_cache.command_timeout
 * (a Valkey that reads slowly but steadily is waited for).  Returns true if
 * every reply came.  Cannot fail: nothing here allocates.
 */
static bool
stream_push(WtcPush *p, const char *version)
{
	WtcWriteBatch *b = &p->batch;
	int64_t		timeout = (int64_t) wtc_command_timeout_ms * 1000;

	for (int i = 0; i < p->nkeys; i++)
	{
		const WtcChange *ch = wtc_changeset_get(i);
		int			ncalls = b->ncalls;

		if (!wtc_batch_stream_room(b, ch->keylen, ch->vallen))
		{
			/* Cannot happen: PRE_COMMIT sized the buffers for every call */
			snprintf(wtc_backend_conn.errbuf, sizeof(wtc_backend_conn.errbuf),
					 "internal error: push buffer too small");
			all_failed(p);
			return false;
		}
		wtc_batch_add(b, ch->key, ch->keylen, ch->value, ch->vallen, ch->ttl);
		if (i == p->nkeys - 1)
			wtc_batch_stream_flush(b);
		if (b->ncalls == ncalls)
			continue;
		wtc_batch_set_version(b, version);
		if (wtc_conn_send(&wtc_backend_conn, b->out.data, b->out.len,
						  wtc_now_us() + timeout) != 0)
		{
			all_failed(p);
			return false;
		}
		wtc_batch_stream_next(b);
	}
	return read_replies(p, NULL, 0, wtc_now_us() + timeout);
}

/*
 * COMMIT: send the commands and read the replies (or, asynchronously, hand
 * them to the worker).  Must not ERROR.
 */
static void
do_push(void)
{
	if (push.failed != NULL)
	{
		char		version[WTC_VERSION_LEN + 1];

		/*
		 * NB: the version is this transaction's commit LSN: of two commits
		 * that change one row, the later one's commit record is later.
		 */
		wtc_format_version(version, XactLastCommitEnd);
		if (wtc_test_push_delay_ms > 0)
			pg_usleep((long) wtc_test_push_delay_ms * 1000L);
		if (push.streamed)
		{
			push.start = wtc_now_us();
			if (stream_push(&push, version))
				count_round_trip(push.start);
			account(&push);
			return;
		}
		wtc_batch_set_version(&push.batch, version);
		/* The worker sends it, counts it and hands off what fails */
		if (push.async &&
			wtc_handoff_push(push.batch.out.data, push.batch.out.len,
							 push.batch.ncalls, push.batch.keys_per_call,
							 push.nkeys, wtc_queue_next_change, NULL))
			return;
		push.start = wtc_now_us();
		push.deadline = push.start + (int64_t) wtc_command_timeout_ms * 1000;
		if (push.batch.ncalls == 1)
		{
			/*
			 * Send now, read the replies once the row locks are released
			 * (release_callback), so that other transactions waiting for
			 * our rows do not wait for Valkey too.
			 */
			if (wtc_conn_send(&wtc_backend_conn, push.batch.out.data,
							  push.batch.out.len, push.deadline) == 0)
			{
				push.awaiting = true;
				return;
			}
			all_failed(&push);
		}
		else if (read_replies(&push, push.batch.out.data, push.batch.out.len,
							  push.deadline))
			count_round_trip(push.start);
	}
	account(&push);
}

static void
end_of_xact(void)
{
	push.pending = false;
	push.failed = NULL;
	wtc_queue_pending_wake = false;
	wtc_register_at_commit = false;
	wtc_changeset_reset();
	wtc_config_end_xact();
	wtc_progress_end();			/* a resync that failed: its row goes */
}

/*
 * After the top transaction's locks are released at commit: read the
 * replies of the call do_push sent, hand off what failed, and end the
 * transaction's wt_cache state.  Must not ERROR; the buffers are still in
 * TopTransactionContext (deleted after the resource owners).
 */
static void
release_callback(ResourceReleasePhase phase, bool isCommit, bool isTopLevel,
				 void *arg)
{
	if (!push.awaiting || phase != RESOURCE_RELEASE_AFTER_LOCKS ||
		!isTopLevel)
		return;
	push.awaiting = false;
	if (read_replies(&push, NULL, 0, push.deadline))
		count_round_trip(push.start);
	account(&push);
	end_of_xact();
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			prepare_push();
			break;
		case XACT_EVENT_COMMIT:
			if (push.pending)
				do_push();
			if (wtc_register_at_commit)
				wtc_handoff_register_db(MyDatabaseId);
			else if (wtc_queue_pending_wake)
				wtc_handoff_wake(MyDatabaseId);
			if (!push.awaiting)
				end_of_xact();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (!wtc_changeset_empty())
			{
				if (!wtc_handoff_available())
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cannot PREPARE a transaction that changed a table attached to wt_cache"),
							 errdetail("Prepared changes go through the wt_cache worker, which runs only when wt_cache is in shared_preload_libraries."),
							 errhint("Add wt_cache to shared_preload_libraries, or commit the transaction directly.")));
				wtc_queue_changeset();
			}
			break;
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
			end_of_xact();
			break;
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	wtc_changeset_subxact(event, mySubid, parentSubid);
}

/*
 * COMMIT PREPARED makes a prepared transaction's queued keys visible: wake
 * the worker so that they reach Valkey promptly.
 */
static void
wtc_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		wake = IsA(parsetree, TransactionStmt) &&
		((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED;

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	if (wake)
		wtc_handoff_wake(MyDatabaseId);
}

void
wtc_commit_init(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
	RegisterResourceReleaseCallback(release_callback, NULL);
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = wtc_ProcessUtility;
}
