/*
 * test/unit/unit.c: unit tests of the pure C parts (key encoding, RESP
 * reply reader, INFO fields), built with AddressSanitizer and UndefinedBehaviorSanitizer
 * by test/check.  Prints one "ok"/"not ok" line per case (TAP) and exits
 * non-zero if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyenc.h"
#include "resp.h"

static int ntest = 0;
static int nfail = 0;

static void
check(int cond, const char *what)
{
	ntest++;
	if (!cond)
		nfail++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", ntest, what);
}

/*
 * Parse from an exact-size heap copy, so ASan catches any read past the
 * end.  The copy lives until the next call (the reply points into it).
 */
static char *copy = NULL;

static long
parse(const char *s, size_t len, RespReply *r)
{
	free(copy);
	copy = malloc(len ? len : 1);
	memcpy(copy, s, len);
	return resp_parse(copy, len, r, NULL, NULL);
}

static long visited[8];
static int nvisited;

static void
visit(void *arg, long index, const RespReply *el)
{
	(void) arg;
	if (nvisited < 8)
		visited[nvisited++] = el->type == ':' ? el->integer : -1000 - index;
}

/* SCAN-shaped reply: [cursor, [keys...]]; collect the inner keys */
static int	nscan;
static char scanned[4][8];

static void
inner_key(void *arg, long index, const RespReply *el)
{
	(void) arg;
	if (nscan < 4 && el->type == '$' && el->len < 8)
	{
		memcpy(scanned[nscan], el->str, el->len);
		scanned[nscan][el->len] = '\0';
		nscan++;
	}
	(void) index;
}

static void
outer(void *arg, long index, const RespReply *el)
{
	RespReply	inner;

	(void) arg;
	if (index == 1 && el->type == '*')
		(void) resp_parse(el->raw, el->rawlen, &inner, inner_key, NULL);
}

