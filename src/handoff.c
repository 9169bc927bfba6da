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
 * Each slot has a second ring of the same size for asynchronous pushes
 * (wt_cache.async_push): a committing backend copies the push's prebuilt
 * script calls and its keys into it, and the worker sends what has gathered
 * in one write and reads the replies (worker.c).  A backend wakes the worker
 * only when the worker said it would sleep with the ring empty
 * (push_waiting), so that under load the worker sends many commits' calls
 * at a time, and neither it nor Valkey is woken for each commit.
 *
 * NB: wtc_handoff_keys, wtc_handoff_push and wtc_handoff_wake run in the
 * XACT_EVENT_COMMIT callback: an LWLock, memcpy and SetLatch, nothing that
 * can throw.
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

/* A ring's positions: monotonic byte counters, taken modulo its size */
typedef struct WtcRingPos
{
	uint64		head;			/* bytes ever written */
	uint64		tail;			/* bytes ever consumed */
} WtcRingPos;

typedef struct WtcDbSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	int			worker_pid;		/* 0: no worker running */
	Latch	   *worker_latch;
	bool		unclean_handled;
	bool		kicked;			/* woken for something else than pushes */
	bool		push_waiting;	/* the worker sleeps until pushes come */
	bool		resync_all;
	int			nresync;
	Oid			resync[WTC_RESYNC_SLOTS];
	WtcRingPos	keys;			/* the key ring */
	WtcRingPos	pushes;			/* the push ring */
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

/* Both kinds of entry start with their length (ring_peek reads it) */
typedef struct WtcEntryHeader
{
	uint32		len;			/* header and key */
	Oid			relid;
	uint16		key_offset;
	uint16		unused;
	uint32		keylen;
} WtcEntryHeader;

/* An asynchronous push: its calls, then nkeys WtcEntryHeader and key */
typedef struct WtcPushHeader
{
	uint32		len;			/* the whole entry */
	uint32		outlen;
	int32		ncalls;
	int32		nkeys;
	int32		keys_per_call;
} WtcPushHeader;

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
	/* Two rings per database: keys, and asynchronous pushes */
	return add_size(header_size(),
					mul_size((Size) wtc_handoff_kb * 1024 * 2, wtc_max_databases));
}

static char *
ring_of(int slot)
{
	return (char *) handoff + header_size() + handoff->ring_size * 2 * slot;
}

static char *
push_ring_of(int slot)
{
	return ring_of(slot) + handoff->ring_size;
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
ring_write(char *ring, uint64 pos, const void *src, Size n)
{
	Size		off = pos % handoff->ring_size;
	Size		first = Min(n, handoff->ring_size - off);

	memcpy(ring + off, src, first);
	if (first < n)
		memcpy(ring, (const char *) src + first, n - first);
}

static void
ring_read(const char *ring, uint64 pos, void *dst, Size n)
{
	Size		off = pos % handoff->ring_size;
	Size		first = Min(n, handoff->ring_size - off);

	memcpy(dst, ring + off, first);
	if (first < n)
		memcpy((char *) dst + first, ring, n - first);
}

/* Free bytes of a ring.  Lock held. */
static Size
ring_room(const WtcRingPos *r)
{
	return handoff->ring_size - (r->head - r->tail);
}

/* Write a key entry at pos; returns its length.  Lock held. */
static Size
ring_write_key(char *ring, uint64 pos, const WtcHandoffKey *k)
{
	WtcEntryHeader h;

	h.len = sizeof(h) + k->keylen;
	h.relid = k->relid;
	h.key_offset = k->key_offset;
	h.unused = 0;
	h.keylen = k->keylen;
	ring_write(ring, pos, &h, sizeof(h));
	ring_write(ring, pos + sizeof(h), k->key, k->keylen);
	return h.len;
}

/*
 * Copy out (palloc) whole entries not yet consumed, at least one and up to
 * about max bytes; *upto is where to consume to once they are stored.
 * NULL if there are none.  Only the worker calls this and moves the tail:
 * entries before the head it reads stay put.
 */
static char *
ring_peek(const char *ring, WtcRingPos *r, Size max, Size *len, uint64 *upto)
{
	uint64		tail;
	uint64		head;
	uint64		end;
	char	   *buf;

	StaticAssertStmt(offsetof(WtcEntryHeader, len) == 0 &&
					 offsetof(WtcPushHeader, len) == 0,
					 "a ring entry starts with its length");
	LWLockAcquire(handoff->lock, LW_SHARED);
	tail = r->tail;
	head = r->head;
	LWLockRelease(handoff->lock);
	end = head;
	if (head - tail > max)
	{
		end = tail;
		while (end < head)
		{
			uint32		elen;

			ring_read(ring, end, &elen, sizeof(elen));
			if (end > tail && end - tail + elen > max)
				break;
			end += elen;
		}
	}
	*len = end - tail;
	*upto = end;
	if (*len == 0)
		return NULL;
	buf = palloc(*len);
	ring_read(ring, tail, buf, *len);
	return buf;
}

static void
ring_consume(WtcRingPos *r, uint64 upto)
{
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	r->tail = upto;
	LWLockRelease(handoff->lock);
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

		if (!next(arg, i, &k))
			continue;
		if (ring_room(&s->keys) < sizeof(WtcEntryHeader) + k.keylen)
		{
			request_resync(s, k.relid);
			continue;
		}
		s->keys.head += ring_write_key(ring_of(slot), s->keys.head, &k);
		stored++;
	}
	LWLockRelease(handoff->lock);
	return stored;
}

