/*-------------------------------------------------------------------------
 *
 * async.h
 *	  The worker's side of asynchronous pushes (wt_cache.async_push).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_ASYNC_H
#define WTC_ASYNC_H

#include "valkey.h"

extern int	wtc_async_push_delay_ms;

extern int	wtc_async_send(WtcConn *conn, int slot, bool can_send,
						   bool *handed_off);

#endif							/* WTC_ASYNC_H */
