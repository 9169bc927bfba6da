/*-------------------------------------------------------------------------
 *
 * changeset.c
 *	  A transaction's cache changes: the last change per key, savepoints.
 *
 * Changes live in a log (an array, in order of each key's first change)
 * and a hash table from key to its newest log entry.  A second change of
 * a key made in the same (sub)transaction overwrites its entry in place, so
 * the log holds one entry per key and savepoint level.
 *
 * Savepoints: a "frame" records where in the log a subtransaction's
 * entries start.  A change made in a subtransaction to a key that already
 * has an entry in an enclosing one gets a new entry that points back to the
 * old one (prev).  When the subtransaction is rolled back, its entries are
 * removed, newest first, and each key's hash entry goes back to prev.  When
 * it is released, each of its entries that has an older entry in the parent
 * is folded into that entry, and the rest move down to close the gap: so
 * memory stays bounded by the number of keys, not of changes, even for a
 * PL/pgSQL loop whose every iteration runs in its own subtransaction.
 *
 * Frames are pushed lazily, only for subtransactions that change something.
 *
 * Large transactions: once the log holds wt_cache.max_changes keys, the
 * values are dropped and every further key goes to a temporary file
 * instead of memory, so backend memory stays bounded whatever the
 * transaction's size.  Such a transaction is queued whole for the worker
 * (which re-reads each row), so the file keeps keys only, and keeps them
 * even when a savepoint rolls back: a key too many costs the worker a
 * read, a key too few would lose a change.  The file belongs to the top
 * transaction's resource owner, so no subtransaction can close it.
 *
 * Everything is allocated in a child of TopTransactionContext, which the
 * end of the transaction frees; wtc_changeset_reset forgets the pointers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "storage/buffile.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "changeset.h"
#include "handoff.h"

typedef struct WtcKeyRef
{
	const char *data;
	uint32		len;
	uint32		hash;
} WtcKeyRef;

typedef struct WtcKeyEntry
{
	WtcKeyRef	key;
	int32		idx;			/* newest log entry of this key */
	char		status;
} WtcKeyEntry;

#define SH_PREFIX wtckeys
#define SH_ELEMENT_TYPE WtcKeyEntry
#define SH_KEY_TYPE WtcKeyRef
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((k).hash)
#define SH_EQUAL(tb, a, b) ((a).hash == (b).hash && (a).len == (b).len && \
							memcmp((a).data, (b).data, (a).len) == 0)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct WtcFrame
{
	SubTransactionId subid;
	int32		start;			/* first log index of this frame */
} WtcFrame;

static MemoryContext cs_cxt = NULL;
static WtcChange *cs_log = NULL;
static int32 cs_len = 0;
static int32 cs_cap = 0;
static wtckeys_hash *cs_keys = NULL;
static WtcFrame *cs_frames = NULL;
static int	cs_nframes = 0;
static int	cs_maxframes = 0;
static bool cs_overflow = false;
static BufFile *cs_spill = NULL;
static uint64 cs_nspilled = 0;

int			wtc_max_changes = 100000;

static WtcKeyRef
keyref(const char *data, uint32 len, uint32 hash)
{
	WtcKeyRef	k;

	k.data = data;
	k.len = len;
	k.hash = hash;
	return k;
}

static void
ensure_setup(void)
{
	if (cs_cxt != NULL)
		return;
	cs_cxt = AllocSetContextCreate(TopTransactionContext, "wt_cache changes",
								   ALLOCSET_DEFAULT_SIZES);
	cs_cap = 64;
	cs_log = MemoryContextAlloc(cs_cxt, sizeof(WtcChange) * cs_cap);
	cs_len = 0;
	cs_keys = wtckeys_create(cs_cxt, 64, NULL);
	cs_maxframes = 8;
	cs_frames = MemoryContextAlloc(cs_cxt, sizeof(WtcFrame) * cs_maxframes);
	cs_nframes = 0;
}

/*
 * wtc_changeset_reset
 *		Forget the changes.  Called at the end of every transaction; the
 *		memory itself goes with TopTransactionContext.
 */
void
wtc_changeset_reset(void)
{
	cs_cxt = NULL;
	cs_log = NULL;
	cs_len = cs_cap = 0;
	cs_keys = NULL;
	cs_frames = NULL;
	cs_nframes = cs_maxframes = 0;
	cs_overflow = false;
	cs_spill = NULL;			/* closed at PRE_COMMIT, or by an abort */
	cs_nspilled = 0;
}

