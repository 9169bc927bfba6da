/*
 * test/fuzz/fuzz_resp.c: libFuzzer target for the RESP reply reader
 * (src/resp.c).  Built by test/fuzz/run with
 * -fsanitize=fuzzer,address,undefined.
 *
 * Each input is used twice:
 *
 * 1. As raw bytes from a server.  Checked: the result is a length within the
 *	  input, RESP_INCOMPLETE or RESP_PROTOCOL_ERROR; nesting, bulk lengths
 *	  and element counts past the limits are refused; every pointer of a
 *	  complete reply lies inside the bytes it took; the visitor sees each
 *	  element once, in order, back to back, and only for a complete reply;
 *	  nested arrays parse again from raw/rawlen to the same bytes; a complete
 *	  reply parses the same without the bytes after it; the answer only
 *	  moves forward as bytes arrive (incomplete, then complete at the same
 *	  length or an error for good); and a stream fed in chunks, as
 *	  src/valkey.c reads it, yields the same replies as the whole buffer.
 *
 * 2. As a recipe for a valid reply (any type, nested arrays up to the depth
 *	  limit, bulk strings holding CRLF, nil, extreme integers), which is
 *	  serialized and must parse to exactly what was written, element by
 *	  element, with the first error found at any depth.
 *
 * Every parse reads from an exact-size heap copy, so that AddressSanitizer
 * sees any read past the end.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			check_failed(__LINE__, #cond); \
	} while (0)

/* The reply part 2 made, shown when a check fails (NULL in part 1) */
static const char *shown;
static size_t shown_len;

static void
check_failed(int line, const char *cond)
{
	fprintf(stderr, "fuzz_resp.c:%d: check failed: %s\n", line, cond);
	if (shown != NULL)
	{
		fprintf(stderr, "generated reply (%zu bytes): \"", shown_len);
		for (size_t i = 0; i < shown_len && i < 512; i++)
		{
			unsigned char c = (unsigned char) shown[i];

			if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
				fputc(c, stderr);
			else
				fprintf(stderr, "\\x%02x", c);
		}
		fprintf(stderr, "%s\"\n", shown_len > 512 ? "..." : "");
	}
	abort();
}

/* Bound on the nodes of a generated reply, and on the bytes it may take */
#define GEN_MAX_NODES	512
#define GEN_MAX_BYTES	(64 * 1024)

/* Parse from an exact-size heap copy of buf[0..len) */
static long
parse_copy(const char *buf, size_t len, char **copy, RespReply *r,
		   RespElementVisitor visit, void *arg)
{
	*copy = malloc(len ? len : 1);
	CHECK(*copy != NULL);
	if (len)
		memcpy(*copy, buf, len);
	return resp_parse(*copy, len, r, visit, arg);
}

/* A cheap deterministic hash, to pick split points from the input */
static uint64_t
mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t
hash_bytes(const uint8_t *data, size_t size)
{
	uint64_t	h = 0x9e3779b97f4a7c15ULL ^ size;

	for (size_t i = 0; i < size; i++)
		h = mix(h ^ data[i]);
	return h;
}

/* ---------------------------------------------------------------------
 * Part 1: raw bytes
 * ---------------------------------------------------------------------
 */

static void check_reply(const RespReply *r, const char *raw, size_t rawlen,
						int depth);

/* State of one array's visit: its elements must tile its body */
typedef struct Walk
{
	const char *end;			/* end of the array's bytes */
	const char *next;			/* where the next element must start */
	long		count;
	const char *err;			/* first error among the elements */
	size_t		errlen;
	int			depth;			/* the elements' depth */
} Walk;

static void
walk_element(void *arg, long index, const RespReply *el)
{
	Walk	   *w = arg;

	CHECK(index == w->count);
	w->count++;
	CHECK(el->raw == w->next);
	CHECK(el->rawlen > 0 && el->rawlen <= (size_t) (w->end - el->raw));
	w->next = el->raw + el->rawlen;
	if (el->err != NULL && w->err == NULL)
	{
		w->err = el->err;
		w->errlen = el->errlen;
	}
	check_reply(el, el->raw, el->rawlen, w->depth);
}

/*
 * Check what a complete reply at depth (0: top level) says against its own
 * bytes raw[0..rawlen); arrays are parsed again from their bytes, with a
 * visitor, recursively.
 */
