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

struct RelationData;
struct WtcTableConfig;
extern int64 wtc_resync_table(WtcConn *conn, struct RelationData *rel,
							  struct WtcTableConfig *cfg, int *failed,
							  char *err, size_t errlen);

#endif							/* WTC_RESYNC_H */
