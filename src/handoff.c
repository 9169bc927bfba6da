/*-------------------------------------------------------------------------
 *
 * handoff.c
 *	  Shared-memory rings from backends to the worker, one per database.
 *
 * A push that fails in the XACT_EVENT_COMMIT callback cannot write a table
 * (the transaction is over), so the backend copies the failed keys into its
 * database's ring here, and wakes that database's worker, which moves them
 * into the logged table wt_cache.retry_queue.  If the ring is full, the
 * table is marked as needing a resync instead (and if that list is full
 * too, every attached table of the database is): nothing is dropped
 * silently.
 *
 * Each database that uses wt_cache holds one of wt_cache.max_databases
 * slots: its ring, its worker's latch, its resync requests.  Backends are
 * the only writers of a ring's head, the database's worker the only reader
 * (it copies entries out, stores them, and only then advances the tail), so
 * a worker that fails half-way loses nothing.
 *
 * NB: wtc_handoff_keys and wtc_handoff_wake run in the XACT_EVENT_COMMIT
 * callback: an LWLock, memcpy and SetLatch, nothing that can throw.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#include "handoff.h"

#define WTC_RESYNC_SLOTS 32

typedef struct WtcDbSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	int			worker_pid;		/* 0: no worker running */
	Latch	   *worker_latch;
	bool		unclean_handled;
	bool		resync_all;
	int			nresync;
	Oid			resync[WTC_RESYNC_SLOTS];
	uint64		head;			/* bytes ever written to the ring */
	uint64		tail;			/* bytes ever consumed */
} WtcDbSlot;

typedef struct WtcHandoff
{
	LWLock	   *lock;
	int			launcher_pid;
	Latch	   *launcher_latch;
	bool		unclean;		/* the previous run did not stop cleanly */
	int			nslots;
	Size		ring_size;
	WtcDbSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} WtcHandoff;

typedef struct WtcEntryHeader
{
	uint32		len;			/* header and key */
	Oid			relid;
	uint16		key_offset;
	uint16		unused;
	uint32		keylen;
} WtcEntryHeader;

int			wtc_max_databases = 8;
int			wtc_handoff_kb = 1024;

static WtcHandoff *handoff = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
header_size(void)
{
	return MAXALIGN(offsetof(WtcHandoff, slots) +
					sizeof(WtcDbSlot) * wtc_max_databases);
}

static Size
handoff_size(void)
{
	return add_size(header_size(),
					mul_size((Size) wtc_handoff_kb * 1024, wtc_max_databases));
}

static char *
ring_of(int slot)
{
	return (char *) handoff + header_size() + handoff->ring_size * slot;
}

static void
handoff_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(handoff_size());
	RequestNamedLWLockTranche("wt_cache", 1);
}

static void
handoff_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	handoff = ShmemInitStruct("wt_cache handoff", handoff_size(), &found);
	if (!found)
	{
		memset(handoff, 0, header_size());
		handoff->lock = &(GetNamedLWLockTranche("wt_cache"))->lock;
		handoff->nslots = wtc_max_databases;
		handoff->ring_size = (Size) wtc_handoff_kb * 1024;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
wtc_handoff_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = handoff_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = handoff_shmem_startup;
}

bool
wtc_handoff_available(void)
{
	return handoff != NULL;
}

/* Circular copies; pos is a monotonic byte counter */
static void
ring_write(int slot, uint64 pos, const void *src, Size n)
{
	char	   *ring = ring_of(slot);
	Size		off = pos % handoff->ring_size;
	Size		first = Min(n, handoff->ring_size - off);

	memcpy(ring + off, src, first);
	if (first < n)
		memcpy(ring, (const char *) src + first, n - first);
}

static void
ring_read(int slot, uint64 pos, void *dst, Size n)
{
	char	   *ring = ring_of(slot);
	Size		off = pos % handoff->ring_size;
	Size		first = Min(n, handoff->ring_size - off);

	memcpy(dst, ring + off, first);
	if (first < n)
		memcpy((char *) dst + first, ring, n - first);
}

/* The slot of a database, or a new one; -1 if none is free.  Lock held. */
static int
find_slot(Oid dboid, bool claim)
{
	int			free_slot = -1;

	for (int i = 0; i < handoff->nslots; i++)
	{
		if (handoff->slots[i].dboid == dboid)
			return i;
		if (free_slot < 0 && handoff->slots[i].dboid == InvalidOid)
			free_slot = i;
	}
	if (claim && free_slot >= 0)
	{
		WtcDbSlot  *s = &handoff->slots[free_slot];

		memset(s, 0, sizeof(*s));
		s->dboid = dboid;
	}
	return claim ? free_slot : -1;
}