static void
check_reply(const RespReply *r, const char *raw, size_t rawlen, int depth)
{
	CHECK(depth <= RESP_MAX_DEPTH);
	CHECK(rawlen >= 3);
	CHECK(r->type == raw[0]);
	CHECK(raw[rawlen - 2] == '\r' && raw[rawlen - 1] == '\n');
	switch (r->type)
	{
		case '+':
		case '-':
			CHECK(r->str == raw + 1 && r->len == rawlen - 3);
			if (r->type == '-')
				CHECK(r->err == r->str && r->errlen == r->len);
			else
				CHECK(r->err == NULL);
			CHECK(!r->is_nil);
			break;
		case ':':
			CHECK(r->err == NULL && !r->is_nil && r->str == NULL);
			break;
		case '$':
			CHECK(r->err == NULL);
			if (r->is_nil)
				CHECK(r->integer == -1 && r->str == NULL);
			else
			{
				CHECK(r->integer >= 0 && (size_t) r->integer == r->len);
				CHECK(r->str != NULL && r->str > raw &&
					  r->str + r->len + 2 == raw + rawlen);
			}
			break;
		case '*':
			if (r->is_nil)
				CHECK(r->integer == -1 && r->err == NULL);
			else
			{
				RespReply	again;
				Walk		w;
				const char *eol = memchr(raw, '\n', rawlen);

				CHECK(r->integer >= 0);
				CHECK(eol != NULL);
				memset(&w, 0, sizeof(w));
				w.end = raw + rawlen;
				w.next = eol + 1;
				w.depth = depth + 1;
				CHECK(resp_parse(raw, rawlen, &again, walk_element, &w) ==
					  (long) rawlen);
				CHECK(w.count == r->integer);
				CHECK(w.next == raw + rawlen);
				CHECK(again.err == w.err && again.errlen == w.errlen);
				CHECK(r->err == w.err && r->errlen == w.errlen);
			}
			break;
		default:
			CHECK(!"unknown type in a complete reply");
	}
	if (r->err != NULL)
		CHECK(r->err >= raw && r->err + r->errlen <= raw + rawlen);
}

static int	visits;

static void
count_visit(void *arg, long index, const RespReply *el)
{
	(void) arg;
	(void) index;
	(void) el;
	visits++;
}

/* Same reply, read from two buffers (pointers compared as offsets) */
static void
check_same(const RespReply *a, const char *abuf, const RespReply *b,
		   const char *bbuf)
{
	CHECK(a->type == b->type && a->is_nil == b->is_nil &&
		  a->integer == b->integer && a->len == b->len &&
		  a->rawlen == b->rawlen && a->errlen == b->errlen);
	CHECK((a->str == NULL) == (b->str == NULL));
	if (a->str)
		CHECK(a->str - abuf == b->str - bbuf);
	CHECK((a->err == NULL) == (b->err == NULL));
	if (a->err)
		CHECK(a->err - abuf == b->err - bbuf);
	CHECK(a->raw - abuf == b->raw - bbuf);
}

/*
 * Read the stream as src/valkey.c does: bytes arrive in chunks, and after
 * each chunk every complete reply is taken from the front.  Returns how
 * many replies were taken and leaves their lengths in lens[].
 */
static int
read_stream(const char *buf, size_t size, uint64_t seed, long *lens,
			int maxlens, long *last)
{
	size_t		have = 0;
	size_t		pos = 0;
	int			n = 0;

	*last = RESP_INCOMPLETE;
	while (have < size)
	{
		size_t		chunk;

		seed = mix(seed + 1);
		/* Mostly small chunks, sometimes one byte, sometimes the rest */
		switch (seed & 3)
		{
			case 0:
				chunk = 1;
				break;
			case 3:
				chunk = size - have;
				break;
			default:
				chunk = 1 + (size_t) ((seed >> 8) % 64);
				break;
		}
		if (chunk > size - have)
			chunk = size - have;
		have += chunk;
		while (pos < have && n < maxlens)
		{
			RespReply	r;
			char	   *copy;
			long		used;

			used = parse_copy(buf + pos, have - pos, &copy, &r, NULL, NULL);
			free(copy);
			*last = used;
			if (used == RESP_PROTOCOL_ERROR)
				return n;
			if (used == RESP_INCOMPLETE)
				break;
			CHECK(used > 0 && (size_t) used <= have - pos);
			lens[n++] = used;
			pos += (size_t) used;
		}
	}
	return n;
}

/*
 * A reply that starts with a bulk length or an element count, in plain
 * digits: past the limits it is refused at once, however little follows;
 * within them, the header alone is not a reply yet.
 */
