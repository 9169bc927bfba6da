/*
 * test/fuzz/fuzz_keyenc.c: libFuzzer target for cache key encoding
 * (src/keyenc.c).  Built by test/fuzz/run with
 * -fsanitize=fuzzer,address,undefined.
 *
 * The input is cut into two prefixes and a few key parts (each piece's
 * length taken from the byte before it).  Checked:
 *
 * - encoding writes exactly wtc_key_part_encoded_len bytes, and the output
 *	 holds none of the bytes the README says are escaped ('%', ':', '{',
 *	 '}', control bytes) except as '%' and two upper-case hex digits naming
 *	 such a byte;
 * - decoding gives the part back, and decoding any bytes never writes more
 *	 than it reads;
 * - encoding is injective: two different parts never encode the same, and
 *	 a key split at ':' after its prefix gives back exactly its parts (as
 *	 src/retry.c splits it);
 * - wtc_prefix_check agrees with a plain restatement of the rules, and an
 *	 accepted prefix makes keys without hash tag braces or glob bytes
 *	 before the parts;
 * - wtc_prefixes_overlap is symmetric and reflexive, and whenever a key of
 *	 one accepted prefix matches SCAN "<other>:*", the two overlap.
 *
 * Every call reads from an exact-size heap copy and writes into an
 * exact-size heap buffer, so that AddressSanitizer sees any overrun.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyenc.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "fuzz_keyenc.c:%d: check failed: %s\n", \
					__LINE__, #cond); \
			abort(); \
		} \
	} while (0)

#define MAX_PARTS 4

typedef struct Piece
{
	char	   *s;				/* exact-size heap copy (never NULL) */
	size_t		len;
} Piece;

/* Take the next piece: a length byte, then that many bytes (or fewer) */
static Piece
take(const uint8_t **data, size_t *size, int wide)
{
	Piece		p;
	size_t		want = 0;

	if (*size > 0)
	{
		want = **data;
		(*data)++;
		(*size)--;
	}
	/* A wide piece may run past the prefix length limit */
	if (wide && want >= 0xF0)
		want = WTC_PREFIX_MAX_LEN - 8 + (want - 0xF0);
	if (want > *size)
		want = *size;
	p.len = want;
	p.s = malloc(want ? want : 1);
	CHECK(p.s != NULL);
	memcpy(p.s, *data, want);
	*data += want;
	*size -= want;
	return p;
}

static int
is_hex_upper(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int
hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'A' + 10;
}

/* The bytes the README says are escaped, restated without keyenc.h */
static int
must_escape(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '%' || c == ':' || c == '{' ||
		c == '}';
}

/* Encode a part into an exact-size buffer and check the output's shape */
static char *
encode_checked(const Piece *p, size_t *outlen)
{
	size_t		elen = wtc_key_part_encoded_len(p->s, p->len);
	char	   *enc = malloc(elen ? elen : 1);
	size_t		n;

	CHECK(enc != NULL);
	CHECK(elen >= p->len && elen <= 3 * p->len);
	n = wtc_key_part_encode(enc, p->s, p->len);
	CHECK(n == elen);
	for (size_t i = 0, j = 0; i < p->len; i++)
	{
		unsigned char c = (unsigned char) p->s[i];

		CHECK(wtc_key_byte_needs_escape(c) == must_escape(c));
		if (must_escape(c))
		{
			CHECK(j + 3 <= n && enc[j] == '%' &&
				  is_hex_upper(enc[j + 1]) && is_hex_upper(enc[j + 2]));
			CHECK(hexval(enc[j + 1]) * 16 + hexval(enc[j + 2]) == c);
			j += 3;
		}
		else
			CHECK(enc[j++] == (char) c);
	}
	/* No raw separator, escape, brace or control byte is left */
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) enc[i];

		if (c == '%')
		{
			CHECK(i + 2 < n);
			CHECK(must_escape((unsigned char) (hexval(enc[i + 1]) * 16 +
											   hexval(enc[i + 2]))));
			i += 2;
		}
		else
			CHECK(!must_escape(c));
	}
	*outlen = n;
	return enc;
}

/* The prefix rules of the README, restated without the code's shortcuts */
static WtcPrefixProblem
prefix_rules(const char *s, size_t len, size_t *bad_pos)
{
	static const char forbidden[] = "*?[]\\{}%";

	if (len == 0)
		return WTC_PREFIX_EMPTY;
	if (len > WTC_PREFIX_MAX_LEN)
		return WTC_PREFIX_TOO_LONG;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		int			bad = c < 0x20 || c == ' ' || c == 0x7f;

		for (size_t k = 0; k < sizeof(forbidden) - 1; k++)
			if (c == (unsigned char) forbidden[k])
				bad = 1;
		if (bad)
		{
			*bad_pos = i;
			return WTC_PREFIX_BAD_CHAR;
		}
	}
	if (s[0] == ':' || s[len - 1] == ':')
		return WTC_PREFIX_EDGE_COLON;
	return WTC_PREFIX_OK;
}

static void
check_prefix(const Piece *p)
{
	size_t		pos = SIZE_MAX;
	size_t		want_pos = SIZE_MAX;
	WtcPrefixProblem got = wtc_prefix_check(p->s, p->len, &pos);
	WtcPrefixProblem want = prefix_rules(p->s, p->len, &want_pos);

	CHECK(got == want);
	if (got == WTC_PREFIX_BAD_CHAR)
		CHECK(pos == want_pos);
	/* bad_pos may be NULL */
	CHECK(wtc_prefix_check(p->s, p->len, NULL) == got);
}

