/*-------------------------------------------------------------------------
 *
 * valkey.c
 *	  One connection to Valkey.
 *
 * hiredis opens the connection (name resolution, TCP or unix socket, the
 * connect timeout).  After that the socket is ours: requests are prebuilt
 * RESP bytes, written without blocking, and replies are read into a buffer
 * and parsed in place by resp.c, all against one absolute deadline for the
 * whole exchange.  A per-read timeout would not do: a server that drips one
 * byte at a time would reset it forever.
 *
 * NB: wtc_conn_exchange runs in the XACT_EVENT_COMMIT callback, where an
 * ERROR becomes a PANIC.  Nothing in this file may call ereport, palloc or
 * anything else that can throw; failures are returned and described in
 * conn->errbuf.  Memory for replies comes from malloc and a failed malloc is
 * an ordinary error.
 *
 *-------------------------------------------------------------------------
 */
#include "valkey.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define RBUF_INITIAL (16 * 1024)
#define RBUF_KEEP (1024 * 1024)

int64_t
wtc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * wtc_conn_target
 *		A string naming where a connection goes, to tell whether the
 *		settings changed since it was opened.
 */
void
wtc_conn_target(char *dst, size_t dstlen, const char *host, int port,
				const char *unix_socket)
{
	if (unix_socket != NULL && unix_socket[0] != '\0')
		snprintf(dst, dstlen, "unix:%s", unix_socket);
	else
		snprintf(dst, dstlen, "tcp:%s:%d", host ? host : "", port);
}

int
wtc_conn_is_open(const WtcConn *conn)
{
	return conn->ctx != NULL;
}

/*
 * wtc_conn_close
 *		Close the socket and forget any partial reply.  Safe to call on a
 *		closed connection.  Only free() and close() happen here.
 */
void
wtc_conn_close(WtcConn *conn)
{
	if (conn->ctx != NULL)
		redisFree((redisContext *) conn->ctx);
	conn->ctx = NULL;
	conn->fd = -1;
	conn->rlen = 0;
	conn->target[0] = '\0';
}

/*
 * wtc_conn_free
 *		wtc_conn_close, and free the reply buffer too: for a connection
 *		that is not kept (wtc_conn_close keeps the buffer for reuse).
 */
void
wtc_conn_free(WtcConn *conn)
{
	wtc_conn_close(conn);
	free(conn->rbuf);
	conn->rbuf = NULL;
	conn->rcap = 0;
}

/*
 * wtc_conn_adopt
 *		Close conn's connection and give it from's instead, with no reply
 *		left unread; conn keeps its own reply buffer and from is freed.
 */
void
wtc_conn_adopt(WtcConn *conn, WtcConn *from)
{
	wtc_conn_close(conn);
	conn->ctx = from->ctx;
	conn->fd = from->fd;
	from->ctx = NULL;
	from->fd = -1;
	wtc_conn_free(from);
}

/*
 * wtc_conn_open
 *		Connect within timeout_ms.  Returns 0, or -1 with conn->errbuf set.
 *		Name resolution has no deadline of its own, which is why callers
 *		only connect before the commit record, never after it.
 */
int
wtc_conn_open(WtcConn *conn, const char *host, int port,
			  const char *unix_socket, int timeout_ms)
{
	struct timeval tv;
	redisContext *c;
	int			flags;

	wtc_conn_close(conn);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (unix_socket != NULL && unix_socket[0] != '\0')
		c = redisConnectUnixWithTimeout(unix_socket, tv);
	else
		c = redisConnectWithTimeout(host, port, tv);
	if (c == NULL)
	{
		snprintf(conn->errbuf, sizeof(conn->errbuf), "out of memory");
		return -1;
	}
	if (c->err)
	{
		snprintf(conn->errbuf, sizeof(conn->errbuf), "%s", c->errstr);
		redisFree(c);
		return -1;
	}
	flags = fcntl(c->fd, F_GETFL, 0);
	if (flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0)
	{
		snprintf(conn->errbuf, sizeof(conn->errbuf),
				 "could not make socket non-blocking: %s", strerror(errno));
		redisFree(c);
		return -1;
	}
	if (conn->rbuf == NULL)
	{
		conn->rbuf = malloc(RBUF_INITIAL);
		if (conn->rbuf == NULL)
		{
			snprintf(conn->errbuf, sizeof(conn->errbuf), "out of memory");
			redisFree(c);
			return -1;
		}
		conn->rcap = RBUF_INITIAL;
	}
	conn->ctx = c;
	conn->fd = c->fd;
	conn->rlen = 0;
	wtc_conn_target(conn->target, sizeof(conn->target), host, port,
					unix_socket);
	return 0;
}

