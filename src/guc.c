/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  wt_cache's settings.
 *
 * Where Valkey is (host, port, socket) is PGC_SIGHUP: every backend and the
 * worker must agree on it, so it comes from the server's configuration.  The
 * timeouts are PGC_SUSET: a superuser may lengthen them for one bulk
 * session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "wt_cache.h"

char	   *wtc_host = NULL;
int			wtc_port = 6379;
char	   *wtc_unix_socket = NULL;
int			wtc_connect_timeout_ms = 1000;
int			wtc_command_timeout_ms = 1000;

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
							   NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.port",
							gettext_noop("TCP port of the Valkey server."),
							NULL,
							&wtc_port,
							6379, 1, 65535,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("wt_cache.unix_socket",
							   gettext_noop("Unix socket path of the Valkey server; when set, used instead of host and port."),
							   NULL,
							   &wtc_unix_socket,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("wt_cache.connect_timeout",
							gettext_noop("Time allowed to connect to Valkey."),
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

	MarkGUCPrefixReserved("wt_cache");
}
