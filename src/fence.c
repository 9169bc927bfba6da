/*-------------------------------------------------------------------------
 *
 * fence.c
 *	  Writes to Valkey through wt_cache's server-side script.
 *
 * Every write, at commit and on retry, is one EVALSHA of the script below
 * for up to wt_cache.keys_per_call keys.  Valkey runs a script atomically,
 * so readers never see part of a call, and a transaction of up to that many
 * keys costs one command.  The script treats each key on its own and
 * returns a status per key: 1 when written, or an error text (or just 1
 * when every key was written).  A key that
 * holds another type than a string (someone else's data, or a mistake) is
 * not overwritten: its status is a WRONGTYPE error, and the retry path
 * parks it as dead while the other keys land.
 *
 * The script is loaded (SCRIPT LOAD) right after connecting, before any
 * commit record, and its SHA1 kept with the connection.
 *
 * NB: wtc_batch_reply runs in the XACT_EVENT_COMMIT callback: it must not
 * raise an ERROR or allocate.  So does wtc_batch_add for a streamed batch
 * (below), only after wtc_batch_stream_room said the key fits: then its
 * appends find the room they need and never enlarge a buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

#include "epoch.h"
#include "fence.h"

/*
 * Room for a call's header in out, beyond its keys, version keys, ops and
 * arguments: "*<count>\r\n" (up to 14 bytes), EVALSHA (13), the SHA1 (47),
 * numkeys (up to 16), the version (27), the header of ops and its CRLF (up
 * to 16), and the terminating NUL
 */
#define WTC_CALL_HEADER_BOUND 160

int			wtc_keys_per_call = 1000;
int			wtc_tombstone_ms = 60000;
bool		wtc_test_fencing = true;

/*
 * Versioned writes (newer never loses to older).  Each call carries one
 * version, ARGV[1]: 20 characters, the epoch (4 hex digits) and an LSN (16
 * hex digits), so that versions compare as strings.  Of n keys, key i is
 * KEYS[i] and its version key KEYS[n+i] = "{<key>}:v" (the braces put both
 * in the same cluster hash slot).  ARGV[2] holds one byte per key, its
 * operation: "S" sets it (one argument follows in ARGV: the value), "E"
 * sets it with an expiry (two: seconds, value), "D" deletes it (one: how
 * long its tombstone stays, in ms).  Those arguments follow from ARGV[3] in
 * the order of the keys (the script compares string.byte of them: 83 "S",
 * 69 "E", 68 "D"; 85 is the "U" of an unfenced version).  A write is
 * applied only if its version is newer than the version key's; a delete
 * leaves the version behind for a while (a tombstone), so a late older
 * write cannot bring the row back.  The key's type is checked (a key
 * holding a list or hash is someone else's, and is not overwritten) only
 * while it has no version: a key with a version is one wt_cache wrote.
 * The reply is the integer 1 when every key was written (nearly every
 * call), otherwise a status per key: 1 written, 2 refused as older (not an
 * error: something newer is there), or an error text.  An equal version is
 * applied: two commits never have one, and a retry or resync whose version
 * (a WAL position) equals the end of a commit's record read what that
 * commit wrote.  A version starting with "U" means unfenced (the test-only
 * wt_cache.test_fencing = off).
 *
 * Cost: Valkey's time per key is mostly the script's calls into the server
 * (each one looks up a command and its keys) and its arguments (each one
 * parsed, then copied into a Lua string that the collector frees later), so
 * the script makes as few of both as it can: one MGET reads every version
 * (per 1,000 keys; the version keys come last in KEYS so that it takes them
 * as they are), and the plain writes (no expiry) go out in one MSET of keys
 * and versions (per 1,000 keys); the operations are one argument, not one
 * per key, and the reply of a call whose keys all landed is one integer.
 * Keys with no version yet (MGET cannot tell a missing key from one of
 * another type) are first probed together: one EXISTS of them and their
 * version keys (per 500 keys).  Only when it finds one of them there (rare:
 * a key someone else wrote) does each key with no version cost a TYPE (of
 * the key and of its version key), as new rows would otherwise.  Deletes
 * and expiring writes cost a call each.  The MSET buffer is flushed before
 * any other write, so that the writes land in the order of the keys; the
 * flush is written out where it happens rather than as a local function,
 * whose closure, made anew by every call, cost about 2,000 instructions per
 * TPC-B call (2 %, callgrind).
 * Under callgrind on Redis 7.0, a TPC-B call (three keys, one of them new)
 * took Valkey about 98,800 instructions with an argument per key's
 * operation and a status per key in the reply, about 89,000 in this form;
 * test/bench-valkey counts it beside a plain MSET of the same keys.
 */