/*
 * wtc_conn_peer_pid
 *		The pid of the process at the other end of a unix socket
 *		connection (SO_PEERCRED), or -1 if it cannot be told.
 */
long
wtc_conn_peer_pid(const WtcConn *conn)
{
#ifdef SO_PEERCRED
	struct ucred cred;
	socklen_t	len = sizeof(cred);

	if (conn->ctx != NULL &&
		getsockopt(conn->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
		len == sizeof(cred))
		return (long) cred.pid;
#endif
	return -1;
}

/*
 * wtc_conn_idle_ok
 *		Between exchanges the server has nothing to say.  If the socket is
 *		readable, the server closed it (idle timeout, restart) or sent
 *		something we did not ask for: either way the connection is no good.
 *		One poll() with no wait; returns 1 if the connection looks usable.
 */
int
wtc_conn_idle_ok(WtcConn *conn)
{
	struct pollfd pfd;

	if (conn->ctx == NULL)
		return 0;
	pfd.fd = conn->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 0)
		return 1;
	snprintf(conn->errbuf, sizeof(conn->errbuf),
			 "connection closed by server");
	return 0;
}

/*
 * wtc_conn_send
 *		Send out[0..outlen) before deadline_us, and read nothing: the
 *		replies wait in the socket for a later wtc_conn_exchange with no
 *		output (a push of one call, read after the row locks are released).
 *		Returns 0, or -1 with conn->errbuf set
 *		(the caller must close the connection).
 */
