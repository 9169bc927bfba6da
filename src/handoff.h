/*-------------------------------------------------------------------------
 *
 * handoff.h
 *	  Shared-memory rings from backends to the worker, one per database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_HANDOFF_H
#define WTC_HANDOFF_H

#include "storage/latch.h"

/* One key handed off, as the worker reads it back */
typedef struct WtcHandoffKey
{
	Oid			relid;
	uint16		key_offset;
	uint32		keylen;
	const char *key;
} WtcHandoffKey;

typedef bool (*WtcHandoffNext) (void *arg, int i, WtcHandoffKey *out);

/* One asynchronous push, as the worker reads it back */
typedef struct WtcPushEntry
{
	const char *out;			/* its script calls */
	Size		outlen;
	int			ncalls;
	int			nkeys;
	int			keys_per_call;
	const char *keys;			/* nkeys entries for wtc_handoff_entry */
} WtcPushEntry;

extern int	wtc_max_databases;
extern int	wtc_handoff_kb;

extern void wtc_handoff_init(void);
extern bool wtc_handoff_available(void);

/* backends */
extern int	wtc_handoff_keys(int n, WtcHandoffNext next, void *arg);
extern bool wtc_handoff_push(const char *out, Size outlen, int ncalls,
							 int keys_per_call, int nkeys,
							 WtcHandoffNext next, void *arg);
extern void wtc_handoff_wake(Oid dboid);
extern void wtc_handoff_wake_all(void);
extern void wtc_handoff_register_db(Oid dboid);

/* the per-database worker */
extern int	wtc_handoff_attach_worker(Oid dboid);
extern void wtc_handoff_detach_worker(int slot, bool release);
extern char *wtc_handoff_peek(int slot, Size *len, uint64 *upto);
extern void wtc_handoff_consume(int slot, uint64 upto);
extern int	wtc_handoff_peek_resync(int slot, Oid *rels, int max, bool *all);
extern void wtc_handoff_consume_resync(int slot, const Oid *rels, int n, bool all);
extern bool wtc_handoff_take_unclean(int slot);
extern Size wtc_handoff_entry(const char *buf, WtcHandoffKey *k);
extern char *wtc_handoff_push_peek(int slot, Size max, Size *len, uint64 *upto);
extern void wtc_handoff_push_consume(int slot, uint64 upto);
extern Size wtc_handoff_push_entry(const char *buf, WtcPushEntry *e);
extern bool wtc_handoff_push_sleep(int slot);
extern bool wtc_handoff_take_kick(int slot);

/* the launcher */
extern void wtc_handoff_set_launcher(bool running);
extern int	wtc_handoff_dbs_without_worker(Oid *dbs, int max);
extern bool wtc_handoff_all_empty(void);
extern void wtc_handoff_forget_db(Oid dboid);
extern void wtc_handoff_set_unclean(bool unclean);

#endif							/* WTC_HANDOFF_H */
