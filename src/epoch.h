/*-------------------------------------------------------------------------
 *
 * epoch.h
 *	  The epoch of versions, and noticing a Valkey that lost its data.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_EPOCH_H
#define WTC_EPOCH_H

#include "valkey.h"

/* An epoch is 4 hex digits of a version */
#define WTC_EPOCH_MAX 0xFFFF

extern int	wtc_check_interval_ms;

extern uint32 wtc_epoch_current(void);
extern bool wtc_epoch_known(void);
extern int	wtc_epoch_check(WtcConn *conn);
extern int	wtc_epoch_sync_db(WtcConn *conn);

#endif							/* WTC_EPOCH_H */