static void
request_resync(WtcDbSlot *s, Oid relid)
{
	for (int i = 0; i < s->nresync; i++)
		if (s->resync[i] == relid)
			return;
	if (s->nresync < WTC_RESYNC_SLOTS)
		s->resync[s->nresync++] = relid;
	else
		s->resync_all = true;
}

/*
 * wtc_handoff_keys
 *		Hand n keys of the current database to its worker.  Keys that do not
 *		fit mark their table as needing a resync.  Returns the number of
 *		keys in the ring, or -1 if the database has no slot (all taken by
 *		other databases): then nothing could be recorded.  Does not throw.
 */
int
wtc_handoff_keys(int n, WtcHandoffNext next, void *arg)
{
	int			slot;
	int			stored = 0;
	WtcDbSlot  *s;

	if (handoff == NULL)
		return -1;
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	slot = find_slot(MyDatabaseId, true);
	if (slot < 0)
	{
		LWLockRelease(handoff->lock);
		return -1;
	}
	s = &handoff->slots[slot];
	for (int i = 0; i < n; i++)
	{
		WtcHandoffKey k;
		WtcEntryHeader h;

		if (!next(arg, i, &k))
			continue;
		h.len = sizeof(h) + k.keylen;
		h.relid = k.relid;
		h.key_offset = k.key_offset;
		h.unused = 0;
		h.keylen = k.keylen;
		if (handoff->ring_size - (s->head - s->tail) < h.len)
		{
			request_resync(s, k.relid);
			continue;
		}
		ring_write(slot, s->head, &h, sizeof(h));
		ring_write(slot, s->head + sizeof(h), k.key, k.keylen);
		s->head += h.len;
		stored++;
	}
	LWLockRelease(handoff->lock);
	return stored;
}

/*
 * wtc_handoff_wake_all
 *		Wake every database's worker.  Does not throw.
 */
void
wtc_handoff_wake_all(void)
{
	if (handoff == NULL)
		return;
	LWLockAcquire(handoff->lock, LW_SHARED);
	for (int i = 0; i < wtc_max_databases; i++)
		if (handoff->slots[i].worker_latch != NULL)
			SetLatch(handoff->slots[i].worker_latch);
	LWLockRelease(handoff->lock);
}

/*
 * wtc_handoff_wake
 *		Wake the database's worker, or the launcher if it has none (the
 *		launcher then starts one).  Does not throw.
 */
void
wtc_handoff_wake(Oid dboid)
{
	Latch	   *latch = NULL;
	int			slot;

	if (handoff == NULL)
		return;
	LWLockAcquire(handoff->lock, LW_SHARED);
	slot = find_slot(dboid, false);
	if (slot >= 0 && handoff->slots[slot].worker_latch != NULL)
		latch = handoff->slots[slot].worker_latch;
	else
		latch = handoff->launcher_latch;
	if (latch)
		SetLatch(latch);
	LWLockRelease(handoff->lock);
}

/*
 * wtc_handoff_register_db
 *		This database uses wt_cache (CREATE EXTENSION, attach): claim its
 *		slot so that the launcher starts a worker for it.
 */
void
wtc_handoff_register_db(Oid dboid)
{
	if (handoff == NULL)
		return;
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	(void) find_slot(dboid, true);
	LWLockRelease(handoff->lock);
	wtc_handoff_wake(dboid);
}

/*
 * wtc_handoff_attach_worker
 *		The database's worker starts: take its slot.  Returns the slot, or
 *		-1 if there is none free or another worker holds it.
 */
int
wtc_handoff_attach_worker(Oid dboid)
{
	int			slot;

	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	slot = find_slot(dboid, true);
	if (slot >= 0 && handoff->slots[slot].worker_pid != 0 &&
		handoff->slots[slot].worker_pid != MyProcPid)
		slot = -1;
	if (slot >= 0)
	{
		handoff->slots[slot].worker_pid = MyProcPid;
		handoff->slots[slot].worker_latch = MyLatch;
	}
	LWLockRelease(handoff->lock);
	return slot;
}

/*
 * wtc_handoff_detach_worker
 *		The worker stops.  With release, the database no longer uses
 *		wt_cache (no extension): free the slot and whatever it held.
 */
void
wtc_handoff_detach_worker(int slot, bool release)
{
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	if (handoff->slots[slot].worker_pid == MyProcPid)
	{
		handoff->slots[slot].worker_pid = 0;
		handoff->slots[slot].worker_latch = NULL;
		if (release)
			memset(&handoff->slots[slot], 0, sizeof(WtcDbSlot));
	}
	LWLockRelease(handoff->lock);
}

