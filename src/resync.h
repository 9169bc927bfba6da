/*-------------------------------------------------------------------------
 *
 * resync.h
 *	  The worker's resync jobs: a table's keys removed, its rows written.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_RESYNC_H
#define WTC_RESYNC_H

#include "valkey.h"

extern int	wtc_resync_job(WtcConn *conn, bool *conn_failed);

#endif							/* WTC_RESYNC_H */
