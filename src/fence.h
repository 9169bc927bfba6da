/*-------------------------------------------------------------------------
 *
 * fence.h
 *	  Writes to Valkey through wt_cache's server-side script.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_FENCE_H
#define WTC_FENCE_H

#include "lib/stringinfo.h"

#include "valkey.h"

/*
 * A batch of key writes, encoded as EVALSHA calls of at most
 * wtc_keys_per_call keys each.  Keys and their arguments are gathered per
 * call and assembled when the call is full or the batch ends.
 */
/* Length of a version: epoch (4 hex digits) and LSN (16 hex digits) */
#define WTC_VERSION_LEN 20

typedef struct WtcWriteBatch
{
	StringInfoData out;			/* finished calls */
	StringInfoData keys;		/* keys of the call being built */
	StringInfoData vkeys;		/* their version keys */
	StringInfoData ops;			/* the operation of each of its keys */
	StringInfoData args;		/* the arguments of those operations */
	int			call_keys;		/* keys in the call being built */
	int			call_args;		/* arguments in args */
	int			ncalls;
	int			nkeys;
	int			keys_per_call;
	const char *sha;
	int		   *version_at;		/* offset of each call's version in out */
	int			nversions;
	int			maxversions;
} WtcWriteBatch;

extern int	wtc_keys_per_call;
extern int	wtc_tombstone_ms;
extern bool wtc_test_fencing;

extern void wtc_batch_init(WtcWriteBatch *b, const char *sha);
extern void wtc_batch_add(WtcWriteBatch *b, const char *key, size_t keylen,
						  const char *value, size_t vallen, int ttl);
extern void wtc_batch_finish(WtcWriteBatch *b);
extern Size wtc_batch_item_bound(size_t keylen, size_t vallen);
extern void wtc_batch_stream_reserve(WtcWriteBatch *b, Size call_bytes);
extern bool wtc_batch_stream_room(const WtcWriteBatch *b, size_t keylen,
								  size_t vallen);
extern void wtc_batch_stream_flush(WtcWriteBatch *b);
extern void wtc_batch_stream_next(WtcWriteBatch *b);
extern void wtc_format_version(char *dst, uint64 lsn);
extern void wtc_batch_set_version(WtcWriteBatch *b, const char *version);

/* Result of one key, from the replies of a batch */
typedef void (*WtcKeyResult) (void *arg, int keyindex, const char *err,
							  size_t errlen);

typedef struct WtcBatchReplies
{
	int			keys_per_call;
	int			nkeys;
	int			nstale;			/* keys refused as older than Valkey's */
	WtcKeyResult on_key;
	void	   *arg;
} WtcBatchReplies;

extern void wtc_batch_reply(void *arg, int index, const RespReply *reply,
							const char *buf, size_t len);
extern int	wtc_script_load(WtcConn *conn, int64_t deadline_us);
extern int	wtc_error_is_transient(const char *err, size_t len);

#endif							/* WTC_FENCE_H */
