/*-------------------------------------------------------------------------
 *
 * resp.h
 *	  Reading RESP2 replies from Valkey.
 *
 * Pure C: no palloc, no ereport, no backend symbols, so the reader can be
 * fuzzed on its own.  It works on a buffer that holds zero or more replies
 * and tells whether the first one is complete.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_RESP_H
#define WTC_RESP_H

#include <stddef.h>

/* Limits on what we accept from a server (protocol errors beyond them) */
#define RESP_MAX_DEPTH		8
#define RESP_MAX_BULK		(512L * 1024 * 1024)
#define RESP_MAX_ELEMENTS	(1L << 24)

typedef struct RespReply
{
	char		type;			/* '+', '-', ':', '$' or '*' */
	int			is_nil;			/* "$-1" or "*-1" */
	long long	integer;		/* ':' value; '*' element count; '$' length */
	const char *str;			/* '+', '-', '$': points into the buffer */
	size_t		len;
	/* The reply's own bytes, to parse a nested array again */
	const char *raw;
	size_t		rawlen;
	/* First error reply found in this reply, at any depth (or NULL) */
	const char *err;
	size_t		errlen;
} RespReply;

/* Called for each direct element of a top-level array reply */
typedef void (*RespElementVisitor) (void *arg, long index,
									const RespReply *element);

#define RESP_INCOMPLETE		0
#define RESP_PROTOCOL_ERROR (-1)

/*
 * Parse the reply at the start of buf[0..len).  Returns the number of bytes
 * it takes (> 0) and fills *out, RESP_INCOMPLETE if more bytes are needed,
 * or RESP_PROTOCOL_ERROR.  If visit is not NULL it is called for each
 * element of a top-level array, but only once the whole reply is known to be
 * complete.
 */
extern long resp_parse(const char *buf, size_t len, RespReply *out,
					   RespElementVisitor visit, void *arg);

/*
 * The value of the field "name" in the text of an INFO reply
 * (text[0..len), lines of "name:value" ending in CRLF): a pointer into
 * text and its length in *vlen (up to the line's end), or NULL if no line
 * starts with "name:".
 */
extern const char *resp_info_field(const char *text, size_t len,
								   const char *name, size_t *vlen);

#endif							/* WTC_RESP_H */