/* Build "<prefix>:<enc1>:<enc2>..." in an exact-size buffer */
static char *
build_key(const Piece *prefix, char **enc, size_t *enclen, int nparts,
		  size_t *keylen)
{
	size_t		len = prefix->len;
	char	   *key;
	char	   *p;

	for (int i = 0; i < nparts; i++)
		len += 1 + enclen[i];
	key = malloc(len ? len : 1);
	CHECK(key != NULL);
	p = key;
	if (prefix->len)
		memcpy(p, prefix->s, prefix->len);
	p += prefix->len;
	for (int i = 0; i < nparts; i++)
	{
		*p++ = ':';
		if (enclen[i])
			memcpy(p, enc[i], enclen[i]);
		p += enclen[i];
	}
	CHECK((size_t) (p - key) == len);
	*keylen = len;
	return key;
}

/* Does key[0..keylen) match SCAN "<b>:*"? */
static int
scan_matches(const char *key, size_t keylen, const Piece *b)
{
	return keylen >= b->len + 1 &&
		(b->len == 0 || memcmp(key, b->s, b->len) == 0) &&
		key[b->len] == ':';
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Piece		a;
	Piece		b;
	Piece		parts[MAX_PARTS];
	char	   *enc[MAX_PARTS];
	size_t		enclen[MAX_PARTS];
	int			nparts;
	char	   *key;
	size_t		keylen;

	if (size == 0)
		return 0;
	nparts = 1 + data[0] % MAX_PARTS;
	data++;
	size--;
	a = take(&data, &size, 1);
	b = take(&data, &size, 1);
	for (int i = 0; i < nparts; i++)
		parts[i] = take(&data, &size, 0);

	/* Encoding, and decoding back */
	for (int i = 0; i < nparts; i++)
	{
		char	   *dec;

		enc[i] = encode_checked(&parts[i], &enclen[i]);
		dec = malloc(enclen[i] ? enclen[i] : 1);
		CHECK(dec != NULL);
		CHECK(wtc_key_part_decode(dec, enc[i], enclen[i]) == parts[i].len);
		CHECK(parts[i].len == 0 || memcmp(dec, parts[i].s, parts[i].len) == 0);
		free(dec);
	}

	/* Injective: different parts, different encodings */
	for (int i = 0; i < nparts; i++)
		for (int j = i + 1; j < nparts; j++)
		{
			int			same_part = parts[i].len == parts[j].len &&
				(parts[i].len == 0 ||
				 memcmp(parts[i].s, parts[j].s, parts[i].len) == 0);
			int			same_enc = enclen[i] == enclen[j] &&
				(enclen[i] == 0 || memcmp(enc[i], enc[j], enclen[i]) == 0);

			CHECK(same_part == same_enc);
		}

	/* Decoding arbitrary bytes (the prefix pieces) stays in bounds */
	{
		char	   *dec = malloc(a.len ? a.len : 1);

		CHECK(dec != NULL);
		CHECK(wtc_key_part_decode(dec, a.s, a.len) <= a.len);
		free(dec);
	}

	/* Prefixes */
	check_prefix(&a);
	check_prefix(&b);
	CHECK(wtc_prefixes_overlap(a.s, a.len, b.s, b.len) ==
		  wtc_prefixes_overlap(b.s, b.len, a.s, a.len));
	if (a.len)
		CHECK(wtc_prefixes_overlap(a.s, a.len, a.s, a.len));

	/* A key: split after its prefix, it gives its parts back */
	key = build_key(&a, enc, enclen, nparts, &keylen);
	{
		const char *p = key + a.len + 1;
		const char *end = key + keylen;

		for (int i = 0; i < nparts; i++)
		{
			const char *sep = memchr(p, ':', (size_t) (end - p));
			const char *stop = i == nparts - 1 ? end : sep;
			char	   *dec;
			size_t		n;

			CHECK(stop != NULL);
			CHECK(i < nparts - 1 || sep == NULL);
			dec = malloc(stop > p ? (size_t) (stop - p) : 1);
			CHECK(dec != NULL);
			n = wtc_key_part_decode(dec, p, (size_t) (stop - p));
			CHECK(n == parts[i].len &&
				  (n == 0 || memcmp(dec, parts[i].s, n) == 0));
			free(dec);
			p = stop + 1;
		}
	}

	if (wtc_prefix_check(a.s, a.len, NULL) == WTC_PREFIX_OK)
	{
		/* No hash tag anywhere in the key; no glob byte before the parts */
		CHECK(memchr(key, '{', keylen) == NULL && memchr(key, '}', keylen) == NULL);
		for (size_t i = 0; i < a.len; i++)
			CHECK(strchr("*?[]\\", key[i]) == NULL || key[i] == '\0');

		/* SCAN "<b>:*" finds keys of a only if the two prefixes overlap */
		if (wtc_prefix_check(b.s, b.len, NULL) == WTC_PREFIX_OK &&
			scan_matches(key, keylen, &b))
			CHECK(wtc_prefixes_overlap(a.s, a.len, b.s, b.len));
	}

	free(key);
	for (int i = 0; i < nparts; i++)
	{
		free(enc[i]);
		free(parts[i].s);
	}
	free(a.s);
	free(b.s);
	return 0;
}
