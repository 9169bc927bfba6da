/*-------------------------------------------------------------------------
 *
 * inspect.c
 *	  Superuser-only functions that read Valkey directly, for tests and for
 *	  looking at what the cache holds: wt_cache.cache_get(key) and
 *	  wt_cache.cache_command(VARIADIC args).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "encode.h"
#include "wt_cache.h"

PG_FUNCTION_INFO_V1(wtc_cache_get);
PG_FUNCTION_INFO_V1(wtc_cache_command);

typedef struct ReplyText
{
	bool		isnull;
	bool		iserror;
	StringInfoData text;
} ReplyText;

/* Render one element of an array reply as JSON */
static void
element_json(void *arg, long index, const RespReply *el)
{
	StringInfo	out = (StringInfo) arg;

	if (index > 0)
		appendStringInfoChar(out, ',');
	if (el->is_nil)
		appendStringInfoString(out, "null");
	else if (el->type == ':')
		appendStringInfo(out, "%lld", el->integer);
	else if (el->type == '*')
		appendStringInfoString(out, "\"(array)\"");
	else
	{
		char	   *s = pnstrdup(el->str, el->len);

		escape_json(out, s);
		pfree(s);
	}
}

/* Keep the (only) reply as text: bulk or status as is, integer in decimal */
static void
keep_reply(void *arg, int index, const RespReply *reply, const char *buf,
		   size_t len)
{
	ReplyText  *rt = (ReplyText *) arg;

	initStringInfo(&rt->text);
	rt->isnull = reply->is_nil;
	rt->iserror = (reply->type == '-');
	if (reply->is_nil)
		return;
	switch (reply->type)
	{
		case ':':
			appendStringInfo(&rt->text, "%lld", reply->integer);
			break;
		case '*':
			appendStringInfoChar(&rt->text, '[');
			(void) resp_parse(buf, len, (RespReply *) reply, element_json,
							  &rt->text);
			appendStringInfoChar(&rt->text, ']');
			break;
		default:
			appendBinaryStringInfo(&rt->text, reply->str, reply->len);
			break;
	}
}

static void
check_superuser(const char *fname)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", fname),
				 errdetail("Only superusers may read Valkey directly.")));
}

static ReplyText *
run_command(int argc, const char **argv, const size_t *argvlen)
{
	StringInfoData cmd;
	ReplyText  *rt = palloc0(sizeof(ReplyText));

	initStringInfo(&cmd);
	wtc_append_command(&cmd, argc, argv, argvlen);
	if (wtc_conn_ensure() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not connect to Valkey: %s",
						wtc_backend_conn.errbuf)));
	if (wtc_conn_exchange(&wtc_backend_conn, cmd.data, cmd.len, 1,
						  wtc_now_us() + (int64_t) wtc_command_timeout_ms * 1000,
						  keep_reply, rt) != 0)
	{
		char	   *err = pstrdup(wtc_backend_conn.errbuf);

		wtc_conn_close(&wtc_backend_conn);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("Valkey command failed: %s", err)));
	}
	if (rt->iserror)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("Valkey replied with an error: %s", rt->text.data)));
	return rt;
}

/*
 * wt_cache.cache_get(key text) RETURNS text: GET key, NULL if missing.
 */
Datum
wtc_cache_get(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	const char *argv[2] = {"GET", VARDATA_ANY(key)};
	size_t		argvlen[2] = {3, VARSIZE_ANY_EXHDR(key)};
	ReplyText  *rt;

	check_superuser("cache_get");
	rt = run_command(2, argv, argvlen);
	if (rt->isnull)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(rt->text.data, rt->text.len));
}

/*
 * wt_cache.cache_command(VARIADIC args text[]) RETURNS text: run one
 * command; the reply as text (arrays as a JSON array), NULL for nil.
 */
Datum
wtc_cache_command(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char **argv;
	size_t	   *argvlen;
	ReplyText  *rt;

	check_superuser("cache_command");
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache_command needs a command")));
	argv = palloc(sizeof(char *) * n);
	argvlen = palloc(sizeof(size_t) * n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cache_command arguments must not be NULL")));
		t = DatumGetTextPP(elems[i]);
		argv[i] = VARDATA_ANY(t);
		argvlen[i] = VARSIZE_ANY_EXHDR(t);
	}
	rt = run_command(n, argv, argvlen);
	if (rt->isnull)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(rt->text.data, rt->text.len));
}
