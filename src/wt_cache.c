/*-------------------------------------------------------------------------
 *
 * wt_cache.c
 *	  Entry point: _PG_init calls each module's init, nothing more.
 *
 * wt_cache keeps a Valkey (or Redis) cache in step with chosen tables: a
 * row trigger (capture.c) records each change; after the commit record the
 * transaction's changes go to Valkey in one round trip (commit.c); what
 * could not be written then goes through shared memory (handoff.c) or the
 * logged retry queue (queue.c) to a background worker (worker.c, retry.c,
 * resync.c), which writes it later.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "commit.h"
#include "handoff.h"
#include "stats.h"
#include "worker.h"
#include "wt_cache.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	wtc_guc_init();
	wtc_stats_init();
	wtc_handoff_init();
	wtc_config_init();
	wtc_commit_init();
	wtc_worker_init();
}