bool
wtc_changeset_overflowed(void)
{
	return cs_overflow;
}

bool
wtc_changeset_empty(void)
{
	return cs_len == 0 && cs_nspilled == 0;
}

/*
 * Past wt_cache.max_changes: drop the values (the worker re-reads rows) and
 * open the spill file, owned by the top transaction.
 */
static void
start_overflow(void)
{
	ResourceOwner save_owner = CurrentResourceOwner;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	for (int32 i = 0; i < cs_len; i++)
		if (cs_log[i].value)
		{
			pfree(cs_log[i].value);
			cs_log[i].value = NULL;
		}
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		cs_spill = BufFileCreateTemp(false);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save_owner;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	cs_overflow = true;
}

static void
spill_key(Oid relid, uint16 key_offset, const char *key, size_t keylen)
{
	uint32		len = (uint32) keylen;

	BufFileWrite(cs_spill, &relid, sizeof(relid));
	BufFileWrite(cs_spill, &key_offset, sizeof(key_offset));
	BufFileWrite(cs_spill, &len, sizeof(len));
	BufFileWrite(cs_spill, (void *) key, len);
	cs_nspilled++;
}

void
wtc_changeset_spill_close(void)
{
	if (cs_spill != NULL)
		BufFileClose(cs_spill);
	cs_spill = NULL;
}

void
wtc_changeset_spill_rewind(void)
{
	if (cs_spill != NULL && BufFileSeek(cs_spill, 0, 0, SEEK_SET) != 0)
		elog(ERROR, "could not rewind wt_cache spill file");
}

/* Next spilled key (key palloc'd in the current context), or false */
bool
wtc_changeset_spill_next(WtcSpilledKey *k)
{
	uint32		len;

	if (cs_spill == NULL)
		return false;
	if (BufFileRead(cs_spill, &k->relid, sizeof(k->relid)) != sizeof(k->relid))
		return false;
	if (BufFileRead(cs_spill, &k->key_offset, sizeof(k->key_offset)) != sizeof(k->key_offset) ||
		BufFileRead(cs_spill, &len, sizeof(len)) != sizeof(len))
		elog(ERROR, "wt_cache spill file is truncated");
	k->keylen = len;
	k->key = palloc(len + 1);
	if (BufFileRead(cs_spill, k->key, len) != len)
		elog(ERROR, "wt_cache spill file is truncated");
	k->key[len] = '\0';
	return true;
}

int
wtc_changeset_count(void)
{
	return cs_len;
}

const WtcChange *
wtc_changeset_get(int i)
{
	Assert(i >= 0 && i < cs_len);
	return &cs_log[i];
}

static char *
copy_bytes(const char *src, size_t len)
{
	char	   *dst = MemoryContextAlloc(cs_cxt, len + 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
	return dst;
}

/*
 * wtc_changeset_put
 *		Record the newest change of a key: value NULL means delete.
 */
void
wtc_changeset_put(Oid relid, uint16 key_offset, const char *key,
				  size_t keylen, const char *value, size_t vallen, int ttl)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	uint32		hash = hash_bytes((const unsigned char *) key, (int) keylen);
	WtcKeyEntry *ke;
	WtcChange  *ch;
	bool		found;

	ensure_setup();
	if (cs_overflow)
	{
		spill_key(relid, key_offset, key, keylen);
		return;
	}
	/* Only the worker can write spilled keys: without it, keep them all */
	if (cs_len >= wtc_max_changes && wtc_handoff_available())
	{
		start_overflow();
		spill_key(relid, key_offset, key, keylen);
		return;
	}

	/* The frame of the current subtransaction */
	if (cs_nframes == 0 || cs_frames[cs_nframes - 1].subid != subid)
	{
		if (cs_nframes == cs_maxframes)
		{
			cs_maxframes *= 2;
			cs_frames = repalloc(cs_frames, sizeof(WtcFrame) * cs_maxframes);
		}
		cs_frames[cs_nframes].subid = subid;
		cs_frames[cs_nframes].start = cs_len;
		cs_nframes++;
	}

	ke = wtckeys_insert(cs_keys, keyref(key, (uint32) keylen, hash), &found);
	if (found && ke->idx >= cs_frames[cs_nframes - 1].start)
	{
		/* Changed before in this same subtransaction: overwrite */
		ch = &cs_log[ke->idx];
		if (ch->value)
			pfree(ch->value);
		ch->value = value ? copy_bytes(value, vallen) : NULL;
		ch->vallen = (uint32) vallen;
		ch->ttl = ttl;
		ch->relid = relid;
		ch->key_offset = key_offset;
		return;
	}

	if (cs_len == cs_cap)
	{
		cs_cap *= 2;
		cs_log = repalloc_huge(cs_log, sizeof(WtcChange) * cs_cap);
	}
	ch = &cs_log[cs_len];
	ch->relid = relid;
	ch->key_offset = key_offset;
	ch->key = copy_bytes(key, keylen);
	ch->keylen = (uint32) keylen;
	ch->hash = hash;
	ch->value = value ? copy_bytes(value, vallen) : NULL;
	ch->vallen = (uint32) vallen;
	ch->ttl = ttl;
	ch->prev = found ? ke->idx : -1;
	/* The hash entry must point at bytes that live as long as it does */
	ke->key.data = ch->key;
	ke->idx = cs_len;
	cs_len++;
}

