/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Shared-memory counters, the circuit breaker, the last error; and
 *	  wt_cache._stats(), which the view wt_cache.stats reads.
 *
 * The circuit breaker: after wt_cache.circuit_failures consecutive failed
 * pushes, backends stop contacting Valkey and queue their keys inside their
 * own transaction instead (commit.c), so a dead Valkey costs commits
 * nothing.  The worker probes Valkey and closes the circuit when it
 * answers.
 *
 * Everything here may run in the XACT_EVENT_COMMIT callback: atomics and a
 * spinlock around a few stores, nothing that can throw.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "stats.h"

WtcStats   *wtc_stats = NULL;
static WtcProgress *wtc_progress = NULL;
static slock_t *progress_lock = NULL;
int			wtc_circuit_failures = 3;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(wtc_stats_function);
PG_FUNCTION_INFO_V1(wtc_progress_function);

static void
stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WtcStats)));
	RequestAddinShmemSpace(MAXALIGN(sizeof(slock_t)) +
						   mul_size(MaxBackends, sizeof(WtcProgress)));
}

static void
stats_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wtc_stats = ShmemInitStruct("wt_cache stats", sizeof(WtcStats), &found);
	if (!found)
	{
		memset(wtc_stats, 0, sizeof(WtcStats));
		pg_atomic_init_u64(&wtc_stats->xacts_pushed, 0);
		pg_atomic_init_u64(&wtc_stats->keys_written, 0);
		pg_atomic_init_u64(&wtc_stats->push_failures, 0);
		pg_atomic_init_u64(&wtc_stats->keys_handed_off, 0);
		pg_atomic_init_u64(&wtc_stats->keys_queued, 0);
		pg_atomic_init_u64(&wtc_stats->keys_lost, 0);
		pg_atomic_init_u64(&wtc_stats->retry_keys_written, 0);
		pg_atomic_init_u64(&wtc_stats->retry_failures, 0);
		pg_atomic_init_u64(&wtc_stats->keys_dead, 0);
		pg_atomic_init_u64(&wtc_stats->resyncs, 0);
		pg_atomic_init_u64(&wtc_stats->stale_rejected, 0);
		pg_atomic_init_u64(&wtc_stats->rtt_sum_us, 0);
		pg_atomic_init_u64(&wtc_stats->rtt_count, 0);
		pg_atomic_init_u32(&wtc_stats->consecutive_failures, 0);
		pg_atomic_init_u32(&wtc_stats->circuit_open, 0);
		pg_atomic_init_u32(&wtc_stats->epoch, 0);
		pg_atomic_init_u32(&wtc_stats->epoch_known, 0);
		SpinLockInit(&wtc_stats->mutex);
	}
	progress_lock = ShmemInitStruct("wt_cache progress",
									MAXALIGN(sizeof(slock_t)) +
									mul_size(MaxBackends, sizeof(WtcProgress)),
									&found);
	wtc_progress = (WtcProgress *) ((char *) progress_lock + MAXALIGN(sizeof(slock_t)));
	if (!found)
	{
		SpinLockInit(progress_lock);
		memset(wtc_progress, 0, mul_size(MaxBackends, sizeof(WtcProgress)));
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * wtc_stats_init
 *		Ask for shared memory.  Only when preloaded: without it wt_cache
 *		still pushes at commit but has no retry path (wtc_stats stays NULL).
 */
void
wtc_stats_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
}

/* Remember an error and when it happened.  Does not throw. */
void
wtc_stats_error(const char *err)
{
	if (wtc_stats == NULL)
		return;
	SpinLockAcquire(&wtc_stats->mutex);
	strlcpy(wtc_stats->last_error, err, sizeof(wtc_stats->last_error));
	wtc_stats->last_error_at = GetCurrentTimestamp();
	SpinLockRelease(&wtc_stats->mutex);
}

/* A push failed: count it, and open the circuit after enough in a row */
void
wtc_stats_push_failed(const char *err)
{
	uint32		n;

	if (wtc_stats == NULL)
		return;
	wtc_stats_error(err);
	n = pg_atomic_add_fetch_u32(&wtc_stats->consecutive_failures, 1);
	if (n >= (uint32) wtc_circuit_failures &&
		pg_atomic_exchange_u32(&wtc_stats->circuit_open, 1) == 0)
	{
		SpinLockAcquire(&wtc_stats->mutex);
		wtc_stats->circuit_changed_at = GetCurrentTimestamp();
		SpinLockRelease(&wtc_stats->mutex);
	}
}

/* A push worked: the failures in a row are over */
void
wtc_stats_push_ok(void)
{
	if (wtc_stats != NULL &&
		pg_atomic_read_u32(&wtc_stats->consecutive_failures) != 0)
		pg_atomic_write_u32(&wtc_stats->consecutive_failures, 0);
}

bool
wtc_circuit_is_open(void)
{
	return wtc_stats != NULL && pg_atomic_read_u32(&wtc_stats->circuit_open) != 0;
}

