/*-------------------------------------------------------------------------
 *
 * keyenc.h
 *	  Cache key encoding: percent-encoding of key parts, prefix checks.
 *
 * Pure C: no palloc, no ereport, no backend symbols, so that it can be
 * compiled on its own and fuzzed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_KEYENC_H
#define WTC_KEYENC_H

#include <stddef.h>

/* Longest key prefix attach accepts, in bytes. */
#define WTC_PREFIX_MAX_LEN 512

/*
 * Bytes escaped inside a key part: '%' (the escape itself), ':' (the part
 * separator), '{' and '}' (cluster hash tags), and control bytes.
 */
static inline int
wtc_key_byte_needs_escape(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '%' || c == ':' || c == '{' || c == '}';
}

extern size_t wtc_key_part_encoded_len(const char *src, size_t len);
extern size_t wtc_key_part_encode(char *dst, const char *src, size_t len);
extern size_t wtc_key_part_decode(char *dst, const char *src, size_t len);

/* Result of wtc_prefix_check */
typedef enum WtcPrefixProblem
{
	WTC_PREFIX_OK = 0,
	WTC_PREFIX_EMPTY,
	WTC_PREFIX_TOO_LONG,
	WTC_PREFIX_BAD_CHAR,		/* *bad_pos names the byte */
	WTC_PREFIX_EDGE_COLON		/* starts or ends with ':' */
} WtcPrefixProblem;

extern WtcPrefixProblem wtc_prefix_check(const char *prefix, size_t len,
										 size_t *bad_pos);
extern int	wtc_prefixes_overlap(const char *a, size_t alen,
								 const char *b, size_t blen);

#endif							/* WTC_KEYENC_H */
