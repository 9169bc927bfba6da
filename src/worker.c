/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The launcher and the per-database workers.
 *
 * A background worker can connect to one database only, and the extension
 * may be created in several, so a launcher (started from
 * shared_preload_libraries, connected to no database) starts one worker per
 * database that uses wt_cache: every database once at start (the worker
 * leaves at once where the extension is not installed), then each database
 * whose backends claim a handoff slot (CREATE EXTENSION, a handoff).
 *
 * The launcher also checks, every wt_cache.check_interval, that Valkey
 * still holds wt_cache's data and was last written by this server
 * (epoch.c), and tells clean stops from unclean ones: it keeps the file
 * wt_cache.running in the data directory while the server runs and removes
 * it on a clean stop once every handoff is stored.  Finding it at start
 * means handoffs held in shared memory may have been lost, so the workers
 * resync their attached tables.
 *
 * A worker sleeps on its latch, woken by commits that hand it work or queue
 * keys, and by its own timers (the next due retry, the next probe of a
 * Valkey that is down); it never polls in a tight loop.  Each pass: store
 * handed-off keys in wt_cache.retry_queue; reconnect and close the circuit
 * if Valkey answers; send the asynchronous pushes (async.c); run a resync
 * job; drain due keys in batches.  Woken only by asynchronous pushes, it
 * sends them and sleeps again (no transaction); after sending some, it
 * lets the next ones gather for wt_cache.async_push_delay.  An
 * ERROR in a batch is retried entry by entry, and an entry that fails alone
 * is parked as dead: one bad entry never crash-loops the worker.  What it
 * does shows in pg_stat_activity (backend_type "wt_cache worker").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "async.h"
#include "config.h"
#include "epoch.h"
#include "handoff.h"
#include "resync.h"
#include "retry.h"
#include "stats.h"
#include "worker.h"
#include "wt_cache.h"

#define RUNNING_FILE "wt_cache.running"

int			wtc_launcher_naptime_s = 10;

static volatile sig_atomic_t got_sigterm = false;
static int	my_slot = -1;
static WtcConn worker_conn = {.fd = -1};
static WtcConn launcher_conn = {.fd = -1};

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * Describe one of wt_cache's background workers.  Restarted by the
 * postmaster 5 s after a crash; an exit(0) ends it for good.
 */
static void
describe_worker(BackgroundWorker *bgw, const char *function, const char *type)
{
	memset(bgw, 0, sizeof(*bgw));
	bgw->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw->bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw->bgw_restart_time = 5;
	strlcpy(bgw->bgw_library_name, "wt_cache", BGW_MAXLEN);
	strlcpy(bgw->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(bgw->bgw_name, type, BGW_MAXLEN);
	strlcpy(bgw->bgw_type, type, BGW_MAXLEN);
}

/*
 * wtc_worker_init
 *		Register the launcher.  Only when preloaded.
 */
void
wtc_worker_init(void)
{
	BackgroundWorker bgw;

	if (!process_shared_preload_libraries_in_progress)
		return;
	describe_worker(&bgw, "wtc_launcher_main", "wt_cache launcher");
	RegisterBackgroundWorker(&bgw);
}

/* ---------- launcher ---------- */

typedef struct Started
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
} Started;

static Started *started = NULL;
static int	nstarted = 0;

/* Is a worker for this database registered and not stopped? */
static bool
worker_alive(Oid dboid)
{
	for (int i = 0; i < nstarted; i++)
	{
		pid_t		pid;

		if (started[i].dboid != dboid)
			continue;
		if (GetBackgroundWorkerPid(started[i].handle, &pid) != BGWH_STOPPED)
			return true;
		started[i] = started[--nstarted];
		return false;
	}
	return false;
}

static void
start_worker(Oid dboid)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	if (worker_alive(dboid))
		return;
	describe_worker(&bgw, "wtc_worker_main", "wt_cache worker");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "wt_cache worker for database %u", dboid);
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
	{
		ereport(LOG,
				(errmsg("wt_cache: could not start a worker for database %u", dboid),
				 errhint("Raise max_worker_processes.")));
		return;
	}
	started = started ? repalloc(started, sizeof(Started) * (nstarted + 1)) :
		palloc(sizeof(Started));
	started[nstarted].dboid = dboid;
	started[nstarted].handle = handle;
	nstarted++;
}

