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
	char	   *key;
	uint32		keylen;
	uint32		hash;
	char	   *value;			/* NULL for a delete */
	uint32		vallen;
	int32		ttl;			/* seconds, 0 for none */
	int32		prev;			/* this key's entry in an enclosing savepoint */
} WtcChange;

extern void wtc_changeset_put(const char *key, size_t keylen,
							  const char *value, size_t vallen, int ttl);
extern int	wtc_changeset_count(void);
extern const WtcChange *wtc_changeset_get(int i);
extern void wtc_changeset_subxact(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid);
extern void wtc_changeset_reset(void);

#endif							/* WTC_CHANGESET_H */
