/*-------------------------------------------------------------------------
 *
 * encode.c
 *	  Rows to cache keys and JSON values; RESP commands.
 *
 * The bytes written to Valkey must never depend on the writing session's
 * settings: two sessions writing one row must write the same bytes, or
 * verify would report differences that are not there.  So values are
 * rendered as row_to_json renders them under TimeZone = UTC, DateStyle =
 * ISO, IntervalStyle = postgres, bytea_output = hex and extra_float_digits
 * = 1, whatever the session has set: wtc_fixed_settings_enter sets those
 * variables directly (no GUC machinery, no catalog access) and
 * wtc_fixed_settings_exit puts the session's values back.
 *
 * The JSON is built column by column in C from categories worked out once
 * per table (config.c), following PostgreSQL's json.c exactly; arrays and
 * composite values are handed to array_to_json and row_to_json themselves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"

#include "encode.h"
#include "keyenc.h"

static pg_tz *utc_tz = NULL;

/*
 * wtc_fixed_settings_enter
 *		Save the session's output settings and set the fixed ones.  The
 *		caller must call wtc_fixed_settings_exit, also on error (PG_FINALLY).
 */
void
wtc_fixed_settings_enter(WtcSavedSettings *saved)
{
	if (utc_tz == NULL)
	{
		utc_tz = pg_tzset("UTC");
		if (utc_tz == NULL)
			elog(ERROR, "could not load time zone \"UTC\"");
	}
	saved->extra_float_digits = extra_float_digits;
	saved->interval_style = IntervalStyle;
	saved->date_style = DateStyle;
	saved->date_order = DateOrder;
	saved->bytea_output = bytea_output;
	saved->timezone = session_timezone;

	extra_float_digits = 1;
	IntervalStyle = INTSTYLE_POSTGRES;
	DateStyle = USE_ISO_DATES;
	DateOrder = DATEORDER_MDY;
	bytea_output = BYTEA_OUTPUT_HEX;
	session_timezone = utc_tz;
}

void
wtc_fixed_settings_exit(const WtcSavedSettings *saved)
{
	extra_float_digits = saved->extra_float_digits;
	IntervalStyle = saved->interval_style;
	DateStyle = saved->date_style;
	DateOrder = saved->date_order;
	bytea_output = saved->bytea_output;
	session_timezone = saved->timezone;
}

/*
 * wtc_render_key
 *		Append "<prefix>:<part>[:<part>...]" for the row in slot.  Returns
 *		false if a key column is NULL (possible only if a unique key lost its
 *		NOT NULL after attach): such a row has no key.
 */
bool
wtc_render_key(const WtcTableConfig *cfg, TupleTableSlot *slot, StringInfo out)
{
	appendBinaryStringInfo(out, cfg->prefix, cfg->prefix_len);
	for (int i = 0; i < cfg->nkeys; i++)
	{
		const WtcKeyColumn *kc = &cfg->keys[i];
		bool		isnull;
		Datum		v = slot_getattr(slot, kc->attnum, &isnull);
		char	   *s;
		size_t		len;
		size_t		enclen;

		if (isnull)
			return false;
		s = OutputFunctionCall((FmgrInfo *) &kc->out, v);
		len = strlen(s);
		enclen = wtc_key_part_encoded_len(s, len);
		enlargeStringInfo(out, enclen + 1);
		out->data[out->len++] = ':';
		out->len += wtc_key_part_encode(out->data + out->len, s, len);
		out->data[out->len] = '\0';
		pfree(s);
	}
	return true;
}

static void
append_text_datum(StringInfo out, Datum t)
{
	text	   *txt = DatumGetTextPP(t);

	appendBinaryStringInfo(out, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt));
}

/*
 * Append s[0..len) as a JSON string: the bytes escape_json appends, without
 * a call per character: runs that need no escape are copied at once.
 */
static void
append_json_string(StringInfo out, const char *s, size_t len)
{
	const char *run = s;
	const char *end = s + len;

	appendStringInfoChar(out, '"');
	for (const char *p = s; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= ' ' && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			default:
				appendStringInfo(out, "\\u%04x", (int) c);
				break;
		}
	}
	appendBinaryStringInfo(out, run, end - run);
	appendStringInfoChar(out, '"');
}