/* Every database that accepts connections, from the shared catalog */
static List *
all_databases(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext caller = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate)
			continue;
		old = MemoryContextSwitchTo(caller);
		dbs = lappend_oid(dbs, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dbs;
}

static void
launcher_exit(int code, Datum arg)
{
	wtc_handoff_set_launcher(false);
	wtc_conn_close(&launcher_conn);
}

/* Check the epoch; on failure, try again at the next interval */
static void
launcher_check_epoch(void)
{
	if (!wtc_conn_is_open(&launcher_conn) &&
		wtc_conn_open_loaded(&launcher_conn) != 0)
		return;
	if (wtc_epoch_check(&launcher_conn) != 0)
	{
		ereport(DEBUG1,
				(errmsg("wt_cache launcher: could not check the epoch: %s",
						launcher_conn.errbuf)));
		wtc_conn_close(&launcher_conn);
	}
}

void
wtc_launcher_main(Datum arg)
{
	ListCell   *lc;
	List	   *dbs;
	struct stat st;

	pqsignal(SIGTERM, handle_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	wtc_handoff_set_launcher(true);
	before_shmem_exit(launcher_exit, (Datum) 0);

	/* Did the last run stop cleanly? */
	if (stat(RUNNING_FILE, &st) == 0)
	{
		wtc_handoff_set_unclean(true);
		ereport(LOG,
				(errmsg("wt_cache: the server did not stop cleanly; attached tables will be resynced")));
	}
	else
	{
		FILE	   *f = AllocateFile(RUNNING_FILE, "w");

		if (f == NULL)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("wt_cache: could not create file \"%s\": %m", RUNNING_FILE)));
		else
			FreeFile(f);
	}

	/* Look at every database once: its worker leaves if it has no wt_cache */
	dbs = all_databases();
	foreach(lc, dbs)
		start_worker(lfirst_oid(lc));

	while (!got_sigterm)
	{
		Oid			need[64];
		int			n;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			wtc_conn_close(&launcher_conn);	/* may name another server */
		}
		n = wtc_handoff_dbs_without_worker(need, lengthof(need));
		if (n > 0)
		{
			/* A database dropped since it claimed its slot needs none */
			List	   *exist = all_databases();

			for (int i = 0; i < n; i++)
			{
				if (list_member_oid(exist, need[i]))
					start_worker(need[i]);
				else
					wtc_handoff_forget_db(need[i]);
			}
			list_free(exist);
		}
		pgstat_report_activity(STATE_RUNNING, "checking Valkey's epoch");
		launcher_check_epoch();
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(wtc_launcher_naptime_s * 1000L, wtc_check_interval_ms),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/*
	 * A clean stop: the workers store what is handed off before they exit.
	 * Give them a moment, then remove the marker if nothing is left in
	 * shared memory.
	 */
	for (int i = 0; i < 50 && !wtc_handoff_all_empty(); i++)
		pg_usleep(100 * 1000L);
	if (wtc_handoff_all_empty())
		unlink(RUNNING_FILE);
	proc_exit(0);
}

/* ---------- per-database worker ---------- */

static void
worker_exit(int code, Datum arg)
{
	if (my_slot >= 0)
		wtc_handoff_detach_worker(my_slot, DatumGetBool(arg));
	wtc_conn_close(&worker_conn);
}

/* Is wt_cache installed in this database? */
static bool
extension_present(void)
{
	bool		present;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	present = OidIsValid(wtc_config_table_oid(true)) &&
		OidIsValid(get_relname_relid("retry_queue",
									 get_namespace_oid(WTC_SCHEMA, true)));
	CommitTransactionCommand();
	return present;
}

/*
 * Run fn; on an ERROR, clean up the transaction and return false (the
 * error is logged).  The worker carries on.
 */
static bool
guarded(int (*fn) (WtcConn *, bool *), int *result, bool *conn_failed)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		*result = fn(&worker_conn, conn_failed);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("wt_cache worker: %s", edata->message)));
		wtc_stats_error(edata->message);
		if (wtc_current_entry_id != 0)
		{
			wtc_retry_mark_dead(wtc_current_entry_id, edata->message);
			wtc_current_entry_id = 0;
		}
		FreeErrorData(edata);
		/* The connection may be mid-exchange */
		wtc_conn_close(&worker_conn);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * May the worker write to Valkey now?  Connected, the circuit closed, and
 * the epoch checked by the launcher (it may have to be raised first).
 */
