/*-------------------------------------------------------------------------
 *
 * fence.c
 *	  Writes to Valkey through wt_cache's server-side script.
 *
 * Every write, at commit and on retry, is one EVALSHA of the script below
 * for up to wt_cache.keys_per_call keys.  Valkey runs a script atomically,
 * so readers never see part of a call, and a transaction of up to that many
 * keys costs one command.  The script treats each key on its own and
 * returns a status per key: 1 when written, or an error text.  A key that
 * holds another type than a string (someone else's data, or a mistake) is
 * not overwritten: its status is a WRONGTYPE error, and the retry path
 * parks it as dead while the other keys land.
 *
 * The script is loaded (SCRIPT LOAD) right after connecting, before any
 * commit record, and its SHA1 kept with the connection.
 *
 * NB: wtc_batch_reply runs in the XACT_EVENT_COMMIT callback: it must not
 * raise an ERROR or allocate.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "fence.h"

int			wtc_keys_per_call = 1000;

/*
 * KEYS: the keys.  ARGV: for key i, ARGV[2i-1] is the operation, "D" to
 * delete or "S" or "S<ttl seconds>" to set, and ARGV[2i] the value.
 */
static const char apply_script[] =
"local res = {}\n"
"for i = 1, #KEYS do\n"
"  local k = KEYS[i]\n"
"  local op = ARGV[2 * i - 1]\n"
"  local t = redis.call('TYPE', k)['ok']\n"
"  if t ~= 'string' and t ~= 'none' then\n"
"    res[i] = 'WRONGTYPE key holds a ' .. t .. ', not a string'\n"
"  elseif op == 'D' then\n"
"    redis.call('DEL', k)\n"
"    res[i] = 1\n"
"  elseif #op > 1 then\n"
"    redis.call('SET', k, ARGV[2 * i], 'EX', string.sub(op, 2))\n"
"    res[i] = 1\n"
"  else\n"
"    redis.call('SET', k, ARGV[2 * i])\n"
"    res[i] = 1\n"
"  end\n"
"end\n"
"return res\n";

static void
append_bulk(StringInfo buf, const char *s, size_t len)
{
	appendStringInfo(buf, "$%zu\r\n", len);
	appendBinaryStringInfo(buf, s, len);
	appendBinaryStringInfo(buf, "\r\n", 2);
}

void
wtc_batch_init(WtcWriteBatch *b, const char *sha)
{
	memset(b, 0, sizeof(*b));
	initStringInfo(&b->out);
	initStringInfo(&b->keys);
	initStringInfo(&b->args);
	b->sha = sha;
	b->keys_per_call = wtc_keys_per_call;
}

/* Assemble the call being built: *N EVALSHA sha numkeys keys... args... */
static void
finish_call(WtcWriteBatch *b)
{
	char		num[16];
	int			numlen;

	if (b->call_keys == 0)
		return;
	appendStringInfo(&b->out, "*%d\r\n", 3 + 3 * b->call_keys);
	append_bulk(&b->out, "EVALSHA", 7);
	append_bulk(&b->out, b->sha, strlen(b->sha));
	numlen = pg_ltoa(b->call_keys, num);
	append_bulk(&b->out, num, numlen);
	appendBinaryStringInfo(&b->out, b->keys.data, b->keys.len);
	appendBinaryStringInfo(&b->out, b->args.data, b->args.len);
	resetStringInfo(&b->keys);
	resetStringInfo(&b->args);
	b->call_keys = 0;
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
	append_bulk(&b->keys, key, keylen);
	if (value == NULL)
	{
		append_bulk(&b->args, "D", 1);
		append_bulk(&b->args, "", 0);
	}
	else
	{
		char		op[16];
		int			oplen = 1;

		op[0] = 'S';
		if (ttl > 0)
			oplen += pg_ltoa(ttl, op + 1);
		append_bulk(&b->args, op, oplen);
		append_bulk(&b->args, value, vallen);
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
	pfree(b->args.data);
	b->keys.data = b->args.data = NULL;
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