static void
check_limits(const char *buf, size_t size, long res)
{
	const char *nl;
	long long	v = 0;
	int			ndigits = 0;

	if (size < 4 || (buf[0] != '$' && buf[0] != '*'))
		return;
	nl = memchr(buf, '\n', size);
	if (nl == NULL || nl - buf < 3 || nl[-1] != '\r')
		return;
	for (const char *p = buf + 1; p < nl - 1; p++)
	{
		/* At most 18 digits: no overflow here */
		if (*p < '0' || *p > '9' || ++ndigits > 18)
			return;
		v = v * 10 + (*p - '0');
	}
	if (v > (buf[0] == '$' ? RESP_MAX_BULK : RESP_MAX_ELEMENTS))
		CHECK(res == RESP_PROTOCOL_ERROR);
	else if (nl + 1 == buf + size && (v > 0 || buf[0] == '$'))
		CHECK(res == RESP_INCOMPLETE);
}

static void
fuzz_raw(const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;
	RespReply	r;
	char	   *copy;
	long		res;
	uint64_t	h = hash_bytes(data, size);

	/* Whole input, with a visitor */
	visits = 0;
	res = parse_copy(buf, size, &copy, &r, count_visit, NULL);
	CHECK(res == RESP_INCOMPLETE || res == RESP_PROTOCOL_ERROR ||
		  (res > 0 && (size_t) res <= size));
	if (res > 0)
	{
		RespReply	alone;
		char	   *copy2;

		CHECK(r.raw == copy && r.rawlen == (size_t) res);
		CHECK(visits == (r.type == '*' && !r.is_nil ? r.integer : 0));
		check_reply(&r, copy, (size_t) res, 0);
		/* The same reply, without the bytes after it */
		CHECK(parse_copy(buf, (size_t) res, &copy2, &alone, NULL, NULL) == res);
		check_same(&r, copy, &alone, copy2);
		free(copy2);
	}
	else
		CHECK(visits == 0);
	free(copy);
	check_limits(buf, size, res);

	/*
	 * Prefixes: every one if the input is short, otherwise some chosen from
	 * the input's hash, plus those around the reply's end.  The answer must
	 * move forward only.
	 */
	{
		size_t		npoints = size <= 512 ? size + 1 : 72;
		long		prev = RESP_INCOMPLETE;
		size_t		prevk = 0;

		for (size_t i = 0; i < npoints; i++)
		{
			size_t		k;
			long		got;

			if (size <= 512)
				k = i;
			else if (i < 64)
				k = (size_t) (mix(h + i) % (size + 1));
			else
			{
				size_t		around = res > 0 ? (size_t) res : size;
				size_t		d = i - 64;

				k = around + 4 > d ? around + 4 - d : 0;
				if (k > size)
					continue;
			}
			got = parse_copy(buf, k, &copy, &r, NULL, NULL);
			free(copy);
			if (res > 0)
				CHECK(got == ((size_t) res <= k ? res : RESP_INCOMPLETE));
			else if (res == RESP_INCOMPLETE)
				CHECK(got == RESP_INCOMPLETE);
			else
			{
				CHECK(got == RESP_INCOMPLETE || got == RESP_PROTOCOL_ERROR);
				/* Once an error, an error for good (points come in order) */
				if (size <= 512 && prev == RESP_PROTOCOL_ERROR && k > prevk)
					CHECK(got == RESP_PROTOCOL_ERROR);
			}
			prev = got;
			prevk = k;
		}
	}

	/*
	 * The stream in chunks gives the same replies as the whole buffer read
	 * front to back.
	 */
	{
		long		whole[64];
		long		chunked[64];
		long		wlast = RESP_INCOMPLETE;
		long		clast;
		int			nw = 0;
		int			nc;
		size_t		pos = 0;

		while (pos < size && nw < 64)
		{
			wlast = parse_copy(buf + pos, size - pos, &copy, &r, NULL, NULL);
			free(copy);
			if (wlast <= 0)
				break;
			whole[nw++] = wlast;
			pos += (size_t) wlast;
		}
		nc = read_stream(buf, size, h, chunked, 64, &clast);
		CHECK(nc == nw);
		for (int i = 0; i < nw; i++)
			CHECK(chunked[i] == whole[i]);
		if (nw < 64)
			CHECK(clast == wlast);
	}
}

/* ---------------------------------------------------------------------
 * Part 2: valid replies made from a recipe
 * ---------------------------------------------------------------------
 */