/* Roll the log back to the start of the top frame and pop it */
static void
rollback_frame(void)
{
	int32		start = cs_frames[cs_nframes - 1].start;

	for (int32 i = cs_len - 1; i >= start; i--)
	{
		WtcChange  *ch = &cs_log[i];
		WtcKeyEntry *ke = wtckeys_lookup(cs_keys,
										 keyref(ch->key, ch->keylen, ch->hash));

		Assert(ke != NULL && ke->idx == i);
		if (ch->prev >= 0)
		{
			ke->idx = ch->prev;
			ke->key.data = cs_log[ch->prev].key;
		}
		else
			wtckeys_delete_item(cs_keys, ke);
		pfree(ch->key);
		if (ch->value)
			pfree(ch->value);
	}
	cs_len = start;
	cs_nframes--;
}

/* Fold the top frame into the frame below it (its parent) and pop it */
static void
merge_frame(void)
{
	int32		start = cs_frames[cs_nframes - 1].start;
	int32		parent_start = cs_frames[cs_nframes - 2].start;
	int32		w = start;

	for (int32 i = start; i < cs_len; i++)
	{
		WtcChange  *ch = &cs_log[i];
		WtcKeyEntry *ke = wtckeys_lookup(cs_keys,
										 keyref(ch->key, ch->keylen, ch->hash));

		Assert(ke != NULL && ke->idx == i);
		if (ch->prev >= parent_start)
		{
			/* The parent changed this key too: our change replaces its */
			WtcChange  *p = &cs_log[ch->prev];

			if (p->value)
				pfree(p->value);
			p->value = ch->value;
			p->vallen = ch->vallen;
			p->ttl = ch->ttl;
			p->relid = ch->relid;
			p->key_offset = ch->key_offset;
			ke->idx = ch->prev;
			ke->key.data = p->key;
			pfree(ch->key);
		}
		else
		{
			if (w != i)
				cs_log[w] = *ch;
			ke->idx = w;
			w++;
		}
	}
	cs_len = w;
	cs_nframes--;
}

/*
 * wtc_changeset_delete_rel
 *		TRUNCATE: every key of the table recorded so far becomes a delete
 *		(in the current subtransaction, so a rollback restores them).
 */
void
wtc_changeset_delete_rel(Oid relid)
{
	int32		n = cs_len;

	for (int32 i = 0; i < n; i++)
		if (cs_log[i].relid == relid && cs_log[i].value != NULL)
			wtc_changeset_put(relid, cs_log[i].key_offset, cs_log[i].key,
							  cs_log[i].keylen, NULL, 0, 0);
}

/*
 * wtc_changeset_subxact
 *		Subtransaction callback: drop a rolled-back savepoint's changes, fold
 *		a released one's into its parent.
 */
void
wtc_changeset_subxact(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid)
{
	if (cs_cxt == NULL || cs_nframes == 0 ||
		cs_frames[cs_nframes - 1].subid != mySubid)
		return;					/* this subtransaction changed nothing */

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			rollback_frame();
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			if (cs_nframes >= 2 && cs_frames[cs_nframes - 2].subid == parentSubid)
				merge_frame();
			else
				cs_frames[cs_nframes - 1].subid = parentSubid;	/* now the parent's */
			break;
		default:
			break;
	}
}