/*
 * wtc_render_json
 *		Append the row in slot as a JSON object of the configured columns,
 *		byte for byte what row_to_json gives under the fixed settings.
 */
void
wtc_render_json(const WtcTableConfig *cfg, TupleTableSlot *slot, StringInfo out)
{
	slot_getsomeattrs(slot, cfg->max_attnum);
	appendStringInfoChar(out, '{');
	for (int i = 0; i < cfg->ncols; i++)
	{
		const WtcColumn *col = &cfg->cols[i];
		Datum		v = slot->tts_values[col->attnum - 1];
		char	   *s;

		if (i > 0)
			appendStringInfoChar(out, ',');
		appendBinaryStringInfo(out, col->json_name, col->json_name_len);
		if (slot->tts_isnull[col->attnum - 1])
		{
			appendBinaryStringInfo(out, "null", 4);
			continue;
		}
		switch (col->category)
		{
			case WTC_JSON_BOOL:
				if (DatumGetBool(v))
					appendBinaryStringInfo(out, "true", 4);
				else
					appendBinaryStringInfo(out, "false", 5);
				break;
			case WTC_JSON_INTEGER:
				{
					char		buf[MAXINT8LEN + 1];
					int			len;

					if (col->typid == INT2OID)
						len = pg_ltoa(DatumGetInt16(v), buf);
					else if (col->typid == INT4OID)
						len = pg_ltoa(DatumGetInt32(v), buf);
					else
						len = pg_lltoa(DatumGetInt64(v), buf);
					appendBinaryStringInfo(out, buf, len);
				}
				break;
			case WTC_JSON_NUMERIC:
				s = OutputFunctionCall((FmgrInfo *) &col->fn, v);
				if (IsValidJsonNumber(s, strlen(s)))
					appendStringInfoString(out, s);
				else
					escape_json(out, s);
				pfree(s);
				break;
			case WTC_JSON_DATE:
			case WTC_JSON_TIMESTAMP:
			case WTC_JSON_TIMESTAMPTZ:
				{
					char		buf[MAXDATELEN + 1];

					JsonEncodeDateTime(buf, v,
									   col->category == WTC_JSON_DATE ? DATEOID :
									   col->category == WTC_JSON_TIMESTAMP ?
									   TIMESTAMPOID : TIMESTAMPTZOID,
									   NULL);
					appendStringInfoChar(out, '"');
					appendStringInfoString(out, buf);
					appendStringInfoChar(out, '"');
				}
				break;
			case WTC_JSON_JSON:
				s = OutputFunctionCall((FmgrInfo *) &col->fn, v);
				appendStringInfoString(out, s);
				pfree(s);
				break;
			case WTC_JSON_ARRAY:
				append_text_datum(out, DirectFunctionCall1(array_to_json, v));
				break;
			case WTC_JSON_COMPOSITE:
				append_text_datum(out, DirectFunctionCall1(row_to_json, v));
				break;
			case WTC_JSON_CAST:
				append_text_datum(out, FunctionCall1((FmgrInfo *) &col->fn, v));
				break;
			case WTC_JSON_TEXT:
				{
					/* NB: copied only if stored compressed or out of line */
					text	   *txt = DatumGetTextPP(v);

					append_json_string(out, VARDATA_ANY(txt),
									   VARSIZE_ANY_EXHDR(txt));
					if ((Pointer) txt != DatumGetPointer(v))
						pfree(txt);
				}
				break;
			case WTC_JSON_OTHER:
				s = OutputFunctionCall((FmgrInfo *) &col->fn, v);
				append_json_string(out, s, strlen(s));
				pfree(s);
				break;
		}
	}
	appendStringInfoChar(out, '}');
}

/*
 * wtc_append_command
 *		Append one command in RESP: an array of bulk strings.
 */
void
wtc_append_command(StringInfo buf, int argc, const char **argv,
				   const size_t *argvlen)
{
	appendStringInfo(buf, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++)
	{
		appendStringInfo(buf, "$%zu\r\n", argvlen[i]);
		appendBinaryStringInfo(buf, argv[i], argvlen[i]);
		appendBinaryStringInfo(buf, "\r\n", 2);
	}
}