/* One node of the generated reply, in preorder */
typedef struct GenNode
{
	char		type;
	int			is_nil;
	long long	integer;
	size_t		str_off;		/* '+', '-', '$': content offset */
	size_t		len;
	size_t		raw_off;
	size_t		rawlen;
	size_t		err_off;		/* first error in the subtree, or SIZE_MAX */
	size_t		errlen;
} GenNode;

typedef struct Gen
{
	const uint8_t *in;
	size_t		inlen;
	size_t		inpos;
	char	   *out;
	size_t		outlen;
	GenNode		nodes[GEN_MAX_NODES];
	int			nnodes;
} Gen;

static uint8_t
gen_byte(Gen *g)
{
	return g->inpos < g->inlen ? g->in[g->inpos++] : 0;
}

static void
gen_put(Gen *g, const char *s, size_t len)
{
	memcpy(g->out + g->outlen, s, len);
	g->outlen += len;
}

static void
gen_header(Gen *g, char type, long long n)
{
	char		line[32];
	int			len = snprintf(line, sizeof(line), "%c%lld\r\n", type, n);

	gen_put(g, line, (size_t) len);
}

static long long
gen_integer(Gen *g)
{
	static const long long special[] = {
		0, 1, -1, 9, 10, -10, LLONG_MAX, LLONG_MIN, LLONG_MAX - 1,
		LLONG_MIN + 1, 2147483647, -2147483648LL, 4294967296LL
	};
	uint8_t		b = gen_byte(g);
	unsigned long long v = 0;

	if (b < 128)
		return special[b % (sizeof(special) / sizeof(special[0]))];
	for (int i = 0; i < 8; i++)
		v = (v << 8) | gen_byte(g);
	return (long long) v;
}

/* Generate one reply at depth; returns its node's index */
static int
gen_reply(Gen *g, int depth)
{
	int			idx = g->nnodes++;
	GenNode    *n = &g->nodes[idx];
	uint8_t		b = gen_byte(g);
	/*
	 * A new array only while there is room for the leaves still owed to the
	 * arrays above (at most 4 per level, 256 bytes each)
	 */
	int			room = g->outlen + GEN_MAX_BYTES / 4 < GEN_MAX_BYTES &&
		g->nnodes + 64 < GEN_MAX_NODES;

	memset(n, 0, sizeof(*n));
	n->raw_off = g->outlen;
	n->err_off = SIZE_MAX;
	switch (b % 8)
	{
		case 0:
		case 1:
			{
				/* status or error: any bytes but LF (CR alone is fine) */
				size_t		len = gen_byte(g) % 48;

				n->type = b % 8 == 0 ? '+' : '-';
				gen_put(g, &n->type, 1);
				n->str_off = g->outlen;
				n->len = len;
				for (size_t i = 0; i < len; i++)
				{
					char		c = (char) gen_byte(g);

					if (c == '\n')
						c = ' ';
					gen_put(g, &c, 1);
				}
				gen_put(g, "\r\n", 2);
				if (n->type == '-')
				{
					n->err_off = n->str_off;
					n->errlen = len;
				}
				break;
			}
		case 2:
			n->type = ':';
			n->integer = gen_integer(g);
			gen_header(g, ':', n->integer);
			break;
		case 3:
		case 4:
			{
				/* bulk string: any bytes, CRLF included */
				size_t		len = gen_byte(g);

				if (len >= 240)
					len = (len - 240) * 16;
				n->type = '$';
				n->integer = (long long) len;
				gen_header(g, '$', n->integer);
				n->str_off = g->outlen;
				n->len = len;
				for (size_t i = 0; i < len; i++)
				{
					char		c = (char) gen_byte(g);

					if (c == 'x')
						c = (i & 1) ? '\n' : '\r';
					gen_put(g, &c, 1);
				}
				gen_put(g, "\r\n", 2);
				break;
			}
		case 5:
			n->type = b & 8 ? '$' : '*';
			n->is_nil = 1;
			n->integer = -1;
			gen_header(g, n->type, -1);
			break;
		default:
			{
				/* array; at the depth limit only an empty one is valid */
				long long	count = room && depth < RESP_MAX_DEPTH ? gen_byte(g) % 6 : 0;

				n->type = '*';
				n->integer = count;
				gen_header(g, '*', count);
				for (long long i = 0; i < count; i++)
				{
					int			c = gen_reply(g, depth + 1);

					n = &g->nodes[idx];
					if (n->err_off == SIZE_MAX && g->nodes[c].err_off != SIZE_MAX)
					{
						n->err_off = g->nodes[c].err_off;
						n->errlen = g->nodes[c].errlen;
					}
				}
				break;
			}
	}
	n = &g->nodes[idx];
	n->rawlen = g->outlen - n->raw_off;
	return idx;
}

