/*-------------------------------------------------------------------------
 *
 * resp.c
 *	  Reading RESP2 replies from Valkey.
 *
 * The commit path must not raise an ERROR and must not allocate from
 * PostgreSQL memory contexts (an out-of-memory ERROR after the commit record
 * becomes a PANIC), so replies are parsed in place, without allocation: the
 * caller keeps the bytes in its own buffer and this file only points into
 * it.
 *
 * Pure C on purpose: it must stay free of backend calls so it can be fuzzed
 * on its own (see test/fuzz).
 *
 *-------------------------------------------------------------------------
 */
#include "resp.h"

#include <string.h>

/*
 * Find the end of the line starting at buf[pos]: returns the index of the
 * '\r' of "\r\n", or -1 if the line is not complete yet, or -2 if a bare
 * '\n' shows the stream is not RESP.
 */
static long
find_crlf(const char *buf, size_t len, size_t pos)
{
	const char *nl = memchr(buf + pos, '\n', len - pos);

	if (nl == NULL)
		return -1;
	if (nl == buf + pos || nl[-1] != '\r')
		return -2;
	return (long) (nl - 1 - buf);
}

/*
 * Parse a decimal integer in buf[start..end); 0 on success.  Any signed
 * 64-bit value is accepted, -9223372036854775808 included (a server may
 * send it, e.g. as the reply of INCRBY).
 */
static int
parse_int(const char *buf, size_t start, size_t end, long long *val)
{
	int			neg = 0;
	unsigned long long v = 0;
	unsigned long long limit = 9223372036854775807ULL;
	size_t		i = start;

	if (i < end && buf[i] == '-')
	{
		neg = 1;
		limit++;
		i++;
	}
	if (i == end)
		return -1;
	for (; i < end; i++)
	{
		unsigned char c = (unsigned char) buf[i];

		if (c < '0' || c > '9')
			return -1;
		if (v > (limit - (c - '0')) / 10)
			return -1;
		v = v * 10 + (c - '0');
	}
	/* NB: -(long long) v would overflow for the most negative value */
	if (neg && v > 0)
		*val = -(long long) (v - 1) - 1;
	else
		*val = (long long) v;
	return 0;
}

/*
 * Parse one reply at buf[pos]; on success set *next to the byte after it.
 * Returns 1 when complete, RESP_INCOMPLETE, or RESP_PROTOCOL_ERROR.
 */
static int
parse_one(const char *buf, size_t len, size_t pos, int depth, size_t *next,
		  RespReply *out, RespElementVisitor visit, void *arg)
{
	long		eol;
	char		type;

	memset(out, 0, sizeof(*out));
	if (depth > RESP_MAX_DEPTH)
		return RESP_PROTOCOL_ERROR;
	if (pos >= len)
		return RESP_INCOMPLETE;
	type = buf[pos];
	eol = find_crlf(buf, len, pos + 1);
	if (eol == -2)
		return RESP_PROTOCOL_ERROR;
	if (eol == -1)
		return RESP_INCOMPLETE;
	out->type = type;

	switch (type)
	{
		case '+':
		case '-':
			out->str = buf + pos + 1;
			out->len = (size_t) eol - pos - 1;
			if (type == '-')
			{
				out->err = out->str;
				out->errlen = out->len;
			}
			*next = (size_t) eol + 2;
			return 1;

		case ':':
			if (parse_int(buf, pos + 1, (size_t) eol, &out->integer) != 0)
				return RESP_PROTOCOL_ERROR;
			*next = (size_t) eol + 2;
			return 1;

		case '$':
			{
				size_t		start = (size_t) eol + 2;

				if (parse_int(buf, pos + 1, (size_t) eol, &out->integer) != 0)
					return RESP_PROTOCOL_ERROR;
				if (out->integer == -1)
				{
					out->is_nil = 1;
					*next = start;
					return 1;
				}
				if (out->integer < 0 || out->integer > RESP_MAX_BULK)
					return RESP_PROTOCOL_ERROR;
				if (len - start < (size_t) out->integer + 2)
					return RESP_INCOMPLETE;
				if (buf[start + out->integer] != '\r' ||
					buf[start + out->integer + 1] != '\n')
					return RESP_PROTOCOL_ERROR;
				out->str = buf + start;
				out->len = (size_t) out->integer;
				*next = start + (size_t) out->integer + 2;
				return 1;
			}

		case '*':
			{
				size_t		p = (size_t) eol + 2;

				if (parse_int(buf, pos + 1, (size_t) eol, &out->integer) != 0)
					return RESP_PROTOCOL_ERROR;
				if (out->integer == -1)
				{
					out->is_nil = 1;
					*next = p;
					return 1;
				}
				if (out->integer < 0 || out->integer > RESP_MAX_ELEMENTS)
					return RESP_PROTOCOL_ERROR;
				for (long long i = 0; i < out->integer; i++)
				{
					RespReply	el;
					int			rc;

					size_t		start = p;

					rc = parse_one(buf, len, p, depth + 1, &p, &el, NULL, NULL);
					if (rc != 1)
						return rc;
					el.raw = buf + start;
					el.rawlen = p - start;
					if (el.err != NULL && out->err == NULL)
					{
						out->err = el.err;
						out->errlen = el.errlen;
					}
					if (visit)
						visit(arg, (long) i, &el);
				}
				*next = p;
				return 1;
			}

		default:
			return RESP_PROTOCOL_ERROR;
	}
}

long
resp_parse(const char *buf, size_t len, RespReply *out,
		   RespElementVisitor visit, void *arg)
{
	size_t		next = 0;
	int			rc;

	rc = parse_one(buf, len, 0, 0, &next, out, NULL, NULL);
	if (rc != 1)
		return rc;
	out->raw = buf;
	out->rawlen = next;
	/* Visit elements only once the whole reply is known to be there */
	if (visit != NULL && out->type == '*' && !out->is_nil)
	{
		(void) parse_one(buf, len, 0, 0, &next, out, visit, arg);
		out->raw = buf;
		out->rawlen = next;
	}
	return (long) next;
}

/*
 * resp_info_field
 *		Line by line, never past text + len: the text of a bulk string is
 *		not NUL-terminated.
 */
const char *
resp_info_field(const char *text, size_t len, const char *name, size_t *vlen)
{
	size_t		namelen = strlen(name);
	size_t		pos = 0;

	while (pos < len)
	{
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t		linelen = nl ? (size_t) (nl - line) : len - pos;

		pos += linelen + 1;
		if (linelen > 0 && line[linelen - 1] == '\r')
			linelen--;
		if (linelen > namelen && memcmp(line, name, namelen) == 0 &&
			line[namelen] == ':')
		{
			*vlen = linelen - namelen - 1;
			return line + namelen + 1;
		}
	}
	return NULL;
}
