/*-------------------------------------------------------------------------
 *
 * commit.c
 *	  Transaction callbacks: push the changes after the commit record.
 *
 * XACT_EVENT_PRE_COMMIT: the transaction can still fail, so everything that
 * can raise an ERROR happens here: the commands are encoded into one buffer
 * and the connection is opened if needed (connecting has no usable
 * deadline, name resolution least of all).
 *
 * XACT_EVENT_COMMIT: the commit record is written and the transaction's
 * row locks are still held.  The prebuilt bytes go to Valkey in one round
 * trip, and the replies are read against one absolute deadline
 * (wt_cache.command_timeout).  COMMIT returns to the client only after
 * that, which is what makes the cache read-your-writes.
 *
 * NB: an ERROR in the XACT_EVENT_COMMIT callback becomes a PANIC.  Nothing
 * called from do_push may raise one: it only writes to a socket, reads into
 * a malloc'd buffer and parses in place (valkey.c, resp.c).  Interrupts are
 * held meanwhile, so nobody can cancel a hung read; the deadline bounds it.
 *
 * Until the retry path exists, a failed push is reported as a WARNING that
 * names the number of keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "changeset.h"
#include "commit.h"
#include "config.h"
#include "encode.h"
#include "wt_cache.h"

/* The push prepared at PRE_COMMIT, carried out at COMMIT */
typedef struct WtcPush
{
	bool		pending;		/* a push was prepared */
	bool		connected;		/* ... and the connection is open */
	StringInfoData cmds;		/* the commands, in TopTransactionContext */
	int			ncmds;
	int			nkeys;
	int			nfailed;		/* keys whose command got an error reply */
	char		firsterr[256];	/* first error reply, or connection error */
} WtcPush;

static WtcPush push;

/*
 * Build the commands and open the connection, at PRE_COMMIT.
 */
static void
prepare_push(void)
{
	int			n = wtc_changeset_count();
	MemoryContext old;

	memset(&push, 0, sizeof(push));
	if (n == 0)
		return;

	old = MemoryContextSwitchTo(TopTransactionContext);
	initStringInfo(&push.cmds);
	for (int i = 0; i < n; i++)
	{
		const WtcChange *ch = wtc_changeset_get(i);

		if (ch->value != NULL)
			wtc_append_set(&push.cmds, ch->key, ch->keylen, ch->value,
						   ch->vallen, ch->ttl);
		else
			wtc_append_del(&push.cmds, ch->key, ch->keylen);
	}
	MemoryContextSwitchTo(old);
	push.ncmds = n;
	push.nkeys = n;
	push.pending = true;

	if (wtc_conn_ensure() == 0)
		push.connected = true;
	else
		strlcpy(push.firsterr, wtc_backend_conn.errbuf, sizeof(push.firsterr));
}

/* Count error replies; keep the first one's text.  Cannot fail. */
static void
count_reply(void *arg, int index, const RespReply *reply, const char *buf,
			size_t len)
{
	WtcPush    *p = (WtcPush *) arg;

	if (reply->err != NULL)
	{
		if (p->nfailed == 0)
		{
			size_t		n = Min(reply->errlen, sizeof(p->firsterr) - 1);

			memcpy(p->firsterr, reply->err, n);
			p->firsterr[n] = '\0';
		}
		p->nfailed++;
	}
}

/*
 * Send the commands and read the replies, at COMMIT.  Must not ERROR.
 */
static void
do_push(void)
{
	int			failed;

	if (push.connected)
	{
		int64_t		deadline = wtc_now_us() +
			(int64_t) wtc_command_timeout_ms * 1000;
		int			rc;

		HOLD_INTERRUPTS();
		rc = wtc_conn_exchange(&wtc_backend_conn, push.cmds.data,
							   push.cmds.len, push.ncmds, deadline,
							   count_reply, &push);
		RESUME_INTERRUPTS();
		if (rc != 0)
		{
			strlcpy(push.firsterr, wtc_backend_conn.errbuf,
					sizeof(push.firsterr));
			wtc_conn_close(&wtc_backend_conn);
			failed = push.nkeys;
		}
		else
			failed = push.nfailed;
	}
	else
		failed = push.nkeys;

	if (failed > 0)
		ereport(WARNING,
				(errmsg_plural("wt_cache could not write %d key to Valkey",
							   "wt_cache could not write %d keys to Valkey",
							   failed, failed),
				 errdetail("%s", push.firsterr),
				 errhint("The transaction is committed; the cache may hold old values for these keys.")));
}

static void
end_of_xact(void)
{
	push.pending = false;
	push.connected = false;
	wtc_changeset_reset();
	wtc_config_end_xact();
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			prepare_push();
			break;
		case XACT_EVENT_COMMIT:
			if (push.pending)
				do_push();
			end_of_xact();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (wtc_changeset_count() > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed a table attached to wt_cache"),
						 errdetail("Two-phase commit of cached changes is not supported yet."),
						 errhint("Commit the transaction directly, or detach the table.")));
			break;
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
			end_of_xact();
			break;
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	wtc_changeset_subxact(event, mySubid, parentSubid);
}

void
wtc_commit_init(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}