static const char apply_script[] =
"local ver, ops = ARGV[1], ARGV[2]\n"
"local fenced = string.byte(ver, 1) ~= 85\n"
"local n = #KEYS / 2\n"
"local cur\n"
"if not fenced then\n"
"  cur = {}\n"
"elseif n <= 1000 then\n"
"  cur = redis.call('MGET', unpack(KEYS, n + 1, 2 * n))\n"
"else\n"
"  cur = {}\n"
"  for a = 1, n, 1000 do\n"
"    local got = redis.call('MGET', unpack(KEYS, n + a, n + math.min(n, a + 999)))\n"
"    for j = 1, #got do cur[a + j - 1] = got[j] end\n"
"  end\n"
"end\n"
"local typed = false\n"
"do\n"
"  local probe, np = nil, 0\n"
"  for i = 1, n do\n"
"    if not cur[i] then\n"
"      probe = probe or {}\n"
"      probe[np + 1] = KEYS[i]\n"
"      np = np + 1\n"
"      if fenced then probe[np + 1] = KEYS[n + i] np = np + 1 end\n"
"    end\n"
"    if np >= 1000 or (i == n and np > 0) then\n"
"      if redis.call('EXISTS', unpack(probe, 1, np)) > 0 then typed = true break end\n"
"      np = 0\n"
"    end\n"
"  end\n"
"end\n"
"local res, sets, ns, a = nil, {}, 0, 3\n"
"for i = 1, n do\n"
"  local k, v = KEYS[i], KEYS[n + i]\n"
"  local op, c = string.byte(ops, i), cur[i]\n"
"  local val, num\n"
"  if op == 83 then val = ARGV[a] a = a + 1\n"
"  elseif op == 69 then num = ARGV[a] val = ARGV[a + 1] a = a + 2\n"
"  else num = ARGV[a] a = a + 1 end\n"
"  local st = 1\n"
"  if typed and not c then\n"
"    local t = redis.call('TYPE', k)['ok']\n"
"    if t ~= 'string' and t ~= 'none' then\n"
"      st = 'WRONGTYPE key holds a ' .. t .. ', not a string'\n"
"    elseif fenced then\n"
"      t = redis.call('TYPE', v)['ok']\n"
"      if t ~= 'none' then st = 'WRONGTYPE version key holds a ' .. t .. ', not a string' end\n"
"    end\n"
"  end\n"
"  if st ~= 1 then\n"
"  elseif c and c > ver then\n"
"    st = 2\n"
"  elseif op == 83 then\n"
"    sets[ns + 1] = k\n"
"    sets[ns + 2] = val\n"
"    if fenced then\n"
"      sets[ns + 3] = v\n"
"      sets[ns + 4] = ver\n"
"      ns = ns + 4\n"
"    else\n"
"      ns = ns + 2\n"
"    end\n"
"    if ns >= 4000 then redis.call('MSET', unpack(sets, 1, ns)) ns = 0 end\n"
"  else\n"
"    if ns > 0 then redis.call('MSET', unpack(sets, 1, ns)) ns = 0 end\n"
"    if op == 68 then\n"
"      redis.call('DEL', k)\n"
"      if fenced then redis.call('SET', v, ver, 'PX', num) end\n"
"    else\n"
"      redis.call('SET', k, val, 'EX', num)\n"
"      if fenced then redis.call('SET', v, ver, 'EX', num) end\n"
"    end\n"
"  end\n"
"  if st ~= 1 and not res then\n"
"    res = {}\n"
"    for j = 1, i - 1 do res[j] = 1 end\n"
"  end\n"
"  if res then res[i] = st end\n"
"end\n"
"if ns > 0 then redis.call('MSET', unpack(sets, 1, ns)) end\n"
"return res or 1\n";

/*
 * Append "<type><len>\r\n" (a bulk string's or an array's header), and
 * append_bulk a whole bulk string.  By hand rather than with
 * appendStringInfo: this runs for every key and value of a push, and a
 * printf per item cost more than the copy.
 */
