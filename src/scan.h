/*-------------------------------------------------------------------------
 *
 * scan.h
 *	  Every key of a table's prefix, from SCAN, in batches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_SCAN_H
#define WTC_SCAN_H

#include "valkey.h"

/*
 * Called with the keys of one SCAN reply (NUL-terminated copies, valid
 * until it returns).  The connection is idle meanwhile: the callback may
 * run its own exchanges on it.  Returns false to stop the scan after a
 * failed exchange (conn->errbuf says why).
 */
typedef bool (*WtcScanBatch) (void *arg, int nkeys, char **keys,
							  const size_t *lens);

extern bool wtc_scan_prefix(WtcConn *conn, const char *prefix, int timeout_ms,
							WtcScanBatch on_batch, void *arg);

#endif							/* WTC_SCAN_H */
