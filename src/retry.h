/*-------------------------------------------------------------------------
 *
 * retry.h
 *	  The worker's side of the retry queue.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_RETRY_H
#define WTC_RETRY_H

#include "storage/itemptr.h"

#include "valkey.h"

extern int	wtc_retry_base_ms;
extern int	wtc_retry_max_ms;
extern int	wtc_retry_batch_size;

extern int	wtc_retry_store_handoffs(int slot);
extern int	wtc_retry_batch(WtcConn *conn, int limit, bool *conn_failed);
extern void wtc_retry_mark_dead(int64 id, const char *err);
extern int64 wtc_current_entry_id;
extern void wtc_worker_xact_begin(void);
extern void wtc_worker_xact_end(void);
extern int	wtc_retry_next_due_ms(int cap_ms);

struct RelationData;
struct WtcTableConfig;
extern char *wtc_row_lookup_query(struct RelationData *rel,
								  struct WtcTableConfig *cfg,
								  const char *suffix);
extern void wtc_row_lookup_result(uint64 r, ItemPointer *tid, int64 *ord,
								  Oid *leaf);

#endif							/* WTC_RETRY_H */