static bool
can_write(void)
{
	return wtc_conn_is_open(&worker_conn) && !wtc_circuit_is_open() &&
		wtc_epoch_known();
}

static int	single_limit = 0;

/*
 * Move handed-off keys into the queue table; on an ERROR, log it, clean up
 * and return false (the keys stay in shared memory for the next pass).
 */
static bool
store_handoffs(void)
{
	volatile bool ok = true;

	PG_TRY();
	{
		(void) wtc_retry_store_handoffs(my_slot);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Is Valkey there?  A PING on the open connection, or a new connection
 * (which loads the script).  0 if it answered.
 */
static int
probe(void)
{
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";

	if (wtc_conn_is_open(&worker_conn) &&
		wtc_conn_exchange(&worker_conn, ping, sizeof(ping) - 1, 1,
						  wtc_now_us() + (int64_t) wtc_connect_timeout_ms * 1000,
						  NULL, NULL) == 0)
		return 0;
	wtc_conn_close(&worker_conn);
	return wtc_conn_open_loaded(&worker_conn);
}

/* Resync this database's tables if the epoch moved (epoch.c) */
static int
sync_epoch(WtcConn *conn, bool *conn_failed)
{
	if (wtc_epoch_sync_db(conn) != 0)
		*conn_failed = true;
	return 0;
}

static int
retry_some(WtcConn *conn, bool *conn_failed)
{
	return wtc_retry_batch(conn, single_limit > 0 ? 1 : wtc_retry_batch_size,
						   conn_failed);
}

void
wtc_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	static int	probe_ms = 200;
	static int64 next_probe = 0;
	static int64 next_pass = 0; /* when the next full pass is due */

	pqsignal(SIGTERM, handle_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("wt_cache worker");

	if (!extension_present())
	{
		/* Nothing to do here: free the slot, and do not come back */
		my_slot = wtc_handoff_attach_worker(dboid);
		if (my_slot >= 0)
			wtc_handoff_detach_worker(my_slot, true);
		proc_exit(0);
	}
	my_slot = wtc_handoff_attach_worker(dboid);
	if (my_slot < 0)
	{
		ereport(LOG,
				(errmsg("wt_cache: no handoff slot for database %u", dboid),
				 errhint("Raise wt_cache.max_databases.")));
		proc_exit(0);
	}
	before_shmem_exit(worker_exit, BoolGetDatum(false));

	/*
	 * NB: the worker's statements each touch a few thousand queue entries
	 * or rows by key: the queue in next_attempt_at order, done entries by
	 * id, rows by their key.  Each should walk an index and stop.  Without
	 * fresh statistics of a queue that grew fast, the planner picks bitmap
	 * or sequential scans of the whole queue for each batch instead, which
	 * makes a drain quadratic: the worker's session does without them.
	 */
	SetConfigOption("enable_bitmapscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);

	for (;;)
	{
		volatile int timeout_ms = 10000;
		volatile bool failed = false;
		bool		more = false;
		bool		conn_failed = false;
		bool		handed_off = false;
		bool		heavy;
		int			result = 0;
		int			pushes;

		CHECK_FOR_INTERRUPTS();

		/*
		 * Woken only by pushes, the worker sends them and sleeps again: the
		 * rest of a pass (transactions, queries) runs when it was woken for
		 * it, or when its timer is due.
		 */
		heavy = wtc_handoff_take_kick(my_slot) || wtc_now_us() >= next_pass;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			wtc_conn_close(&worker_conn);	/* settings may name another server */
			heavy = true;
		}
		if (heavy && !extension_present())
		{
			cancel_before_shmem_exit(worker_exit, BoolGetDatum(false));
			wtc_handoff_detach_worker(my_slot, true);
			proc_exit(0);
		}

		/* Make handed-off keys durable first */
		if (heavy)
		{
			pgstat_report_activity(STATE_RUNNING, "storing handed-off keys");
			if (!store_handoffs())
				failed = true;
		}
		if (got_sigterm)
			break;

		/* Reach Valkey: reconnect, and close the circuit if it answers */
		if (!wtc_conn_is_open(&worker_conn) || wtc_circuit_is_open())
		{
			if (wtc_now_us() >= next_probe)
			{
				pgstat_report_activity(STATE_RUNNING, "probing Valkey");
				if (probe() == 0)
				{
					wtc_circuit_close();
					probe_ms = 200;
				}
				else
				{
					wtc_stats_push_failed(worker_conn.errbuf);
					probe_ms = Min(probe_ms * 2, 5000);
				}
				next_probe = wtc_now_us() + (int64) probe_ms * 1000;
			}
		}

		/* Asynchronous pushes: sent, or their keys handed off */
		pushes = wtc_async_send(&worker_conn, my_slot, can_write(),
								&handed_off);
		if (heavy && can_write())
		{
			pgstat_report_activity(STATE_RUNNING, "checking the epoch");
			if (!guarded(sync_epoch, &result, &conn_failed))
				failed = true;
			pgstat_report_activity(STATE_RUNNING, "resyncing");
			if (!conn_failed && !guarded(wtc_resync_job, &result, &conn_failed))
				failed = true;
			else if (result > 0)
				more = true;
			if (!conn_failed && wtc_conn_is_open(&worker_conn))
			{
				/* Drain for up to half a second, then look at handoffs again */
				int64		until = wtc_now_us() + 500 * 1000;
				int			limit;

				pgstat_report_activity(STATE_RUNNING, "draining the retry queue");
				do
				{
					limit = single_limit > 0 ? 1 : wtc_retry_batch_size;
					result = 0;
					if (!guarded(retry_some, &result, &conn_failed))
					{
						/* Find the bad entry: go one by one for a while */
						single_limit = 100;
						more = true;
						break;
					}
					if (single_limit > 0)
						single_limit--;
				} while (!conn_failed && result >= limit &&
						 wtc_now_us() < until && !got_sigterm);
				if (result >= limit)
					more = true;
			}
			if (conn_failed)
			{
				wtc_stats_push_failed(worker_conn.errbuf);
				wtc_conn_close(&worker_conn);
				more = false;
			}
		}

		if (got_sigterm)
			break;
		if (heavy)
		{
			if (failed)
				timeout_ms = 1000;	/* never spin on a failure */
			else if (more)
				timeout_ms = 0;
			else if (!wtc_epoch_known())
				timeout_ms = 1000;	/* woken when the launcher knows it */
			else if (!wtc_conn_is_open(&worker_conn) || wtc_circuit_is_open())
			{
				/* Until the next probe is due, not a whole interval from now */
				timeout_ms = (int) Max(1, (next_probe - wtc_now_us()) / 1000);
			}
			else
			{
				pgstat_report_activity(STATE_RUNNING, "waiting for work");
				PG_TRY();
				{
					/* NB: at least a little: never spin on an entry that looks due */
					timeout_ms = Max(wtc_retry_next_due_ms(10000), 20);
				}
				PG_CATCH();
				{
					EmitErrorReport();
					FlushErrorState();
					AbortCurrentTransaction();
					timeout_ms = 1000;
				}
				PG_END_TRY();
			}
			next_pass = wtc_now_us() + (int64) timeout_ms * 1000;
		}
		if (handed_off)
			next_pass = 0;		/* store them at once */
		pgstat_report_activity(STATE_IDLE, NULL);

		/*
		 * Sleep until the next pass is due.  After sending pushes, only a
		 * little, without being woken by new ones, so that the commits of
		 * that while go out together; with none waiting, until a commit
		 * hands one over (wtc_handoff_push_sleep asks for that).
		 */
		timeout_ms = (int) Max(0, (next_pass - wtc_now_us() + 999) / 1000);
		if (pushes > 0)
			timeout_ms = Min(timeout_ms, wtc_async_push_delay_ms);
		else if (timeout_ms > 0 && !wtc_handoff_push_sleep(my_slot))
			timeout_ms = 0;
		if (timeout_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}

	/* Stopping: send what pushes are waiting, store what is handed off */
	for (int i = 0; i < 100; i++)
	{
		bool		handed_off = false;

		if (wtc_async_send(&worker_conn, my_slot, can_write(),
						   &handed_off) == 0)
			break;
	}
	(void) store_handoffs();
	proc_exit(0);
}