static inline void
append_len(StringInfo buf, char type, size_t len)
{
	char	   *p;

	enlargeStringInfo(buf, 24);
	p = buf->data + buf->len;
	*p++ = type;
	p += pg_ulltoa_n((uint64) len, p);
	*p++ = '\r';
	*p++ = '\n';
	*p = '\0';
	buf->len = p - buf->data;
}

static inline void
append_bulk(StringInfo buf, const char *s, size_t len)
{
	char	   *p;

	append_len(buf, '$', len);
	enlargeStringInfo(buf, len + 2);
	p = buf->data + buf->len;
	memcpy(p, s, len);
	p += len;
	*p++ = '\r';
	*p++ = '\n';
	*p = '\0';
	buf->len = p - buf->data;
}

void
wtc_batch_init(WtcWriteBatch *b, const char *sha)
{
	memset(b, 0, sizeof(*b));
	initStringInfo(&b->out);
	initStringInfo(&b->keys);
	initStringInfo(&b->vkeys);
	initStringInfo(&b->ops);
	initStringInfo(&b->args);
	b->sha = sha;
	b->keys_per_call = wtc_keys_per_call;
}

/*
 * Assemble the call being built: *N EVALSHA sha numkeys keys... vkeys...
 * version ops args...  The version is a placeholder of WTC_VERSION_LEN bytes whose
 * offset is remembered, so that wtc_batch_set_version can fill it in once
 * it is known (at commit, the commit LSN) without building anything again.
 */
static void
finish_call(WtcWriteBatch *b)
{
	char		num[16];
	int			numlen;

	if (b->call_keys == 0)
		return;
	enlargeStringInfo(&b->out, WTC_CALL_HEADER_BOUND + b->keys.len +
					  b->vkeys.len + b->ops.len + b->args.len);
	append_len(&b->out, '*', 5 + 2 * b->call_keys + b->call_args);
	append_bulk(&b->out, "EVALSHA", 7);
	append_bulk(&b->out, b->sha, strlen(b->sha));
	numlen = pg_ltoa(2 * b->call_keys, num);
	append_bulk(&b->out, num, numlen);
	appendBinaryStringInfo(&b->out, b->keys.data, b->keys.len);
	appendBinaryStringInfo(&b->out, b->vkeys.data, b->vkeys.len);
	append_len(&b->out, '$', WTC_VERSION_LEN);
	if (b->nversions == b->maxversions)
	{
		b->maxversions = Max(8, b->maxversions * 2);
		b->version_at = b->version_at ?
			repalloc(b->version_at, sizeof(int) * b->maxversions) :
			palloc(sizeof(int) * b->maxversions);
	}
	b->version_at[b->nversions++] = b->out.len;
	appendStringInfoSpaces(&b->out, WTC_VERSION_LEN);
	appendBinaryStringInfo(&b->out, "\r\n", 2);
	append_bulk(&b->out, b->ops.data, b->ops.len);
	appendBinaryStringInfo(&b->out, b->args.data, b->args.len);
	resetStringInfo(&b->keys);
	resetStringInfo(&b->vkeys);
	resetStringInfo(&b->ops);
	resetStringInfo(&b->args);
	b->call_keys = 0;
	b->call_args = 0;
	b->ncalls++;
}

/*
 * wtc_batch_add
 *		Add one key: value NULL deletes it, otherwise sets it (with an
 *		expiry of ttl seconds if ttl > 0).
 */
void
wtc_batch_add(WtcWriteBatch *b, const char *key, size_t keylen,
			  const char *value, size_t vallen, int ttl)
{
	char		num[16];

	/* The key, and its version key "{key}:v" in the same hash slot */
	append_bulk(&b->keys, key, keylen);
	append_len(&b->vkeys, '$', keylen + 4);
	appendStringInfoChar(&b->vkeys, '{');
	appendBinaryStringInfo(&b->vkeys, key, keylen);
	appendBinaryStringInfo(&b->vkeys, "}:v\r\n", 5);
	if (value == NULL)
	{
		appendStringInfoChar(&b->ops, 'D');
		append_bulk(&b->args, num, pg_ltoa(wtc_tombstone_ms, num));
		b->call_args++;
	}
	else
	{
		if (ttl > 0)
		{
			appendStringInfoChar(&b->ops, 'E');
			append_bulk(&b->args, num, pg_ltoa(ttl, num));
			b->call_args++;
		}
		else
			appendStringInfoChar(&b->ops, 'S');
		append_bulk(&b->args, value, vallen);
		b->call_args++;
	}
	b->call_keys++;
	b->nkeys++;
	if (b->call_keys >= b->keys_per_call)
		finish_call(b);
}

