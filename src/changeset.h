/*-------------------------------------------------------------------------
 *
 * changeset.h
 *	  A transaction's cache changes: the last change per key, savepoints.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_CHANGESET_H
#define WTC_CHANGESET_H

#include "access/xact.h"

typedef struct WtcChange
{
	Oid			relid;
	uint16		key_offset;		/* where the key parts start (after "prefix:") */
	char	   *key;
	uint32		keylen;
	uint32		hash;
	char	   *value;			/* NULL for a delete */
	uint32		vallen;
	int32		ttl;			/* seconds, 0 for none */
	int32		prev;			/* this key's entry in an enclosing savepoint */
} WtcChange;

extern int	wtc_max_changes;

extern void wtc_changeset_put(Oid relid, uint16 key_offset,
							  const char *key, size_t keylen,
							  const char *value, size_t vallen, int ttl);
extern void wtc_changeset_delete_rel(Oid relid);
extern int	wtc_changeset_count(void);
extern bool wtc_changeset_overflowed(void);
extern bool wtc_changeset_empty(void);

/* Keys spilled past wt_cache.max_changes, read back at PRE_COMMIT */
typedef struct WtcSpilledKey
{
	Oid			relid;
	uint16		key_offset;
	uint32		keylen;
	char	   *key;			/* palloc'd by the reader */
} WtcSpilledKey;

extern void wtc_changeset_spill_rewind(void);
extern void wtc_changeset_spill_close(void);
extern bool wtc_changeset_spill_next(WtcSpilledKey *k);
extern const WtcChange *wtc_changeset_get(int i);
extern void wtc_changeset_subxact(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid);
extern void wtc_changeset_reset(void);

#endif							/* WTC_CHANGESET_H */
