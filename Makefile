# wt_cache: PGXS build.  `make && make install`, then see ./test/check.

MODULE_big = wt_cache
OBJS = \
	src/wt_cache.o \
	src/guc.o \
	src/keyenc.o \
	src/resp.o \
	src/valkey.o \
	src/conn.o \
	src/auth.o \
	src/config.o \
	src/encode.o \
	src/changeset.o \
	src/capture.o \
	src/commit.o \
	src/async.o \
	src/attach.o \
	src/inspect.o \
	src/fence.o \
	src/epoch.o \
	src/stats.o \
	src/handoff.o \
	src/queue.o \
	src/retry.o \
	src/scan.o \
	src/resync.o \
	src/verify.o \
	src/worker.o

EXTENSION = wt_cache
DATA = $(wildcard wt_cache--*.sql)
PGFILEDESC = "wt_cache - write-through cache of tables in Valkey"

# hiredis opens connections; everything after that is ours (src/valkey.c)
SHLIB_LINK = -lhiredis

# -Wextra beyond PGXS's warnings, less -Wunused-parameter, which PostgreSQL's
# own headers trip.  test/check adds -Werror (warnings fail CI, not a user's
# build).
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter $(WTC_CFLAGS)

# The regression suite is run by test/check (it needs a Valkey server and a
# preloaded library); see test/schedule.
REGRESS =

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when a header
# changes, so that no object keeps an old struct layout
$(OBJS): $(wildcard src/*.h)
