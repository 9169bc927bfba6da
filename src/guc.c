/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  wt_cache's settings.
 *
 * Where Valkey is (host, port, socket) is PGC_SIGHUP: every backend and the
 * worker must agree on it, so it comes from the server's configuration.  The
 * timeouts are PGC_SUSET: a superuser may lengthen them for one bulk
 * session.  Who wt_cache logs in as (user, password file, database) is
 * PGC_SIGHUP too; there is no password setting (see auth.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "async.h"
#include "auth.h"
#include "changeset.h"
#include "commit.h"
#include "epoch.h"
#include "fence.h"
#include "handoff.h"
#include "retry.h"
#include "stats.h"
#include "worker.h"
#include "wt_cache.h"

char	   *wtc_host = NULL;
int			wtc_port = 6379;
char	   *wtc_unix_socket = NULL;
char	   *wtc_username = NULL;
char	   *wtc_password_file = NULL;
int			wtc_database = 0;
int			wtc_connect_timeout_ms = 1000;
int			wtc_command_timeout_ms = 1000;
int			wtc_reply_spin_us = 200;

/*
 * Assign hooks of the settings that say where and as whom the backend's
 * connection goes (conn.c compares them with the open connection's)
 */
static void
target_assign_string(const char *newval, void *extra)
{
	wtc_conn_settings_changed();
}

static void
target_assign_int(int newval, void *extra)
{
	wtc_conn_settings_changed();
}

/*
 * wtc_guc_init
 *		Define the settings.  Called once from _PG_init.
 */
void
wtc_guc_init(void)
{
	DefineCustomStringVariable("wt_cache.host",
							   gettext_noop("Host name or address of the Valkey server."),
							   NULL,
							   &wtc_host,
							   "127.0.0.1",
							   PGC_SIGHUP,
							   0,
							   NULL, target_assign_string, NULL);

	DefineCustomIntVariable("wt_cache.port",
							gettext_noop("TCP port of the Valkey server."),
							NULL,
							&wtc_port,
							6379, 1, 65535,
							PGC_SIGHUP,
							0,
							NULL, target_assign_int, NULL);

	DefineCustomStringVariable("wt_cache.unix_socket",
							   gettext_noop("Unix socket of the Valkey server: a path, used instead of host and port; \"auto\"; or empty."),
							   gettext_noop("\"auto\": connect by host and port, then move to the server's own unix socket if it can be opened and leads to the same server. Empty: host and port only."),
							   &wtc_unix_socket,
							   "auto",
							   PGC_SIGHUP,
							   0,
							   NULL, target_assign_string, NULL);

	DefineCustomStringVariable("wt_cache.username",
							   gettext_noop("Valkey ACL user wt_cache logs in as; empty for the default user."),
							   gettext_noop("Needs wt_cache.password_file."),
							   &wtc_username,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, target_assign_string, NULL);

	DefineCustomStringVariable("wt_cache.password_file",
							   gettext_noop("File whose first line is the password for Valkey; empty for no AUTH."),
							   gettext_noop("Read at every connect.  It must be a regular file owned by the database system user, without group or other permissions.  A relative path is relative to the data directory."),
							   &wtc_password_file,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, target_assign_string, NULL);

	DefineCustomIntVariable("wt_cache.database",
							gettext_noop("Valkey database number wt_cache writes to (SELECT)."),
							NULL,
							&wtc_database,
							0, 0, 65535,
							PGC_SIGHUP,
							0,
							NULL, target_assign_int, NULL);

	DefineCustomIntVariable("wt_cache.connect_timeout",
							gettext_noop("Time allowed to connect to Valkey, log in and load the script."),
							NULL,
							&wtc_connect_timeout_ms,
							1000, 1, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.command_timeout",
							gettext_noop("Time a commit waits for Valkey to acknowledge its changes."),
							gettext_noop("One deadline for the whole exchange, not per read."),
							&wtc_command_timeout_ms,
							1000, 1, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.reply_spin",
							gettext_noop("Microseconds a commit polls for Valkey's reply, yielding the CPU, before it sleeps."),
							gettext_noop("0 sleeps at once. The command timeout still applies."),
							&wtc_reply_spin_us,
							200, 0, 10000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.max_changes",
							gettext_noop("Changes a transaction keeps in memory before it queues its keys for the worker instead."),
							gettext_noop("Past this, COMMIT does not wait for Valkey: the worker writes the keys."),
							&wtc_max_changes,
							100000, 1, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.keys_per_call",
							gettext_noop("Keys one script call writes atomically."),
							NULL,
							&wtc_keys_per_call,
							1000, 1, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.circuit_failures",
							gettext_noop("Failed pushes in a row that open the circuit breaker."),
							gettext_noop("While the circuit is open, commits queue their keys instead of contacting Valkey."),
							&wtc_circuit_failures,
							3, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.retry_backoff_base",
							gettext_noop("First delay before retrying a key that Valkey refused for now."),
							NULL,
							&wtc_retry_base_ms,
							100, 1, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.retry_backoff_max",
							gettext_noop("Longest delay between retries of a key."),
							NULL,
							&wtc_retry_max_ms,
							60000, 1, 86400000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.retry_batch_size",
							gettext_noop("Queue entries the worker retries in one round trip."),
							NULL,
							&wtc_retry_batch_size,
							5000, 1, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.log_interval",
							gettext_noop("Least time between two log lines about failed pushes of one backend."),
							NULL,
							&wtc_log_interval_ms,
							10000, 0, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("wt_cache.async_push",
							 gettext_noop("COMMIT hands its changes to the worker and does not wait for Valkey."),
							 gettext_noop("Trades read-your-writes for latency and work: the worker sends the changes of many commits at a time, and keys that failed go to the retry path."),
							 &wtc_async_push,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.async_push_delay",
							gettext_noop("After sending asynchronous pushes, how long the worker lets the next ones gather."),
							gettext_noop("Longer: fewer, larger writes to Valkey under load, and changes that reach the cache later.  0: send at once."),
							&wtc_async_push_delay_ms,
							3, 0, 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.check_interval",
							gettext_noop("How often the launcher checks that Valkey still holds wt_cache's data."),
							gettext_noop("A Valkey found empty, flushed, rolled back or written by another server raises the epoch and resyncs the attached tables."),
							&wtc_check_interval_ms,
							1000, 100, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.launcher_naptime",
							gettext_noop("How often the launcher looks for databases that need a worker."),
							NULL,
							&wtc_launcher_naptime_s,
							10, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.tombstone_ttl",
							gettext_noop("How long the version of a deleted key is kept, so that a late older write cannot bring the row back."),
							NULL,
							&wtc_tombstone_ms,
							60000, 1000, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* Test-only hooks: they exist to force timings in tests */
	DefineCustomIntVariable("wt_cache.test_push_delay",
							gettext_noop("Test only: delay each commit's write to Valkey after its commit record."),
							NULL,
							&wtc_test_push_delay_ms,
							0, 0, 600000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("wt_cache.test_fencing",
							 gettext_noop("Test only: turning it off makes writes unversioned, so that an older write can overwrite a newer one."),
							 NULL,
							 &wtc_test_fencing,
							 true,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	/* Shared memory sizes: only at server start */
	DefineCustomIntVariable("wt_cache.max_databases",
							gettext_noop("Databases that can use wt_cache at once (one handoff ring each)."),
							NULL,
							&wtc_max_databases,
							8, 1, 1000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.handoff_ring_size",
							gettext_noop("Shared memory per database for keys handed from commits to the worker."),
							gettext_noop("When it is full, the table is resynced instead."),
							&wtc_handoff_kb,
							1024, 64, 1024 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("wt_cache");
}