/*
 * wtc_handoff_peek
 *		Copy out (palloc) the entries not yet consumed; *upto is where to
 *		consume to once they are stored.  Entries are WtcEntryHeader and key.
 */
char *
wtc_handoff_peek(int slot, Size *len, uint64 *upto)
{
	WtcDbSlot  *s = &handoff->slots[slot];
	uint64		tail;
	uint64		head;
	char	   *buf;

	LWLockAcquire(handoff->lock, LW_SHARED);
	tail = s->tail;
	head = s->head;
	LWLockRelease(handoff->lock);
	*len = head - tail;
	*upto = head;
	if (*len == 0)
		return NULL;
	buf = palloc(*len);
	/* Only this worker moves the tail; bytes before head stay put */
	ring_read(slot, tail, buf, *len);
	return buf;
}

void
wtc_handoff_consume(int slot, uint64 upto)
{
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	handoff->slots[slot].tail = upto;
	LWLockRelease(handoff->lock);
}

Size
wtc_handoff_entry(const char *buf, WtcHandoffKey *k)
{
	WtcEntryHeader h;

	memcpy(&h, buf, sizeof(h));
	k->relid = h.relid;
	k->key_offset = h.key_offset;
	k->keylen = h.keylen;
	k->key = buf + sizeof(h);
	return h.len;
}

int
wtc_handoff_peek_resync(int slot, Oid *rels, int max, bool *all)
{
	WtcDbSlot  *s = &handoff->slots[slot];
	int			n;

	LWLockAcquire(handoff->lock, LW_SHARED);
	n = Min(s->nresync, max);
	memcpy(rels, s->resync, sizeof(Oid) * n);
	*all = s->resync_all;
	LWLockRelease(handoff->lock);
	return n;
}

void
wtc_handoff_consume_resync(int slot, const Oid *rels, int n, bool all)
{
	WtcDbSlot  *s = &handoff->slots[slot];

	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < s->nresync; j++)
			if (s->resync[j] == rels[i])
			{
				s->resync[j] = s->resync[--s->nresync];
				break;
			}
	if (all)
		s->resync_all = false;
	LWLockRelease(handoff->lock);
}

/*
 * wtc_handoff_take_unclean
 *		True once per database slot after an unclean stop of the server:
 *		handoffs held in shared memory may have been lost.
 */
bool
wtc_handoff_take_unclean(int slot)
{
	bool		r;

	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	r = handoff->unclean && !handoff->slots[slot].unclean_handled;
	handoff->slots[slot].unclean_handled = true;
	LWLockRelease(handoff->lock);
	return r;
}

void
wtc_handoff_set_launcher(bool running)
{
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	handoff->launcher_pid = running ? MyProcPid : 0;
	handoff->launcher_latch = running ? MyLatch : NULL;
	LWLockRelease(handoff->lock);
}

void
wtc_handoff_set_unclean(bool unclean)
{
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	handoff->unclean = unclean;
	LWLockRelease(handoff->lock);
}

/* Databases that hold a slot but have no worker running */
int
wtc_handoff_dbs_without_worker(Oid *dbs, int max)
{
	int			n = 0;

	LWLockAcquire(handoff->lock, LW_SHARED);
	for (int i = 0; i < handoff->nslots && n < max; i++)
		if (handoff->slots[i].dboid != InvalidOid &&
			handoff->slots[i].worker_pid == 0)
			dbs[n++] = handoff->slots[i].dboid;
	LWLockRelease(handoff->lock);
	return n;
}

/*
 * wtc_handoff_forget_db
 *		The launcher found that a database with a slot but no worker was
 *		dropped: free its slot (what it held was the dropped database's).
 */
void
wtc_handoff_forget_db(Oid dboid)
{
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	for (int i = 0; i < handoff->nslots; i++)
		if (handoff->slots[i].dboid == dboid && handoff->slots[i].worker_pid == 0)
			memset(&handoff->slots[i], 0, sizeof(WtcDbSlot));
	LWLockRelease(handoff->lock);
}

/* Is everything handed off stored in a table?  (For a clean stop) */
bool
wtc_handoff_all_empty(void)
{
	bool		empty = true;

	LWLockAcquire(handoff->lock, LW_SHARED);
	for (int i = 0; i < handoff->nslots; i++)
	{
		WtcDbSlot  *s = &handoff->slots[i];

		if (s->dboid != InvalidOid &&
			(s->head != s->tail || s->nresync > 0 || s->resync_all))
			empty = false;
	}
	LWLockRelease(handoff->lock);
	return empty;
}