static void
test_resp(void)
{
	RespReply	r;
	const char *stream = "*3\r\n:1\r\n$5\r\nhello\r\n-ERR bad\r\n";
	size_t		len = strlen(stream);
	int			all_incomplete = 1;

	check(parse("+OK\r\n", 5, &r) == 5 && r.type == '+' && r.len == 2 &&
		  memcmp(r.str, "OK", 2) == 0, "status reply");
	check(parse(":-42\r\n", 6, &r) == 6 && r.integer == -42, "integer reply");
	check(parse("$-1\r\n", 5, &r) == 5 && r.is_nil, "nil bulk");
	check(parse("*-1\r\n", 5, &r) == 5 && r.is_nil, "nil array");
	check(parse("$0\r\n\r\n", 6, &r) == 6 && r.len == 0, "empty bulk");
	check(parse("-WRONGTYPE x\r\n", 14, &r) == 14 && r.err != NULL &&
		  r.errlen == 11, "error reply");
	check(parse(stream, len, &r) == (long) len && r.integer == 3 &&
		  r.err != NULL && memcmp(r.err, "ERR bad", 7) == 0,
		  "array with a nested error reports it");
	for (size_t i = 0; i < len; i++)
		if (parse(stream, i, &r) != RESP_INCOMPLETE)
			all_incomplete = 0;
	check(all_incomplete, "every proper prefix of a reply is incomplete");
	check(parse("+OK\r\n+OK\r\n", 10, &r) == 5, "takes only the first reply");
	check(parse("$5\r\nhelloXY", 11, &r) == RESP_PROTOCOL_ERROR,
		  "bulk without CRLF is a protocol error");
	check(parse("+OK\n", 4, &r) == RESP_PROTOCOL_ERROR, "bare LF is a protocol error");
	check(parse("?x\r\n", 4, &r) == RESP_PROTOCOL_ERROR, "unknown type byte");
	check(parse(":12a\r\n", 6, &r) == RESP_PROTOCOL_ERROR, "bad integer");
	check(parse(":99999999999999999999\r\n", 23, &r) == RESP_PROTOCOL_ERROR,
		  "integer overflow");
	/* Found by test/fuzz/fuzz_resp.c: the most negative value was refused */
	check(parse(":-9223372036854775808\r\n", 23, &r) == 23 &&
		  r.integer == -9223372036854775807LL - 1, "most negative integer");
	check(parse(":9223372036854775807\r\n", 22, &r) == 22 &&
		  r.integer == 9223372036854775807LL, "most positive integer");
	check(parse(":-9223372036854775809\r\n", 23, &r) == RESP_PROTOCOL_ERROR &&
		  parse(":9223372036854775808\r\n", 22, &r) == RESP_PROTOCOL_ERROR,
		  "one past either end overflows");
	check(parse(":-0\r\n", 5, &r) == 5 && r.integer == 0, "minus zero");
	check(parse("$-2\r\n", 5, &r) == RESP_PROTOCOL_ERROR, "negative bulk length");
	check(parse("$999999999999\r\n", 15, &r) == RESP_PROTOCOL_ERROR,
		  "bulk longer than the limit");
	check(parse("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 43, &r)
		  == RESP_PROTOCOL_ERROR, "nesting deeper than the limit");
	nvisited = 0;
	check(resp_parse("*3\r\n:7\r\n:8\r\n$1\r\nx\r\n", 19, &r, visit, NULL) == 19 &&
		  nvisited == 3 && visited[0] == 7 && visited[1] == 8 && visited[2] == -1002,
		  "visitor sees each element once, in order");
	nvisited = 0;
	check(resp_parse("*3\r\n:7\r\n:8\r\n", 12, &r, visit, NULL) == RESP_INCOMPLETE &&
		  nvisited == 0, "visitor not called for an incomplete reply");
	nscan = 0;
	{
		const char *scan = "*2\r\n$2\r\n17\r\n*2\r\n$3\r\na:1\r\n$3\r\na:2\r\n";

		check(parse(scan, strlen(scan), &r) == (long) strlen(scan) &&
			  resp_parse(copy, strlen(scan), &r, outer, NULL) == (long) strlen(scan) &&
			  nscan == 2 && strcmp(scanned[0], "a:1") == 0 && strcmp(scanned[1], "a:2") == 0,
			  "nested array parsed again through raw/rawlen (SCAN reply)");
	}
}

static void
test_keyenc(void)
{
	const char *raw = "a:b%c{d}e\n\x7f\x01 ü";
	size_t		rawlen = strlen(raw);
	size_t		elen = wtc_key_part_encoded_len(raw, rawlen);
	char	   *enc = malloc(elen);
	char	   *dec = malloc(elen);
	size_t		n = wtc_key_part_encode(enc, raw, rawlen);
	size_t		ok = 1;
	size_t		pos;

	check(n == elen, "encoded length is what was announced");
	check(n == strlen("a%3Ab%25c%7Bd%7De%0A%7F%01 ü") &&
		  memcmp(enc, "a%3Ab%25c%7Bd%7De%0A%7F%01 ü", n) == 0, "encoding");
	for (size_t i = 0; i < n; i++)
		if (enc[i] == ':' || enc[i] == '{' || enc[i] == '}' ||
			(unsigned char) enc[i] < 0x20)
			ok = 0;
	check(ok, "no separator, brace or control byte survives encoding");
	check(wtc_key_part_decode(dec, enc, n) == rawlen && memcmp(dec, raw, rawlen) == 0,
		  "decoding gives the original back");
	check(wtc_key_part_encoded_len("", 0) == 0, "empty part");
	check(wtc_prefix_check("flight", 6, &pos) == WTC_PREFIX_OK, "plain prefix");
	check(wtc_prefix_check("app:v2/x-y.z", 12, &pos) == WTC_PREFIX_OK, "prefix with punctuation");
	check(wtc_prefix_check("", 0, &pos) == WTC_PREFIX_EMPTY, "empty prefix");
	check(wtc_prefix_check("a*", 2, &pos) == WTC_PREFIX_BAD_CHAR && pos == 1, "glob in prefix");
	check(wtc_prefix_check("a b", 3, &pos) == WTC_PREFIX_BAD_CHAR, "space in prefix");
	check(wtc_prefix_check("a}", 2, &pos) == WTC_PREFIX_BAD_CHAR, "brace in prefix");
	check(wtc_prefix_check("a:", 2, &pos) == WTC_PREFIX_EDGE_COLON, "trailing colon");
	check(wtc_prefixes_overlap("a", 1, "a", 1), "equal prefixes overlap");
	check(wtc_prefixes_overlap("a", 1, "a:b", 3), "extension with colon overlaps");
	check(wtc_prefixes_overlap("a:b", 3, "a", 1), "overlap is symmetric");
	check(!wtc_prefixes_overlap("a", 1, "ab", 2), "extension without colon does not overlap");
	check(!wtc_prefixes_overlap("ab", 2, "a:", 2), "different prefixes");
	free(enc);
	free(dec);
}

/* resp_info_field on an exact-size heap copy (no NUL after the text) */
static const char *
info(const char *text, const char *name, size_t *vlen)
{
	size_t		len = strlen(text);

	free(copy);
	copy = malloc(len ? len : 1);
	memcpy(copy, text, len);
	return resp_info_field(copy, len, name, vlen);
}

static int
info_is(const char *text, const char *name, const char *want)
{
	size_t		vlen = 0;
	const char *v = info(text, name, &vlen);

	if (want == NULL)
		return v == NULL;
	return v != NULL && vlen == strlen(want) && memcmp(v, want, vlen) == 0;
}

static void
test_info(void)
{
	const char *server = "# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\n"
		"process_supervised:no\r\nrun_id:0123456789abcdef0123456789abcdef01234567\r\n";

	check(info_is(server, "process_id", "4242"), "INFO field in the middle");
	check(info_is(server, "run_id", "0123456789abcdef0123456789abcdef01234567"),
		  "INFO field on the last line");
	check(info_is(server, "redis_version", "7.0.15"), "INFO field after the section line");
	check(info_is(server, "process", NULL), "a name that only begins a field's name");
	check(info_is(server, "Server", NULL), "the section line is not a field");
	check(info_is(server, "tcp_port", NULL), "a field that is not there");
	check(info_is("run_id:x", "run_id", "x"), "first line, no line end");
	check(info_is("a:1\nrun_id:\r\n", "run_id", ""), "empty value, LF line ends");
	check(info_is("xrun_id:1\r\nrun_id:2", "run_id", "2"), "a field whose name ends with the name");
	check(info_is("", "run_id", NULL), "empty text");
	check(info_is("run_id", "run_id", NULL), "the name without a colon");
}

int
main(void)
{
	test_resp();
	test_keyenc();
	test_info();
	free(copy);
	printf("1..%d\n", ntest);
	return nfail ? 1 : 0;
}
