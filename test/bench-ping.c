/*
 * test/bench-ping.c: one Valkey round trip, as a C client sees it.
 *
 * test/bench compiles this (gcc -O2 ... -lhiredis) and runs it beside its
 * latency legs: N PINGs over one TCP connection, one at a time, each timed
 * with CLOCK_MONOTONIC.  Prints "median_us p10_us p90_us" on one line.
 * The median is the round trip wt_cache's commit-latency target is
 * expressed in (1.5 round trips + 2 us per changed row).
 *
 * Usage: bench-ping HOST PORT [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	const char *host;
	int			port;
	int			n = 10000;
	double	   *us;
	redisContext *c;
	int			i;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s HOST PORT [N]\n", argv[0]);
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	if (argc > 3)
		n = atoi(argv[3]);
	if (n < 1)
		n = 1;
	us = malloc(sizeof(double) * n);
	if (us == NULL)
		return 1;

	c = redisConnect(host, port);
	if (c == NULL || c->err)
	{
		fprintf(stderr, "bench-ping: cannot connect: %s\n",
				c ? c->errstr : "out of memory");
		return 1;
	}

	/* a few unmeasured PINGs first: connection and caches warm */
	for (i = 0; i < 100; i++)
	{
		redisReply *r = redisCommand(c, "PING");

		if (r == NULL)
		{
			fprintf(stderr, "bench-ping: %s\n", c->errstr);
			return 1;
		}
		freeReplyObject(r);
	}

	for (i = 0; i < n; i++)
	{
		struct timespec t0,
					t1;
		redisReply *r;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = redisCommand(c, "PING");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (r == NULL || r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0)
		{
			fprintf(stderr, "bench-ping: bad reply: %s\n", r ? "not PONG" : c->errstr);
			return 1;
		}
		freeReplyObject(r);
		us[i] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
	}
	redisFree(c);

	qsort(us, n, sizeof(double), cmp_double);
	printf("%.1f %.1f %.1f\n", us[n / 2], us[n / 10], us[(n * 9) / 10]);
	free(us);
	return 0;
}
