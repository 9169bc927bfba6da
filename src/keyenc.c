/*-------------------------------------------------------------------------
 *
 * keyenc.c
 *	  Cache key encoding.
 *
 * A key is "<prefix>:<part1>[:<part2>...]".  Each part is the text output of
 * a key column with the bytes that could make a key ambiguous (the separator
 * ':', the escape '%'), that could pick a cluster hash slot ('{', '}'), or
 * that would upset a terminal (control bytes) written as %XX.  A prefix
 * carries none of those and no glob character, so SCAN "<prefix>:*" matches
 * exactly one table's keys.
 *
 * Pure C on purpose: this file must stay free of backend calls so that it
 * can be fuzzed on its own (see test/fuzz).
 *
 *-------------------------------------------------------------------------
 */
#include "keyenc.h"

#include <string.h>

static const char hexdigits[] = "0123456789ABCDEF";

/*
 * wtc_key_part_encoded_len
 *		Bytes wtc_key_part_encode will write for src[0..len).
 */
size_t
wtc_key_part_encoded_len(const char *src, size_t len)
{
	size_t		out = len;

	for (size_t i = 0; i < len; i++)
		if (wtc_key_byte_needs_escape((unsigned char) src[i]))
			out += 2;
	return out;
}

/*
 * wtc_key_part_encode
 *		Percent-encode src[0..len) into dst, which must have room for
 *		wtc_key_part_encoded_len(src, len) bytes.  Returns bytes written.
 *		No terminating NUL is written.
 */
size_t
wtc_key_part_encode(char *dst, const char *src, size_t len)
{
	char	   *p = dst;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) src[i];

		if (wtc_key_byte_needs_escape(c))
		{
			*p++ = '%';
			*p++ = hexdigits[c >> 4];
			*p++ = hexdigits[c & 0x0F];
		}
		else
			*p++ = (char) c;
	}
	return (size_t) (p - dst);
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * wtc_key_part_decode
 *		Inverse of wtc_key_part_encode; dst needs room for len bytes.  A '%'
 *		not followed by two hex digits is copied as it is.  Returns bytes
 *		written.  Used by tests and the fuzzer to check the round trip.
 */
size_t
wtc_key_part_decode(char *dst, const char *src, size_t len)
{
	char	   *p = dst;
	size_t		i = 0;

	while (i < len)
	{
		if (src[i] == '%' && i + 2 < len)
		{
			int			hi = hexval((unsigned char) src[i + 1]);
			int			lo = hexval((unsigned char) src[i + 2]);

			if (hi >= 0 && lo >= 0)
			{
				*p++ = (char) ((hi << 4) | lo);
				i += 3;
				continue;
			}
		}
		*p++ = src[i++];
	}
	return (size_t) (p - dst);
}

/*
 * wtc_prefix_check
 *		Can this string serve as a key prefix?  A prefix may not be empty,
 *		may not start or end with ':', and may not contain space, control
 *		bytes, glob characters (* ? [ ] \), hash tag braces or '%'.
 */
WtcPrefixProblem
wtc_prefix_check(const char *prefix, size_t len, size_t *bad_pos)
{
	if (len == 0)
		return WTC_PREFIX_EMPTY;
	if (len > WTC_PREFIX_MAX_LEN)
		return WTC_PREFIX_TOO_LONG;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) prefix[i];

		if (c <= 0x20 || c == 0x7f || strchr("*?[]\\{}%", c) != NULL)
		{
			if (bad_pos)
				*bad_pos = i;
			return WTC_PREFIX_BAD_CHAR;
		}
	}
	if (prefix[0] == ':' || prefix[len - 1] == ':')
		return WTC_PREFIX_EDGE_COLON;
	return WTC_PREFIX_OK;
}

/*
 * wtc_prefixes_overlap
 *		True if keys of one prefix could match SCAN "<other>:*": the prefixes
 *		are equal, or one extends the other with ':'.
 */
int
wtc_prefixes_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *s;
	const char *l;
	size_t		slen;
	size_t		llen;

	if (alen <= blen)
	{
		s = a, slen = alen, l = b, llen = blen;
	}
	else
	{
		s = b, slen = blen, l = a, llen = alen;
	}
	if (memcmp(s, l, slen) != 0)
		return 0;
	return slen == llen || l[slen] == ':';
}
