/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  Writing to wt_cache.retry_queue inside the current transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_QUEUE_H
#define WTC_QUEUE_H

#include "handoff.h"

extern void wtc_queue_keys(WtcHandoffNext next, void *arg, int n);
extern void wtc_queue_changeset(void);
extern bool wtc_queue_next_change(void *arg, int i, WtcHandoffKey *k);
extern void wtc_queue_resync(Oid relid, bool load);
extern int	wtc_queue_resync_all(void);
extern bool wtc_queue_pending_wake;

#endif							/* WTC_QUEUE_H */
