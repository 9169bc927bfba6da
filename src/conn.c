/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  The backend's own connection to Valkey.
 *
 * One connection per backend, opened lazily on first use (so after fork),
 * kept for the backend's life, reopened after any failure or when the
 * settings name another server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "wt_cache.h"

WtcConn		wtc_backend_conn = {.fd = -1};

/*
 * wtc_conn_ensure
 *		Make sure the backend's connection is open, to the server the
 *		settings name, and not closed by the server while idle.  Returns 0,
 *		or -1 with wtc_backend_conn.errbuf set.  Never raises an ERROR; but
 *		connecting can take up to wt_cache.connect_timeout (plus name
 *		resolution), so it is only called before the commit record.
 */
int
wtc_conn_ensure(void)
{
	WtcConn    *conn = &wtc_backend_conn;
	char		target[sizeof(conn->target)];

	wtc_conn_target(target, sizeof(target), wtc_host, wtc_port,
					wtc_unix_socket);
	if (wtc_conn_is_open(conn))
	{
		if (strcmp(target, conn->target) == 0 && wtc_conn_idle_ok(conn))
			return 0;
		wtc_conn_close(conn);
	}
	return wtc_conn_open(conn, wtc_host, wtc_port, wtc_unix_socket,
						 wtc_connect_timeout_ms);
}