/*
 * wtc_handoff_push
 *		Hand an asynchronous push to the current database's worker: its
 *		script calls out[0..outlen) (ncalls calls of up to keys_per_call
 *		keys, the version set) and its nkeys keys, for those that fail.
 *		Returns false, having stored nothing, if the push ring has no room or
 *		the database no slot: then the caller pushes itself.  Does not throw.
 */
bool
wtc_handoff_push(const char *out, Size outlen, int ncalls, int keys_per_call,
				 int nkeys, WtcHandoffNext next, void *arg)
{
	WtcPushHeader ph;
	Size		len = sizeof(ph) + outlen;
	Latch	   *latch = NULL;
	int			slot;
	WtcDbSlot  *s;
	char	   *ring;
	uint64		pos;

	if (handoff == NULL)
		return false;
	for (int i = 0; i < nkeys; i++)
	{
		WtcHandoffKey k;

		if (next(arg, i, &k))
			len += sizeof(WtcEntryHeader) + k.keylen;
	}
	/* One push may take a quarter of the ring: a bulk one is not held up */
	if (len > handoff->ring_size / 4)
		return false;
	ph.len = (uint32) len;
	ph.outlen = (uint32) outlen;
	ph.ncalls = ncalls;
	ph.nkeys = nkeys;
	ph.keys_per_call = keys_per_call;

	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	slot = find_slot(MyDatabaseId, true);
	if (slot < 0)
	{
		LWLockRelease(handoff->lock);
		return false;
	}
	s = &handoff->slots[slot];
	if (ring_room(&s->pushes) < len)
	{
		LWLockRelease(handoff->lock);
		return false;
	}
	ring = push_ring_of(slot);
	pos = s->pushes.head;
	ring_write(ring, pos, &ph, sizeof(ph));
	pos += sizeof(ph);
	ring_write(ring, pos, out, outlen);
	pos += outlen;
	for (int i = 0; i < nkeys; i++)
	{
		WtcHandoffKey k;

		if (next(arg, i, &k))
			pos += ring_write_key(ring, pos, &k);
	}
	Assert(pos - s->pushes.head == len);
	s->pushes.head = pos;
	if (s->worker_latch == NULL)
		latch = handoff->launcher_latch;	/* it starts a worker */
	else if (s->push_waiting)
	{
		s->push_waiting = false;
		latch = s->worker_latch;
	}
	if (latch)
		SetLatch(latch);
	LWLockRelease(handoff->lock);
	return true;
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
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	for (int i = 0; i < wtc_max_databases; i++)
		if (handoff->slots[i].worker_latch != NULL)
		{
			handoff->slots[i].kicked = true;
			SetLatch(handoff->slots[i].worker_latch);
		}
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
	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	slot = find_slot(dboid, false);
	if (slot >= 0 && handoff->slots[slot].worker_latch != NULL)
	{
		handoff->slots[slot].kicked = true;
		latch = handoff->slots[slot].worker_latch;
	}
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
	return ring_peek(ring_of(slot), &handoff->slots[slot].keys,
					 handoff->ring_size, len, upto);
}

void
wtc_handoff_consume(int slot, uint64 upto)
{
	ring_consume(&handoff->slots[slot].keys, upto);
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

/*
 * wtc_handoff_push_peek
 *		Copy out (palloc) whole push entries not yet consumed, at least one
 *		and up to about max bytes; *upto is where to consume to once they
 *		are sent or handed off.  NULL if there are none.
 */
char *
wtc_handoff_push_peek(int slot, Size max, Size *len, uint64 *upto)
{
	return ring_peek(push_ring_of(slot), &handoff->slots[slot].pushes,
					 max, len, upto);
}

void
wtc_handoff_push_consume(int slot, uint64 upto)
{
	ring_consume(&handoff->slots[slot].pushes, upto);
}

/*
 * wtc_handoff_push_entry
 *		Parse the push entry at buf: *out its calls, *keys where its keys
 *		begin (read them with wtc_handoff_entry).  Returns its length.
 */
Size
wtc_handoff_push_entry(const char *buf, WtcPushEntry *e)
{
	WtcPushHeader ph;

	memcpy(&ph, buf, sizeof(ph));
	e->out = buf + sizeof(ph);
	e->outlen = ph.outlen;
	e->ncalls = ph.ncalls;
	e->nkeys = ph.nkeys;
	e->keys_per_call = ph.keys_per_call;
	e->keys = buf + sizeof(ph) + ph.outlen;
	return ph.len;
}

/*
 * wtc_handoff_push_sleep
 *		The worker is about to sleep: true if the push ring is empty, and
 *		then the next push wakes it.  False if pushes are waiting.
 */
bool
wtc_handoff_push_sleep(int slot)
{
	WtcDbSlot  *s = &handoff->slots[slot];
	bool		empty;

	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	empty = (s->pushes.head == s->pushes.tail);
	s->push_waiting = empty;
	LWLockRelease(handoff->lock);
	return empty;
}

/*
 * wtc_handoff_take_kick
 *		True once after the worker was woken for something other than
 *		pushes (wtc_handoff_wake, wtc_handoff_wake_all).
 */
bool
wtc_handoff_take_kick(int slot)
{
	bool		r;

	LWLockAcquire(handoff->lock, LW_EXCLUSIVE);
	r = handoff->slots[slot].kicked;
	handoff->slots[slot].kicked = false;
	LWLockRelease(handoff->lock);
	return r;
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
			(s->keys.head != s->keys.tail || s->pushes.head != s->pushes.tail ||
			 s->nresync > 0 || s->resync_all))
			empty = false;
	}
	LWLockRelease(handoff->lock);
	return empty;
}