int
wtc_conn_send(WtcConn *conn, const char *out, size_t outlen,
			  int64_t deadline_us)
{
	size_t		sent = 0;

	if (conn->ctx == NULL)
	{
		snprintf(conn->errbuf, sizeof(conn->errbuf), "not connected");
		return -1;
	}
	while (sent < outlen)
	{
		ssize_t		n = send(conn->fd, out + sent, outlen - sent, MSG_NOSIGNAL);
		struct pollfd pfd;
		int64_t		now;

		if (n > 0)
		{
			sent += (size_t) n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		{
			snprintf(conn->errbuf, sizeof(conn->errbuf),
					 "could not send to server: %s",
					 n < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		now = wtc_now_us();
		if (now >= deadline_us)
		{
			snprintf(conn->errbuf, sizeof(conn->errbuf),
					 "timed out after sending %zu of %zu bytes", sent, outlen);
			return -1;
		}
		pfd.fd = conn->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int) ((deadline_us - now + 999) / 1000)) < 0 &&
			errno != EINTR)
		{
			snprintf(conn->errbuf, sizeof(conn->errbuf), "poll failed: %s",
					 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * wtc_conn_exchange
 *		Send out[0..outlen) and read nreplies replies, all before deadline_us
 *		(on the wtc_now_us clock).  visit is called for each reply as it is
 *		parsed.  Returns 0 once all replies are read (some may be error
 *		replies: the visitor sees them), or -1 on timeout, I/O error or
 *		protocol error, with conn->errbuf set.  After -1 the connection is in
 *		an unknown state and the caller must close it.
 *
 *		With conn->spin_us set, the first spin_us of the exchange wait by
 *		sched_yield() and another read instead of poll(): a reply that comes
 *		back within that time is found without this process going to sleep
 *		and being woken, which on a virtual machine costs more than the
 *		round trip itself (an idle virtual CPU halts, and waking it takes an
 *		interrupt through the hypervisor).  Yielding gives the CPU to any
 *		process that wants it, Valkey among them, so the spin takes only
 *		time the CPU would otherwise spend idle.  The deadline still holds.
 */
int
wtc_conn_exchange(WtcConn *conn, const char *out, size_t outlen,
				  int nreplies, int64_t deadline_us,
				  WtcReplyVisitor visit, void *arg)
{
	size_t		sent = 0;
	size_t		rpos = 0;
	int			got = 0;
	int64_t		spin_until = conn->spin_us > 0 ? wtc_now_us() + conn->spin_us : 0;

	/*
	 * Right after sending a request its reply cannot be there yet: wait for
	 * it (poll) before the first read, which saves a read that would find
	 * nothing.  Replies of a request sent earlier may be there: read first.
	 */
	int			readable = (outlen == 0);

	if (conn->ctx == NULL)
	{
		snprintf(conn->errbuf, sizeof(conn->errbuf), "not connected");
		return -1;
	}
	conn->rlen = 0;

	while (sent < outlen || got < nreplies)
	{
		struct pollfd pfd;
		int64_t		now;
		int			timeout_ms;
		int			rc;

		/* Write as much as the socket takes, without waiting */
		while (sent < outlen)
		{
			ssize_t		n = send(conn->fd, out + sent, outlen - sent,
								 MSG_NOSIGNAL);

			if (n > 0)
				sent += (size_t) n;
			else if (n < 0 && errno == EINTR)
				continue;
			else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			else
			{
				snprintf(conn->errbuf, sizeof(conn->errbuf),
						 "could not send to server: %s",
						 n < 0 ? strerror(errno) : "no progress");
				return -1;
			}
		}

		/*
		 * Read what has arrived and parse every complete reply.  A read that
		 * does not fill the room it was given has emptied the socket: parse
		 * then, rather than pay another read to learn that nothing is left.
		 */
		while (readable)
		{
			ssize_t		n;
			size_t		room;

			if (conn->rcap - conn->rlen < 4096)
			{
				/* Keep the unparsed tail only, then grow if still short */
				if (rpos > 0)
				{
					memmove(conn->rbuf, conn->rbuf + rpos, conn->rlen - rpos);
					conn->rlen -= rpos;
					rpos = 0;
				}
				if (conn->rcap - conn->rlen < 4096)
				{
					size_t		ncap = conn->rcap * 2;
					char	   *nbuf = realloc(conn->rbuf, ncap);

					if (nbuf == NULL)
					{
						snprintf(conn->errbuf, sizeof(conn->errbuf),
								 "out of memory reading reply");
						return -1;
					}
					conn->rbuf = nbuf;
					conn->rcap = ncap;
				}
			}
			room = conn->rcap - conn->rlen;
			n = recv(conn->fd, conn->rbuf + conn->rlen, room, 0);
			if (n > 0)
			{
				conn->rlen += (size_t) n;
				if ((size_t) n < room)
					break;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			snprintf(conn->errbuf, sizeof(conn->errbuf), "%s",
					 n == 0 ? "connection closed by server" : strerror(errno));
			return -1;
		}
		while (got < nreplies && rpos < conn->rlen)
		{
			RespReply	reply;
			long		used;

			used = resp_parse(conn->rbuf + rpos, conn->rlen - rpos, &reply,
							  NULL, NULL);
			if (used == RESP_INCOMPLETE)
				break;
			if (used == RESP_PROTOCOL_ERROR)
			{
				snprintf(conn->errbuf, sizeof(conn->errbuf),
						 "protocol error in reply");
				return -1;
			}
			if (visit)
				visit(arg, got, &reply, conn->rbuf + rpos, (size_t) used);
			rpos += (size_t) used;
			got++;
			if (conn->progress_us > 0)
			{
				int64_t		later = wtc_now_us() + conn->progress_us;

				if (later > deadline_us)
					deadline_us = later;
			}
		}
		if (got == nreplies && rpos < conn->rlen)
		{
			snprintf(conn->errbuf, sizeof(conn->errbuf),
					 "unexpected bytes after reply");
			return -1;
		}
		if (sent == outlen && got == nreplies)
			break;

		/* Wait for the socket, but never past the deadline */
		now = wtc_now_us();
		if (now >= deadline_us)
		{
			snprintf(conn->errbuf, sizeof(conn->errbuf),
					 "timed out after receiving %d of %d replies",
					 got, nreplies);
			return -1;
		}
		if (sent == outlen && now < spin_until)
		{
			/* NB: only with everything sent: a full socket needs poll() */
			sched_yield();
			readable = 1;
			continue;
		}
		timeout_ms = (int) ((deadline_us - now + 999) / 1000);
		pfd.fd = conn->fd;
		pfd.events = POLLIN | (sent < outlen ? POLLOUT : 0);
		pfd.revents = 0;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno != EINTR)
		{
			snprintf(conn->errbuf, sizeof(conn->errbuf), "poll failed: %s",
					 strerror(errno));
			return -1;
		}
		readable = 1;
	}
	conn->rlen = 0;
	/* Give back the room a large reply took; keep the usual size */
	if (conn->rcap > RBUF_KEEP)
	{
		char	   *nbuf = realloc(conn->rbuf, RBUF_INITIAL);

		if (nbuf != NULL)
		{
			conn->rbuf = nbuf;
			conn->rcap = RBUF_INITIAL;
		}
	}
	return 0;
}
