/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  The backend's own connection to Valkey.
 *
 * One connection per backend, opened lazily on first use (so after fork),
 * kept for the backend's life, reopened after any failure or when the
 * settings name another server (or another user or database).  Opening it
 * also logs in (auth.c) and loads the write script (fence.c), so that a
 * commit never has to.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "auth.h"
#include "commit.h"
#include "fence.h"
#include "wt_cache.h"

WtcConn		wtc_backend_conn = {.fd = -1};

/*
 * Where and as whom the settings say to connect: the server, then the
 * user and database (auth.c).
 */
static void
settings_target(char *dst, size_t dstlen)
{
	size_t		len;

	wtc_conn_target(dst, dstlen, wtc_host, wtc_port, wtc_unix_socket);
	len = strlen(dst);
	wtc_auth_identity(dst + len, dstlen - len);
}

/*
 * wtc_conn_open_loaded
 *		Open a connection with the current settings, log in and load the
 *		script.  Returns 0, or -1 with conn->errbuf set.  Never throws.
 *
 * NB: one deadline, wt_cache.connect_timeout, for all of it: connecting,
 * AUTH and SELECT, SCRIPT LOAD.
 */
int
wtc_conn_open_loaded(WtcConn *conn)
{
	int64_t		deadline = wtc_now_us() +
		(int64_t) wtc_connect_timeout_ms * 1000;

	if (wtc_conn_open(conn, wtc_host, wtc_port, wtc_unix_socket,
					  wtc_connect_timeout_ms) != 0)
		return -1;
	settings_target(conn->target, sizeof(conn->target));
	if (wtc_auth_login(conn, deadline) != 0 ||
		wtc_script_load(conn, deadline) != 0)
	{
		char		err[sizeof(conn->errbuf)];

		strlcpy(err, conn->errbuf, sizeof(err));
		wtc_conn_close(conn);
		strlcpy(conn->errbuf, err, sizeof(conn->errbuf));
		return -1;
	}
	return 0;
}

/*
 * wtc_conn_ensure (below)
 *		Make sure the backend's connection is open, to the server the
 *		settings name, and not closed by the server while idle.  Returns 0,
 *		or -1 with wtc_backend_conn.errbuf set.  Never raises an ERROR; but
 *		connecting can take up to wt_cache.connect_timeout (plus name
 *		resolution), so it is only called before the commit record.
 */
static int
ensure(bool check_idle)
{
	WtcConn    *conn = &wtc_backend_conn;
	char		target[sizeof(conn->target)];

	settings_target(target, sizeof(target));
	if (wtc_conn_is_open(conn))
	{
		if (strcmp(target, conn->target) == 0 &&
			(!check_idle || wtc_conn_idle_ok(conn)))
			return 0;
		wtc_conn_close(conn);
	}
	return wtc_conn_open_loaded(conn);
}

int
wtc_conn_ensure(void)
{
	return ensure(true);
}

/*
 * wtc_conn_ensure_unchecked
 *		wtc_conn_ensure without the check (a poll) that the server has not
 *		closed the connection while idle: for an asynchronous push, which
 *		goes to the worker and uses this connection only if the worker's
 *		ring is full.  A connection found closed then fails that push, and
 *		its keys go to the retry path.
 */
int
wtc_conn_ensure_unchecked(void)
{
	return ensure(false);
}
