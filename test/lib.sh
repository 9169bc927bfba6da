# test/lib.sh: shared by test/check, test/demo and test/bench.
#
# Installs what is missing (apt-get), builds and installs the extension,
# starts a throwaway Valkey (or Redis) and PostgreSQL on free loopback
# ports, and stops them on exit, on failure and on Ctrl-C.  As root (CI),
# packages and `make install` run as root and the servers as the
# unprivileged postgres user, since initdb refuses root.
#
# shellcheck shell=bash

WTC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_VERSION=15
# WTC_PG_ROOT=/some/dir uses a relocated copy of PostgreSQL under it
# (test/private-pg makes one), so that parallel checkouts can each install
# their own build of the extension; empty means the system's
PG_BINDIR=${WTC_PG_ROOT:-}/usr/lib/postgresql/$PG_VERSION/bin
PG_CONFIG=$PG_BINDIR/pg_config
PGXS_DIR=${WTC_PG_ROOT:-}/usr/lib/postgresql/$PG_VERSION/lib/pgxs
WTC_WORK=""
WTC_CLEANUPS=()

wtc_log() { printf '%s\n' "$*" >&2; }
wtc_die() { wtc_log "error: $*"; exit 1; }

# Run a command as the user the servers run as
wtc_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# apt-get install the packages whose files are missing; with "fuzz" among
# the arguments, also what the fuzz suite needs (clang, libFuzzer)
wtc_install_deps() {
	local need=()
	if [[ " $* " == *" fuzz "* ]]; then
		command -v clang-14 >/dev/null || need+=(clang-14)
		compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null ||
			need+=(libclang-rt-14-dev)
	fi
	[ -x "$PG_BINDIR/postgres" ] || need+=(postgresql-$PG_VERSION)
	# the server headers, not pgxs.mk: postgresql-client-15 ships pgxs.mk
	# (and pg_regress) without them, and machines come with it installed
	[ -f "$PGXS_DIR/src/makefiles/pgxs.mk" ] &&
		[ -f "${WTC_PG_ROOT:-}/usr/include/postgresql/$PG_VERSION/server/postgres.h" ] ||
		need+=(postgresql-server-dev-$PG_VERSION)
	[ -f /usr/include/hiredis/hiredis.h ] || need+=(libhiredis-dev)
	perl -MIPC::Run -e 1 2>/dev/null || need+=(libipc-run-perl)
	command -v make >/dev/null || need+=(make)
	command -v gcc >/dev/null || need+=(gcc)
	command -v runuser >/dev/null || need+=(util-linux)
	if ! command -v valkey-server >/dev/null && ! command -v redis-server >/dev/null; then
		need+=(redis-server)
	fi
	if ! command -v valkey-cli >/dev/null && ! command -v redis-cli >/dev/null; then
		need+=(redis-tools)
	fi
	wtc_apt_install "${need[@]}"
}

# What only test/bench needs on top of wtc_install_deps: pgbench (in
# postgresql-15), PL/Python and redis-py for the PL/Python alternative,
# gnuplot for the plot, valgrind for the instruction counts
# (test/bench-valkey).  Not part of wtc_install_deps, so that ./test/check
# does not need them.
wtc_install_bench_deps() {
	local need=()
	[ -f "${WTC_PG_ROOT:-}/usr/lib/postgresql/$PG_VERSION/lib/plpython3.so" ] ||
		need+=(postgresql-plpython3-$PG_VERSION)
	# (Debian's python3, the one PL/Python uses, not whichever is on PATH)
	/usr/bin/python3 -c 'import redis' 2>/dev/null || need+=(python3-redis)
	command -v gnuplot >/dev/null || need+=(gnuplot-nox)
	command -v valgrind >/dev/null || need+=(valgrind)
	wtc_apt_install "${need[@]}"
	# A private copy of PostgreSQL (WTC_PG_ROOT) made before PL/Python was
	# installed lacks it: the package went to the system, and the copy must
	# be made again
	if [ -n "${WTC_PG_ROOT:-}" ] && [ ! -f "$WTC_PG_ROOT/usr/lib/postgresql/$PG_VERSION/lib/plpython3.so" ]; then
		wtc_die "$WTC_PG_ROOT has no PL/Python: run test/private-pg $WTC_PG_ROOT again"
	fi
	return 0
}