void
wtc_batch_finish(WtcWriteBatch *b)
{
	finish_call(b);
	pfree(b->keys.data);
	pfree(b->vkeys.data);
	pfree(b->ops.data);
	pfree(b->args.data);
	b->keys.data = b->vkeys.data = b->ops.data = b->args.data = NULL;
}

/*
 * Streamed batches.  A push of several calls is not built before the commit
 * record: building it there meant a copy of every key and row in fresh
 * memory (which the kernel maps page by page) that Valkey could only start
 * on after the commit.  Instead, before the commit record, the buffers are
 * sized for its largest call (wtc_batch_stream_reserve, with
 * wtc_batch_item_bound per key), and at COMMIT each call is built into them
 * and sent while Valkey runs the one before: adding keys, then
 * wtc_batch_stream_next once a call is finished and sent.  Nothing then
 * allocates: wtc_batch_stream_room says whether a key still fits.
 */

/*
 * Upper bound of what one key adds to keys, vkeys, ops and args together
 * (so to out too), with the room each append asks for beyond what it
 * writes: the key with its length (keylen + 23), the version key (keylen +
 * 27), the op (2), its number (up to 37) and the value (vallen + 25).
 */
Size
wtc_batch_item_bound(size_t keylen, size_t vallen)
{
	return 2 * keylen + vallen + 128;
}

/* Size the buffers for calls of up to call_bytes (sum of item bounds) */
void
wtc_batch_stream_reserve(WtcWriteBatch *b, Size call_bytes)
{
	enlargeStringInfo(&b->keys, (int) call_bytes);
	enlargeStringInfo(&b->vkeys, (int) call_bytes);
	enlargeStringInfo(&b->ops, b->keys_per_call + 1);
	enlargeStringInfo(&b->args, (int) call_bytes);
	enlargeStringInfo(&b->out, (int) call_bytes + 2 * WTC_CALL_HEADER_BOUND);
	b->version_at = palloc(sizeof(int));
	b->maxversions = 1;
}

/* Does one more key fit without allocating?  Does not throw. */
bool
wtc_batch_stream_room(const WtcWriteBatch *b, size_t keylen, size_t vallen)
{
	Size		need = wtc_batch_item_bound(keylen, vallen);

	/* out takes the four and finish_call's header */
	return (Size) (b->keys.maxlen - b->keys.len) > need &&
		(Size) (b->vkeys.maxlen - b->vkeys.len) > need &&
		b->ops.maxlen - b->ops.len > 1 &&
		(Size) (b->args.maxlen - b->args.len) > need &&
		(Size) (b->out.maxlen - b->keys.len - b->vkeys.len - b->ops.len -
				b->args.len) > need + WTC_CALL_HEADER_BOUND + 1;
}

/* Finish the call being built, if any keys are in it.  Does not throw. */
void
wtc_batch_stream_flush(WtcWriteBatch *b)
{
	finish_call(b);
}

/* The finished call was sent: empty out for the next.  Does not throw. */
void
wtc_batch_stream_next(WtcWriteBatch *b)
{
	resetStringInfo(&b->out);
	b->nversions = 0;
}

/*
 * wtc_format_version
 *		The version of a write made at lsn: the current epoch (epoch.c) and
 *		the LSN in fixed-width hex,
 *		or the unfenced marker when wt_cache.test_fencing is off.  dst needs
 *		WTC_VERSION_LEN + 1 bytes.  Does not throw.
 */
void
wtc_format_version(char *dst, uint64 lsn)
{
	if (!wtc_test_fencing)
		snprintf(dst, WTC_VERSION_LEN + 1, "U%0*d", WTC_VERSION_LEN - 1, 0);
	else
		snprintf(dst, WTC_VERSION_LEN + 1, "%04X%016llX",
				 (unsigned int) wtc_epoch_current(), (unsigned long long) lsn);
}

/*
 * wtc_batch_set_version
 *		Fill in the version of every call of a finished batch.  Only memcpy:
 *		safe in the XACT_EVENT_COMMIT callback.
 */
void
wtc_batch_set_version(WtcWriteBatch *b, const char *version)
{
	for (int i = 0; i < b->nversions; i++)
		memcpy(b->out.data + b->version_at[i], version, WTC_VERSION_LEN);
}

/* Per-key statuses inside one call's reply */
typedef struct CallStatus
{
	WtcBatchReplies *r;
	int			first;
} CallStatus;