/* Compare parsed replies with the generated nodes, in preorder */
typedef struct Match
{
	Gen		   *g;
	const char *buf;			/* the buffer the parse reads */
	int			next;			/* next node expected */
} Match;

static void match_reply(Match *m, const RespReply *r);

static void
match_element(void *arg, long index, const RespReply *el)
{
	(void) index;
	match_reply(arg, el);
}

static void
match_reply(Match *m, const RespReply *r)
{
	const GenNode *n;

	CHECK(m->next < m->g->nnodes);
	n = &m->g->nodes[m->next++];
	CHECK(r->type == n->type && r->is_nil == n->is_nil);
	CHECK(r->raw == m->buf + n->raw_off && r->rawlen == n->rawlen);
	if (n->type == '+' || n->type == '-' || (n->type == '$' && !n->is_nil))
		CHECK(r->str == m->buf + n->str_off && r->len == n->len);
	if (n->type != '+' && n->type != '-')
		CHECK(r->integer == n->integer);
	if (n->err_off == SIZE_MAX)
		CHECK(r->err == NULL);
	else
		CHECK(r->err == m->buf + n->err_off && r->errlen == n->errlen);
	if (n->type == '*' && !n->is_nil)
	{
		RespReply	again;
		int			first = m->next;

		CHECK(resp_parse(r->raw, r->rawlen, &again, match_element, m) ==
			  (long) r->rawlen);
		/* The subtree's nodes were all matched */
		CHECK(n->integer == 0 || m->next > first);
	}
}

static void
fuzz_generated(const uint8_t *data, size_t size)
{
	static Gen	g;
	RespReply	r;
	char	   *copy;
	Match		m;
	long		res;
	size_t		total;
	uint64_t	h;

	memset(&g, 0, offsetof(Gen, nodes));
	g.nnodes = 0;
	g.in = data;
	g.inlen = size;
	g.out = malloc(GEN_MAX_BYTES + 1024);
	CHECK(g.out != NULL);
	(void) gen_reply(&g, 0);
	CHECK(g.nodes[0].rawlen == g.outlen);

	/* Then whatever bytes are left, as what follows the reply */
	total = g.outlen + (size - g.inpos < 1024 ? size - g.inpos : 1024);
	memcpy(g.out + g.outlen, data + g.inpos, total - g.outlen);

	shown = g.out;
	shown_len = g.outlen;
	res = parse_copy(g.out, total, &copy, &r, NULL, NULL);
	CHECK(res == (long) g.outlen);
	m.g = &g;
	m.buf = copy;
	m.next = 0;
	match_reply(&m, &r);
	CHECK(m.next == g.nnodes);
	free(copy);

	/* Every proper prefix is incomplete (all if short, else a sample) */
	h = hash_bytes(data, size);
	for (size_t i = 0; i < (g.outlen <= 256 ? g.outlen : 64); i++)
	{
		size_t		k = g.outlen <= 256 ? i : (size_t) (mix(h + i) % g.outlen);

		CHECK(parse_copy(g.out, k, &copy, &r, NULL, NULL) == RESP_INCOMPLETE);
		free(copy);
	}
	shown = NULL;
	free(g.out);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input as the text of an INFO reply: each field found lies within
 * it, on one line, right after "name:" at the start of that line
 */
static void
fuzz_info(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"run_id", "process_id", "r", ""};
	char	   *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	for (int i = 0; i < (int) (sizeof(names) / sizeof(names[0])); i++)
	{
		size_t		namelen = strlen(names[i]);
		size_t		vlen = 0;
		const char *v = resp_info_field(copy, size, names[i], &vlen);

		if (v == NULL)
			continue;
		CHECK(v >= copy + namelen + 1 && v + vlen <= copy + size);
		CHECK(v[-1] == ':' && memcmp(v - 1 - namelen, names[i], namelen) == 0);
		CHECK(v - 1 - namelen == copy || v[-2 - (long) namelen] == '\n');
		CHECK(memchr(v, '\n', vlen) == NULL);
		/* the line ends with the text, or with LF (CRLF: CR not in it) */
		CHECK(v + vlen == copy + size || v[vlen] == '\n' ||
			  (v[vlen] == '\r' && v + vlen + 1 < copy + size && v[vlen + 1] == '\n') ||
			  (v[vlen] == '\r' && v + vlen + 1 == copy + size));
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_raw(data, size);
	fuzz_generated(data, size);
	fuzz_info(data, size);
	return 0;
}
