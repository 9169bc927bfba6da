/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Shared-memory counters, the circuit breaker, the last error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_STATS_H
#define WTC_STATS_H

#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

typedef struct WtcStats
{
	pg_atomic_uint64 xacts_pushed;	/* commits whose keys all landed */
	pg_atomic_uint64 keys_written;	/* keys written at commit */
	pg_atomic_uint64 push_failures; /* commits whose push failed */
	pg_atomic_uint64 keys_handed_off;	/* keys given to the worker at commit */
	pg_atomic_uint64 keys_queued;	/* keys queued inside a transaction */
	pg_atomic_uint64 keys_lost;		/* keys neither handed off nor queued */
	pg_atomic_uint64 retry_keys_written;	/* keys the worker wrote */
	pg_atomic_uint64 retry_failures;	/* keys the worker failed to write */
	pg_atomic_uint64 keys_dead;		/* keys parked as dead */
	pg_atomic_uint64 resyncs;		/* tables resynced by the worker */
	pg_atomic_uint64 stale_rejected;	/* writes refused: Valkey had newer */
	pg_atomic_uint64 rtt_sum_us;	/* commit round trips, for the average */
	pg_atomic_uint64 rtt_count;
	pg_atomic_uint32 consecutive_failures;
	pg_atomic_uint32 circuit_open;
	pg_atomic_uint32 epoch;		/* of versions written now (epoch.c) */
	pg_atomic_uint32 epoch_known;	/* 0 until the launcher checked it */
	slock_t		mutex;			/* protects the fields below */
	TimestampTz circuit_changed_at;
	TimestampTz last_error_at;
	char		last_error[256];
} WtcStats;

/*
 * Progress of a resync or load, one slot per backend (by BackendId), set by
 * the backend or worker running it; shown by wt_cache.resync_progress.
 */
typedef struct WtcProgress
{
	int			pid;			/* 0: slot not in use */
	Oid			dboid;
	Oid			relid;
	bool		load;			/* a load (attach): no keys removed */
	char		phase[32];
	int64		keys_removed;
	int64		rows_written;
	TimestampTz started_at;
} WtcProgress;

extern WtcStats *wtc_stats;
extern int	wtc_circuit_failures;

extern void wtc_stats_init(void);
extern void wtc_stats_error(const char *err);
extern void wtc_stats_push_failed(const char *err);
extern void wtc_stats_push_ok(void);
extern bool wtc_circuit_is_open(void);
extern void wtc_circuit_close(void);
extern void wtc_progress_begin(Oid relid, bool load);
extern void wtc_progress_update(const char *phase, int64 keys_removed,
								int64 rows_written);
extern void wtc_progress_end(void);

static inline void
wtc_count(pg_atomic_uint64 *counter, uint64 n)
{
	if (wtc_stats != NULL && n > 0)
		pg_atomic_fetch_add_u64(counter, n);
}

#endif							/* WTC_STATS_H */
