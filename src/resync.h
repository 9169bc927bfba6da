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
/* How long the worker waits for a table's writers before it does other work */
#define WTC_WRITERS_WAIT_MS 1000

struct SnapshotData;
extern bool wtc_row_changed_since(TransactionId xmin,
								  struct SnapshotData *before);
extern bool wtc_wait_for_writers(const Oid *relids, int n, int timeout_ms);

struct RelationData;
struct WtcTableConfig;
extern int64 wtc_resync_table(WtcConn *conn, struct RelationData *rel,
							  struct WtcTableConfig *cfg, int *failed,
							  char *err, size_t errlen);

#endif							/* WTC_RESYNC_H */
