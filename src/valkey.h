/*-------------------------------------------------------------------------
 *
 * valkey.h
 *	  One connection to Valkey: connect, and a request/reply exchange bounded
 *	  by one absolute deadline.
 *
 * Nothing here raises an ERROR or allocates from a memory context: the
 * exchange runs in the XACT_EVENT_COMMIT callback.  Errors are returned as
 * text in the connection's errbuf.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_VALKEY_H
#define WTC_VALKEY_H

#include <stddef.h>
#include <stdint.h>

#include "resp.h"

typedef struct WtcConn
{
	void	   *ctx;			/* hiredis redisContext, owns the socket */
	int			fd;				/* its socket, non-blocking once open */
	char	   *rbuf;			/* reply bytes received, malloc'd */
	size_t		rcap;
	size_t		rlen;
	char		errbuf[256];	/* last error, for messages */
	char		script_sha[41];	/* SHA1 of the loaded write script (fence.c) */
	/* What the connection was opened with, to notice changed settings */
	char		target[300];
	/* If > 0: each reply read moves the deadline to at least now + this */
	int64_t		progress_us;
	/*
	 * If > 0: for this long after an exchange starts, wait for replies by
	 * yielding the CPU and reading again instead of sleeping in poll()
	 */
	int64_t		spin_us;
} WtcConn;

/* Called for each top-level reply of an exchange, in order */
typedef void (*WtcReplyVisitor) (void *arg, int index, const RespReply *reply,
								 const char *buf, size_t len);

/* Monotonic clock in microseconds */
extern int64_t wtc_now_us(void);

extern int	wtc_conn_open(WtcConn *conn, const char *host, int port,
						  const char *unix_socket, int timeout_ms);
extern void wtc_conn_close(WtcConn *conn);
extern void wtc_conn_free(WtcConn *conn);
extern void wtc_conn_adopt(WtcConn *conn, WtcConn *from);
extern int	wtc_conn_is_open(const WtcConn *conn);
extern int	wtc_conn_idle_ok(WtcConn *conn);
extern long wtc_conn_peer_pid(const WtcConn *conn);
extern int	wtc_conn_send(WtcConn *conn, const char *out, size_t outlen,
						  int64_t deadline_us);
extern int	wtc_conn_exchange(WtcConn *conn, const char *out, size_t outlen,
							  int nreplies, int64_t deadline_us,
							  WtcReplyVisitor visit, void *arg);
extern void wtc_conn_target(char *dst, size_t dstlen, const char *host,
							int port, const char *unix_socket);

#endif							/* WTC_VALKEY_H */