/* The worker reached Valkey: let backends push again */
void
wtc_circuit_close(void)
{
	if (wtc_stats == NULL)
		return;
	pg_atomic_write_u32(&wtc_stats->consecutive_failures, 0);
	if (pg_atomic_exchange_u32(&wtc_stats->circuit_open, 0) != 0)
	{
		SpinLockAcquire(&wtc_stats->mutex);
		wtc_stats->circuit_changed_at = GetCurrentTimestamp();
		SpinLockRelease(&wtc_stats->mutex);
	}
}

/* ---------- resync progress ---------- */

static WtcProgress *
my_progress(void)
{
	if (wtc_progress == NULL || MyBackendId < 1 || MyBackendId > MaxBackends)
		return NULL;
	return &wtc_progress[MyBackendId - 1];
}

/* A resync (or load) of relid starts in this backend */
void
wtc_progress_begin(Oid relid, bool load)
{
	WtcProgress *p = my_progress();

	if (p == NULL)
		return;
	SpinLockAcquire(progress_lock);
	memset(p, 0, sizeof(*p));
	p->pid = MyProcPid;
	p->dboid = MyDatabaseId;
	p->relid = relid;
	p->load = load;
	p->started_at = GetCurrentTimestamp();
	SpinLockRelease(progress_lock);
}

void
wtc_progress_update(const char *phase, int64 keys_removed, int64 rows_written)
{
	WtcProgress *p = my_progress();

	if (p == NULL || p->pid == 0)
		return;
	SpinLockAcquire(progress_lock);
	strlcpy(p->phase, phase, sizeof(p->phase));
	p->keys_removed = keys_removed;
	p->rows_written = rows_written;
	SpinLockRelease(progress_lock);
}

/* Done, or failed: the slot is free.  Also at transaction abort. */
void
wtc_progress_end(void)
{
	WtcProgress *p = my_progress();

	if (p == NULL || p->pid == 0)
		return;
	SpinLockAcquire(progress_lock);
	p->pid = 0;
	SpinLockRelease(progress_lock);
}

/*
 * wt_cache._resync_progress(): one row per resync or load running now.
 */
Datum
wtc_progress_function(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (wtc_progress == NULL)
		return (Datum) 0;
	for (int i = 0; i < MaxBackends; i++)
	{
		WtcProgress p;
		Datum		values[8];
		bool		nulls[8] = {0};

		SpinLockAcquire(progress_lock);
		p = wtc_progress[i];
		SpinLockRelease(progress_lock);
		if (p.pid == 0)
			continue;
		values[0] = Int32GetDatum(p.pid);
		values[1] = ObjectIdGetDatum(p.dboid);
		values[2] = ObjectIdGetDatum(p.relid);
		values[3] = CStringGetTextDatum(p.load ? "load" : "resync");
		values[4] = CStringGetTextDatum(p.phase[0] ? p.phase : "starting");
		values[5] = Int64GetDatum(p.keys_removed);
		values[6] = Int64GetDatum(p.rows_written);
		values[7] = TimestampTzGetDatum(p.started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * wt_cache._stats(): the shared counters, one row.
 */
Datum
wtc_stats_function(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[18];
	bool		nulls[18];
	int			i = 0;
	uint64		rtt_count;
	char		last_error[256];
	TimestampTz last_error_at;
	TimestampTz circuit_changed_at;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));
	if (wtc_stats == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("wt_cache is not loaded by shared_preload_libraries"),
				 errhint("Add wt_cache to shared_preload_libraries and restart the server.")));

	SpinLockAcquire(&wtc_stats->mutex);
	strlcpy(last_error, wtc_stats->last_error, sizeof(last_error));
	last_error_at = wtc_stats->last_error_at;
	circuit_changed_at = wtc_stats->circuit_changed_at;
	SpinLockRelease(&wtc_stats->mutex);

	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->xacts_pushed));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->keys_written));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->push_failures));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->keys_handed_off));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->keys_queued));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->keys_lost));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->retry_keys_written));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->retry_failures));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->keys_dead));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->resyncs));
	values[i++] = CStringGetTextDatum(wtc_circuit_is_open() ? "open" : "closed");
	if (circuit_changed_at != 0)
		values[i] = TimestampTzGetDatum(circuit_changed_at);
	else
		nulls[i] = true;
	i++;
	if (last_error[0] != '\0')
	{
		values[i++] = CStringGetTextDatum(last_error);
		values[i++] = TimestampTzGetDatum(last_error_at);
	}
	else
	{
		nulls[i++] = true;
		nulls[i++] = true;
	}
	rtt_count = pg_atomic_read_u64(&wtc_stats->rtt_count);
	if (rtt_count > 0)
		values[i] = Float8GetDatum((double) pg_atomic_read_u64(&wtc_stats->rtt_sum_us) /
								   rtt_count / 1000.0);
	else
		nulls[i] = true;
	i++;
	values[i++] = Int64GetDatum(pg_atomic_read_u32(&wtc_stats->consecutive_failures));
	values[i++] = Int64GetDatum(pg_atomic_read_u64(&wtc_stats->stale_rejected));
	if (pg_atomic_read_u32(&wtc_stats->epoch_known) != 0)
		values[i] = Int32GetDatum((int32) pg_atomic_read_u32(&wtc_stats->epoch));
	else
		nulls[i] = true;
	i++;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
