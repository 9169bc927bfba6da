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

/*
 * The keys a table's rows have, as 64-bit hashes (8 bytes a row), to tell
 * the keys SCAN finds under its prefix that belong to no row.  A key whose
 * hash collides with a row key's passes as a row's: one in 2^64.  Add,
 * seal (sort) once, then ask.
 */
typedef struct WtcKeySet
{
	uint64	   *h;
	int64		n;
	int64		cap;
	MemoryContext cxt;			/* where it grows: the current context at init */
} WtcKeySet;

extern void wtc_keyset_init(WtcKeySet *ks);
extern void wtc_keyset_add(WtcKeySet *ks, const char *key, size_t len);
extern void wtc_keyset_seal(WtcKeySet *ks);
extern bool wtc_keyset_has(const WtcKeySet *ks, const char *key, size_t len);
extern void wtc_keyset_free(WtcKeySet *ks);

#endif							/* WTC_SCAN_H */