static void
element_status(void *arg, long index, const RespReply *el)
{
	CallStatus *cs = (CallStatus *) arg;
	int			keyindex = cs->first + (int) index;

	if (keyindex >= cs->r->nkeys)
		return;
	if (el->type == ':' && el->integer == 1)
		cs->r->on_key(cs->r->arg, keyindex, NULL, 0);
	else if (el->type == ':' && el->integer == 2)
	{
		/* Refused: Valkey holds a newer version.  Done, not failed. */
		cs->r->nstale++;
		cs->r->on_key(cs->r->arg, keyindex, NULL, 0);
	}
	else if (el->type == '$' || el->type == '+' || el->type == '-')
		cs->r->on_key(cs->r->arg, keyindex, el->str, el->len);
	else
		cs->r->on_key(cs->r->arg, keyindex, "unexpected status", 17);
}

/*
 * wtc_batch_reply
 *		Reply visitor for wtc_conn_exchange: reports each key's result to
 *		r->on_key.  An error reply for a whole call (the script could not
 *		run: NOSCRIPT, OOM, BUSY...) is the result of each of its keys.
 *		Does not allocate or throw.
 */
void
wtc_batch_reply(void *arg, int index, const RespReply *reply,
				const char *buf, size_t len)
{
	WtcBatchReplies *r = (WtcBatchReplies *) arg;
	int			first = index * r->keys_per_call;
	int			last = Min(first + r->keys_per_call, r->nkeys);

	if (reply->type == ':' && reply->integer == 1)
	{
		/* Every key of the call was written */
		for (int i = first; i < last; i++)
			r->on_key(r->arg, i, NULL, 0);
		return;
	}
	if (reply->type == '*' && !reply->is_nil)
	{
		CallStatus	cs;
		RespReply	again;

		cs.r = r;
		cs.first = first;
		if (reply->integer == last - first)
		{
			(void) resp_parse(buf, len, &again, element_status, &cs);
			return;
		}
	}
	for (int i = first; i < last; i++)
	{
		if (reply->type == '-')
			r->on_key(r->arg, i, reply->str, reply->len);
		else
			r->on_key(r->arg, i, "unexpected reply to EVALSHA", 27);
	}
}

/* Remembers the SHA1 that SCRIPT LOAD returns */
static void
keep_sha(void *arg, int index, const RespReply *reply, const char *buf,
		 size_t len)
{
	WtcConn    *conn = (WtcConn *) arg;

	if (reply->type == '$' && reply->len == 40)
	{
		memcpy(conn->script_sha, reply->str, 40);
		conn->script_sha[40] = '\0';
	}
	else
		snprintf(conn->errbuf, sizeof(conn->errbuf), "SCRIPT LOAD failed: %.*s",
				 (int) Min(reply->len, 200), reply->str ? reply->str : "");
}

/*
 * wtc_script_load
 *		Load the script on a new connection.  Returns 0, or -1 with
 *		conn->errbuf set.  Does not throw.
 */
int
wtc_script_load(WtcConn *conn, int64_t deadline_us)
{
	char		cmd[sizeof(apply_script) + 64];
	int			len;

	len = snprintf(cmd, sizeof(cmd), "*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$%zu\r\n%s\r\n",
				   strlen(apply_script), apply_script);
	conn->script_sha[0] = '\0';
	if (wtc_conn_exchange(conn, cmd, len, 1, deadline_us, keep_sha, conn) != 0)
		return -1;
	return conn->script_sha[0] != '\0' ? 0 : -1;
}

/*
 * wtc_error_is_transient
 *		Will trying again later help?  Server states that pass (loading,
 *		busy with a script, out of memory, failover in progress) and a
 *		script cache that was flushed, yes; anything else (WRONGTYPE, a
 *		value too large) is a problem of the key itself.
 */
int
wtc_error_is_transient(const char *err, size_t len)
{
	static const char *const transient[] = {
		"LOADING", "BUSY", "OOM", "NOSCRIPT", "TRYAGAIN", "CLUSTERDOWN",
		"MASTERDOWN", "READONLY", "NOREPLICAS", "MISCONF", "unexpected"
	};

	for (int i = 0; i < (int) lengthof(transient); i++)
	{
		size_t		n = strlen(transient[i]);

		if (len >= n && memcmp(err, transient[i], n) == 0)
			return 1;
	}
	return 0;
}
