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
 * With wt_cache.unix_socket = 'auto' (the default), a connection opened by
 * host and port asks the server for its unix socket and moves to it when
 * the socket can be opened and leads to the same server: on the same host
 * each commit then costs less CPU than through loopback TCP.  Anything
 * short of that (CONFIG refused, no socket, no access, another server
 * behind the path) keeps the TCP connection, silently.
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
 * current_target() of the settings as they are, computed once per change
 * of the settings it depends on (their assign hooks call
 * wtc_conn_settings_changed) rather than at every commit.
 */
static char settings_now[sizeof(wtc_backend_conn.target)];
static bool settings_now_valid = false;

/* wt_cache.unix_socket = 'auto': find the socket through the server */
static bool
socket_auto(void)
{
	return wtc_unix_socket != NULL && pg_strcasecmp(wtc_unix_socket, "auto") == 0;
}

/* The socket path the settings name, or NULL for host and port */
static const char *
socket_path(void)
{
	if (wtc_unix_socket == NULL || wtc_unix_socket[0] == '\0' || socket_auto())
		return NULL;
	return wtc_unix_socket;
}

/*
 * Where and as whom the settings say to connect: the server, then the
 * user and database (auth.c).  The same string as long as the settings
 * stay as they are (see settings_now).
 */
static const char *
current_target(void)
{
	size_t		len;

	if (settings_now_valid)
		return settings_now;
	wtc_conn_target(settings_now, sizeof(settings_now), wtc_host, wtc_port,
					socket_path());
	if (socket_auto())
		strlcat(settings_now, ":auto", sizeof(settings_now));
	len = strlen(settings_now);
	wtc_auth_identity(settings_now + len, sizeof(settings_now) - len);
	settings_now_valid = true;
	return settings_now;
}

/* What the server says of itself: its unix socket, run id and pid */
typedef struct ServerSelf
{
	char		socket[MAXPGPATH];
	char		run_id[41];
	long		pid;
} ServerSelf;

/* CONFIG GET unixsocket: *2 of the name and the path (RESP2) */
static void
config_element(void *arg, long index, const RespReply *element)
{
	ServerSelf *self = (ServerSelf *) arg;

	if (index == 1 && element->type == '$' && !element->is_nil &&
		element->len > 0 && element->len < sizeof(self->socket) &&
		element->str[0] == '/' && memchr(element->str, '\0', element->len) == NULL)
	{
		memcpy(self->socket, element->str, element->len);
		self->socket[element->len] = '\0';
	}
}

/* Are all of p[0..len) among the bytes of set? */
static bool
all_of(const char *p, size_t len, const char *set)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == '\0' || strchr(set, p[i]) == NULL)
			return false;
	return true;
}

/* INFO server: run_id (40 hex digits) and process_id */
static void
keep_info(ServerSelf *self, const RespReply *reply)
{
	const char *v;
	size_t		len;

	if (reply->type != '$' || reply->is_nil)
		return;
	v = resp_info_field(reply->str, reply->len, "run_id", &len);
	if (v != NULL && len == 40 && all_of(v, len, "0123456789abcdef"))
	{
		memcpy(self->run_id, v, 40);
		self->run_id[40] = '\0';
	}
	v = resp_info_field(reply->str, reply->len, "process_id", &len);
	if (v != NULL && len > 0 && len < 10 && all_of(v, len, "0123456789"))
	{
		long		pid = 0;

		for (size_t i = 0; i < len; i++)
			pid = pid * 10 + (v[i] - '0');
		self->pid = pid;
	}
}

static void
self_reply(void *arg, int index, const RespReply *reply, const char *buf,
		   size_t len)
{
	ServerSelf *self = (ServerSelf *) arg;
	RespReply	whole;

	if (reply->type == '*' && reply->integer == 2 && reply->err == NULL)
		resp_parse(reply->raw, reply->rawlen, &whole, config_element, self);
	else
		keep_info(self, reply);
}

#define INFO_SERVER "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"

/*
 * move_to_socket
 *		For 'auto': if the server that conn reached by host and port has a
 *		unix socket that this process can open, and the process at the
 *		other end of it is that server (its pid, before anything is sent,
 *		so that no password goes to another process; then its run id),
 *		log in there and put that connection in conn's place.  Returns -1
 *		only if conn itself failed (conn->errbuf set); otherwise 0, on
 *		whichever connection.
 */
static int
move_to_socket(WtcConn *conn, int64_t deadline)
{
	static const char ask[] =
		"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nunixsocket\r\n" INFO_SERVER;
	ServerSelf	there;
	ServerSelf	here;
	WtcConn		sock = {.fd = -1};
	int64_t		left_ms;
	bool		same;

	memset(&there, 0, sizeof(there));
	if (wtc_conn_exchange(conn, ask, sizeof(ask) - 1, 2, deadline,
						  self_reply, &there) != 0)
		return -1;
	if (there.socket[0] == '\0' || there.run_id[0] == '\0' || there.pid <= 0)
		return 0;

	left_ms = (deadline - wtc_now_us()) / 1000;
	if (left_ms < 1)
		return 0;
	memset(&here, 0, sizeof(here));
	same = wtc_conn_open(&sock, NULL, 0, there.socket, (int) left_ms) == 0 &&
		wtc_conn_peer_pid(&sock) == there.pid &&
		wtc_auth_login(&sock, deadline) == 0 &&
		wtc_conn_exchange(&sock, INFO_SERVER, sizeof(INFO_SERVER) - 1, 1,
						  deadline, self_reply, &here) == 0 &&
		strcmp(here.run_id, there.run_id) == 0;
	if (same)
		wtc_conn_adopt(conn, &sock);
	else
		wtc_conn_free(&sock);
	return 0;
}

/*
 * wtc_conn_open_loaded
 *		Open a connection with the current settings, log in and load the
 *		script.  Returns 0, or -1 with conn->errbuf set.  Never throws.
 *
 * NB: one deadline, wt_cache.connect_timeout, for all of it: connecting,
 * AUTH and SELECT, finding the unix socket ('auto'), SCRIPT LOAD.
 */
int
wtc_conn_open_loaded(WtcConn *conn)
{
	int64_t		deadline = wtc_now_us() +
		(int64_t) wtc_connect_timeout_ms * 1000;

	if (wtc_conn_open(conn, wtc_host, wtc_port, socket_path(),
					  wtc_connect_timeout_ms) != 0)
		return -1;
	if (wtc_auth_login(conn, deadline) != 0 ||
		(socket_auto() && move_to_socket(conn, deadline) != 0) ||
		wtc_script_load(conn, deadline) != 0)
	{
		char		err[sizeof(conn->errbuf)];

		strlcpy(err, conn->errbuf, sizeof(err));
		wtc_conn_close(conn);
		strlcpy(conn->errbuf, err, sizeof(err));
		return -1;
	}
	strlcpy(conn->target, current_target(), sizeof(conn->target));
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

	if (wtc_conn_is_open(conn))
	{
		if (strcmp(current_target(), conn->target) == 0 &&
			(!check_idle || wtc_conn_idle_ok(conn)))
			return 0;
		wtc_conn_close(conn);
	}
	return wtc_conn_open_loaded(conn);
}

/*
 * wtc_conn_settings_changed
 *		A setting that names the server, user or database may have changed
 *		(an assign hook, guc.c): the next ensure() computes the target anew.
 */
void
wtc_conn_settings_changed(void)
{
	settings_now_valid = false;
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