# apt-get install the packages named (nothing when none are)
wtc_apt_install() {
	[ $# -eq 0 ] && return 0
	local need=("$@")
	wtc_log "installing: ${need[*]}"
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo -n true 2>/dev/null || wtc_die "missing packages (${need[*]}) and no root to install them"
		sudo="sudo -n"
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
}

# The Valkey-compatible server and client to use
wtc_pick_valkey() {
	VALKEY_SERVER=$(command -v valkey-server || command -v redis-server)
	VALKEY_CLI=$(command -v valkey-cli || command -v redis-cli)
	export VALKEY_SERVER VALKEY_CLI
}

# Build (warnings are errors here) and install the extension; a user who
# cannot write PostgreSQL's directories needs passwordless sudo
wtc_build_install() {
	local sudo=""
	if [ ! -w "$("$PG_CONFIG" --pkglibdir)" ] || [ ! -w "$("$PG_CONFIG" --sharedir)/extension" ]; then
		sudo -n true 2>/dev/null ||
			{ wtc_log "error: cannot write $("$PG_CONFIG" --pkglibdir) and no passwordless sudo: run as root"; return 1; }
		sudo="sudo -n"
	fi
	make -C "$WTC_ROOT" -s PG_CONFIG="$PG_CONFIG" with_llvm=no WTC_CFLAGS=-Werror >&2 &&
		$sudo make -C "$WTC_ROOT" -s PG_CONFIG="$PG_CONFIG" with_llvm=no install >&2
}

# A scratch directory the server user owns, removed on exit
wtc_workdir() {
	WTC_WORK=$(mktemp -d /tmp/wt_cache.XXXXXX)
	chmod 755 "$WTC_WORK"
	[ "$(id -u)" = 0 ] && chown postgres: "$WTC_WORK"
	# WTC_KEEP=1 keeps it, to read test output after a run
	[ "${WTC_KEEP:-}" = 1 ] || WTC_CLEANUPS+=("rm -rf '$WTC_WORK'")
}

# Run cleanups in reverse order, once
wtc_cleanup() {
	local i
	for ((i = ${#WTC_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${WTC_CLEANUPS[$i]}" >/dev/null 2>&1 || true
	done
	WTC_CLEANUPS=()
}
trap 'wtc_cleanup' EXIT
trap 'wtc_cleanup; exit 130' INT
trap 'wtc_cleanup; exit 143' TERM

# A TCP port nobody listens on (loopback), below the kernel's range of
# ephemeral ports, where a client's connection may hold a port that no one
# listens on and a server's bind() would then fail
wtc_free_port() {
	local p i low
	low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ "${low:-0}" -gt 21000 ] || low=32768
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % (low - 20000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Start Valkey on a free port; sets VALKEY_PORT, VALKEY_PID, VALKEY_DIR
wtc_start_valkey() {
	local name=${1:-valkey} extra=("${@:2}")
	wtc_pick_valkey
	VALKEY_DIR=$WTC_WORK/$name
	VALKEY_PORT=$(wtc_free_port)
	wtc_as_pg mkdir -p "$VALKEY_DIR"
	wtc_as_pg "$VALKEY_SERVER" --port "$VALKEY_PORT" --bind 127.0.0.1 \
		--save '' --appendonly no --dir "$VALKEY_DIR" \
		--daemonize yes --pidfile "$VALKEY_DIR/valkey.pid" \
		--logfile "$VALKEY_DIR/valkey.log" \
		--unixsocket "$VALKEY_DIR/valkey.sock" --unixsocketperm 700 \
		--enable-debug-command local "${extra[@]}" >&2 ||
		wtc_die "could not start $VALKEY_SERVER"
	local i
	for i in $(seq 1 100); do
		[ "$("$VALKEY_CLI" -p "$VALKEY_PORT" PING 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	if [ "$("$VALKEY_CLI" -p "$VALKEY_PORT" PING 2>/dev/null)" != PONG ]; then
		tail -n 20 "$VALKEY_DIR/valkey.log" >&2
		wtc_die "valkey did not start on port $VALKEY_PORT (see $VALKEY_DIR/valkey.log)"
	fi
	VALKEY_PID=$(cat "$VALKEY_DIR/valkey.pid")
	WTC_CLEANUPS+=("kill -CONT $VALKEY_PID; kill $VALKEY_PID")
	export VALKEY_PORT VALKEY_PID VALKEY_DIR
}

# Settings every PostgreSQL test server gets
wtc_write_pg_conf() {
	local file=$1
	cat >"$file" <<CONF
shared_preload_libraries = 'wt_cache'
wt_cache.host = '127.0.0.1'
wt_cache.port = $VALKEY_PORT
max_prepared_transactions = 10
log_min_messages = warning
CONF
	[ "$(id -u)" = 0 ] && chown postgres: "$file"
	return 0
}

# Start a PostgreSQL cluster; sets PGPORT, PGHOST, PGDATA
wtc_start_postgres() {
	local name=${1:-pg}
	PGDATA=$WTC_WORK/$name
	PGPORT=$(wtc_free_port)
	PGHOST=$WTC_WORK
	wtc_as_pg "$PG_BINDIR/initdb" -D "$PGDATA" -A trust -U postgres --no-sync >/dev/null ||
		wtc_die "initdb failed"
	wtc_write_pg_conf "$WTC_WORK/$name.conf"
	cat "$WTC_WORK/$name.conf" | wtc_as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
	cat <<CONF | wtc_as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGHOST'
fsync = off
CONF
	wtc_as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w start >/dev/null ||
		{ cat "$PGDATA/log" >&2; wtc_die "PostgreSQL did not start"; }
	WTC_CLEANUPS+=("runuser -u postgres -- $PG_BINDIR/pg_ctl -D '$PGDATA' -m immediate stop 2>/dev/null || $PG_BINDIR/pg_ctl -D '$PGDATA' -m immediate stop")
	export PGPORT PGHOST PGDATA PGUSER=postgres
}
