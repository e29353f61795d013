#!/usr/bin/env bash
# services.sh -- throwaway PostgreSQL 15 + Redis 7 servers for fillrelay's integration tests.
#
# Usage:
#   tests/services.sh start DIR         fresh PostgreSQL cluster in DIR/pg and an empty Redis, each on a
#                                       free port of 127.0.0.1; writes DIR/env and prints it (stdout)
#   tests/services.sh stop DIR          stops both (idempotent)
#   tests/services.sh run DIR -- CMD... start, run CMD with the FR_TEST_* variables exported, stop
#                                       (also when CMD fails or is interrupted); exits with CMD's status
#   tests/services.sh stop-pg|start-pg|restart-pg DIR            same data and port
#   tests/services.sh stop-redis|start-redis|restart-redis DIR   same port; Redis comes back empty
#   tests/services.sh stop-pgbouncer|start-pgbouncer DIR         same port
#   tests/services.sh env DIR           prints DIR/env
#
# DIR/env holds shell `export` lines for FR_TEST_PGHOST FR_TEST_PGPORT FR_TEST_PGUSER
# FR_TEST_PGPASSWORD FR_TEST_PGDATABASE FR_TEST_REDIS_HOST FR_TEST_REDIS_PORT
# FR_TEST_REDIS_PASSWORD FR_TEST_SERVICES_DIR, and FR_TEST_PGBOUNCER_PORT (empty when pgbouncer is
# not installed); `eval "$(tests/services.sh start DIR)"` works too.
#
# PostgreSQL: role and database `fillrelay`, password "fillrelay_test_pw", scram-sha-256 over TCP
# on 127.0.0.1 only; the superuser `postgres` is trusted on the Unix socket DIR/pg_sock only.
# Redis: bound to 127.0.0.1, requirepass "redis_test_pw", no persistence.
# pgbouncer (if installed): in front of that PostgreSQL in transaction pooling mode on its own port of
# 127.0.0.1, every database name mapped to the same one; clients log in as the same user with the
# same password (scram-sha-256, auth_file DIR/pgbouncer/userlist.txt written here). A missing
# pgbouncer is only a warning (FR_TEST_PGBOUNCER_PORT is then empty): tests that need it say so.
# Logs: DIR/pg.log, DIR/redis/redis.log, DIR/pgbouncer/pgbouncer.log. Messages go to stderr; only
# the env goes to stdout.
#
# Needs (Debian 12): postgresql-15 redis-server pgbouncer (apt-get install -y postgresql-15
# redis-server pgbouncer).
# As root, the PostgreSQL programs run as the `postgres` system user (runuser); DIR and its
# ancestors are made traversable for that user. FR_PGBIN overrides /usr/lib/postgresql/15/bin.
set -euo pipefail

PGBIN=${FR_PGBIN:-/usr/lib/postgresql/15/bin}
PG_USER=fillrelay
PG_PASSWORD=fillrelay_test_pw
PG_DB=fillrelay
PG_SUPERUSER=postgres
REDIS_PASSWORD=redis_test_pw
HOST=127.0.0.1
WAIT_SECONDS=30
REAP_PIDS= # processes stopped by this invocation, waited for (reaped by init) before exiting
START_ATTEMPTS=5

me=services.sh
say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$me" "$*" >&2
	exit 1
}

usage() {
	sed -n '3,/env DIR/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

is_root() { [ "$(id -u)" = 0 ]; }

# Closes every fd above 2 of the current (sub)shell, so that servers started from it do not hold
# the caller's pipes or lock files open.
close_extra_fds() {
	local f n
	for f in /proc/"$BASHPID"/fd/*; do
		n=${f##*/}
		[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null
	done
	return 0
}

# Runs a PostgreSQL program as the postgres user, in a clean environment (no PG* variables of the
# caller) and from / (the caller's cwd may be unreadable for that user).
as_pg() {
	if is_root; then
		(cd / && close_extra_fds && exec runuser -u postgres -- env -i PATH=/usr/bin:/bin LC_ALL=C "$@")
	else
		(cd / && close_extra_fds && exec env -i PATH=/usr/bin:/bin LC_ALL=C HOME="${HOME:-/}" "$@")
	fi
}

# True when process $1 exists and is not a zombie.
proc_alive() {
	local st
	read -r st 2>/dev/null <"/proc/$1/stat" || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# Waits up to 10 s until none of the given processes is alive; false if some still is.
wait_gone() {
	local i p alive
	for ((i = 0; i < 100; i++)); do
		alive=0
		for p in "$@"; do proc_alive "$p" && alive=1; done
		[ "$alive" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# Waits up to 5 s until the given (dead) processes are reaped by init, so that no <defunct> entry
# is left behind when stop returns. Never fails.
wait_reaped() {
	local i p left
	for ((i = 0; i < 50; i++)); do
		left=0
		for p in "$@"; do [ -e "/proc/$p" ] && ! proc_alive "$p" && left=1; done
		[ "$left" = 0 ] && return 0
		sleep 0.1
	done
	return 0
}

# Prints the pids of pid $1's children (from /proc: procps may be absent).
children_of() {
	local f line rest
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		rest=${line##*) }
		# shellcheck disable=SC2086 # split "state ppid ..." into fields
		set -- $rest
		[ "${2:-}" = "$PARENT_PID" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
	done
	return 0
}

need_pg() {
	local prog
	for prog in initdb pg_ctl postgres psql pg_isready; do
		[ -x "$PGBIN/$prog" ] ||
			die "$PGBIN/$prog not found: PostgreSQL 15 is needed (apt-get install -y postgresql-15)"
	done
	if is_root; then
		id -u postgres >/dev/null 2>&1 ||
			die "the 'postgres' system user does not exist; PostgreSQL refuses to run as root (apt-get install -y postgresql-15, which creates it via postgresql-common)"
		command -v runuser >/dev/null || die "runuser not found (package util-linux)"
	fi
}

need_redis() {
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		die "redis-server/redis-cli not found (apt-get install -y redis-server)"
	fi
}

# ---- directory layout -------------------------------------------------------------------------

set_dir() {
	local d=$1
	[ -n "$d" ] || die "DIR is empty"
	case $d in /*) ;; *) d=$PWD/$d ;; esac
	# The path ends up inside postgresql.conf strings and a comma-separated list: keep it plain.
	[[ $d =~ ^[A-Za-z0-9._/+@=-]+$ ]] ||
		die "DIR '$d' must contain only letters, digits and . _ / + @ = -"
	while [ "${#d}" -gt 1 ] && [ "${d%/}" != "$d" ]; do d=${d%/}; done
	DIR=$d
	PGDATA_DIR=$DIR/pg
	PGSOCK_DIR=$DIR/pg_sock
	PGLOG=$DIR/pg.log
	REDIS_DIR=$DIR/redis
	REDIS_CONF=$DIR/redis/redis.conf
	REDIS_PIDFILE=$DIR/redis/redis.pid
	REDIS_LOG=$DIR/redis/redis.log
	BOUNCER_DIR=$DIR/pgbouncer
	BOUNCER_INI=$DIR/pgbouncer/pgbouncer.ini
	BOUNCER_PIDFILE=$DIR/pgbouncer/pgbouncer.pid
	BOUNCER_LOG=$DIR/pgbouncer/pgbouncer.log
	ENV_FILE=$DIR/env
	# Unix socket paths are limited to 107 bytes: DIR/pg_sock/.s.PGSQL.NNNNN
	[ $((${#PGSOCK_DIR} + 17)) -le 107 ] ||
		die "DIR '$DIR' is too long for a Unix socket path (keep it under ~85 characters)"
}

# Makes DIR and every ancestor searchable by the postgres user (mktemp -d makes 0700 dirs).
make_traversable() {
	is_root || return 0
	local d=$DIR
	while [ "$d" != / ] && [ -n "$d" ]; do
		if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
			say "note: chmod o+x $d so the postgres user can reach $DIR"
			chmod o+x "$d"
		fi
		d=$(dirname "$d")
	done
}

# ---- ports --------------------------------------------------------------------------------------

port_free() {
	local p=$1
	# Something listening? (connect succeeds)
	if (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
		return 1
	fi
	# Bound but not listening, or TIME_WAIT: try to bind it.
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$HOST" "$p" <<'EOF' 2>/dev/null || return 1
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
	elif command -v ss >/dev/null 2>&1; then
		[ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] || return 1
	fi
	return 0
}

# Prints a free port in 20000..31999 (below Linux's ephemeral range, away from 5432/6379), other
# than those given as arguments.
pick_port() {
	local p i x bad
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		bad=0
		for x in "$@"; do [ "$p" = "$x" ] && bad=1; done
		[ "$bad" = 0 ] && port_free "$p" && {
			echo "$p"
			return 0
		}
	done
	die "no free TCP port found on $HOST"
}

# ---- env file -----------------------------------------------------------------------------------

write_env() {
	local tmp=$ENV_FILE.tmp
	{
		printf 'export FR_TEST_PGHOST=%q\n' "$HOST"
		printf 'export FR_TEST_PGPORT=%q\n' "$PGPORT"
		printf 'export FR_TEST_PGUSER=%q\n' "$PG_USER"
		printf 'export FR_TEST_PGPASSWORD=%q\n' "$PG_PASSWORD"
		printf 'export FR_TEST_PGDATABASE=%q\n' "$PG_DB"
		printf 'export FR_TEST_REDIS_HOST=%q\n' "$HOST"
		printf 'export FR_TEST_REDIS_PORT=%q\n' "$REDISPORT"
		printf 'export FR_TEST_REDIS_PASSWORD=%q\n' "$REDIS_PASSWORD"
		printf 'export FR_TEST_SERVICES_DIR=%q\n' "$DIR"
		printf 'export FR_TEST_PGBOUNCER_PORT=%q\n' "${BOUNCERPORT:-}"
	} >"$tmp"
	mv -f "$tmp" "$ENV_FILE"
}

load_env() {
	[ -f "$ENV_FILE" ] || die "$ENV_FILE not found: run '$me start $DIR' first"
	# shellcheck disable=SC1090
	. "$ENV_FILE"
	PGPORT=$FR_TEST_PGPORT
	REDISPORT=$FR_TEST_REDIS_PORT
	BOUNCERPORT=${FR_TEST_PGBOUNCER_PORT:-}
}

# ---- PostgreSQL ---------------------------------------------------------------------------------

# Prints the postmaster's pid when one runs on DIR/pg.
pg_pid() {
	local pid
	[ -f "$PGDATA_DIR/postmaster.pid" ] || return 1
	pid=$(head -n 1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] && proc_alive "$pid" || return 1
	echo "$pid"
}

pg_log_tail() {
	say "---- last lines of $PGLOG ----"
	tail -n 25 "$PGLOG" >&2 2>/dev/null || true
	say "----"
}

pg_write_conf() {
	cat >"$PGDATA_DIR/fr_test.conf" <<EOF
# written by tests/services.sh
listen_addresses = '$HOST'
port = $PGPORT
unix_socket_directories = '$PGSOCK_DIR'
password_encryption = 'scram-sha-256'
max_connections = 50
shared_buffers = 32MB
logging_collector = off
log_connections = on
log_line_prefix = '%m [%p] %q%u@%d '
EOF
	is_root && chown postgres: "$PGDATA_DIR/fr_test.conf"
	return 0
}

pg_init() {
	rm -rf "$PGDATA_DIR" "$PGSOCK_DIR"
	mkdir -p "$PGDATA_DIR" "$PGSOCK_DIR"
	: >"$PGLOG"
	chmod 0700 "$PGDATA_DIR"
	chmod 0755 "$PGSOCK_DIR"
	if is_root; then chown postgres: "$PGDATA_DIR" "$PGSOCK_DIR" "$PGLOG"; fi
	if ! as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U "$PG_SUPERUSER" -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1; then
		cat "$DIR/initdb.log" >&2
		die "initdb failed (see above)"
	fi
	cat >"$PGDATA_DIR/pg_hba.conf" <<EOF
# written by tests/services.sh: superuser over the socket only; TCP on 127.0.0.1 needs a password
local all $PG_SUPERUSER trust
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
EOF
	echo "include 'fr_test.conf'" >>"$PGDATA_DIR/postgresql.conf"
	if is_root; then chown postgres: "$PGDATA_DIR/pg_hba.conf"; fi
}

# Starts the postmaster on $PGPORT; returns 1 when it could not bind its port, dies otherwise.
pg_start_once() {
	pg_write_conf
	local off
	off=$(($(stat -c %s "$PGLOG" 2>/dev/null || echo 0) + 1))
	if as_pg "$PGBIN/pg_ctl" start -D "$PGDATA_DIR" -l "$PGLOG" -w -t "$WAIT_SECONDS" \
		</dev/null >"$DIR/pg_ctl.out" 2>&1; then
		return 0
	fi
	if tail -c +"$off" "$PGLOG" | grep -q -e 'could not bind' -e 'Address already in use'; then
		say "PostgreSQL could not bind port $PGPORT"
		return 1
	fi
	cat "$DIR/pg_ctl.out" >&2
	pg_log_tail
	pg_stop || true
	die "PostgreSQL did not start on $HOST:$PGPORT within ${WAIT_SECONDS}s"
}

pg_wait_ready() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
		if as_pg "$PGBIN/pg_isready" -q -h "$HOST" -p "$PGPORT" -d postgres -t 2; then
			return 0
		fi
		sleep 0.2
	done
	pg_log_tail
	die "PostgreSQL on $HOST:$PGPORT not accepting connections after ${WAIT_SECONDS}s"
}

pg_psql() {
	as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK_DIR" -p "$PGPORT" -U "$PG_SUPERUSER" "$@"
}

pg_setup_roles() {
	pg_psql -d postgres -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'" >/dev/null ||
		die "could not create role $PG_USER"
	pg_psql -d postgres -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null ||
		die "could not create database $PG_DB"
	# Password authentication over TCP, as the tests will use it.
	local got
	got=$( (cd / && env -i PATH=/usr/bin:/bin PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=10 \
		"$PGBIN/psql" -X -At -d "hostaddr=$HOST port=$PGPORT user=$PG_USER dbname=$PG_DB" \
		-c 'SELECT current_user') 2>&1) || {
		printf '%s\n' "$got" >&2
		pg_log_tail
		die "password login as $PG_USER over TCP failed"
	}
	[ "$got" = "$PG_USER" ] || die "unexpected answer from PostgreSQL: $got"
}

pg_start() { # same port (start-pg)
	if pid=$(pg_pid); then
		say "PostgreSQL already running (pid $pid)"
		return 0
	fi
	[ -f "$PGDATA_DIR/PG_VERSION" ] || die "no cluster in $PGDATA_DIR: run '$me start $DIR'"
	pg_start_once || {
		pg_log_tail
		die "PostgreSQL could not bind $HOST:$PGPORT (port taken by another process?)"
	}
	pg_wait_ready
	say "PostgreSQL started on $HOST:$PGPORT"
}

pg_stop() {
	local pid kids k
	pid=$(pg_pid) || return 0
	kids=$(PARENT_PID=$pid children_of | tr '\n' ' ')
	if ! as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 30 >/dev/null 2>&1; then
		say "pg_ctl stop -m fast failed; trying -m immediate"
		as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -w -t 10 >/dev/null 2>&1 || true
	fi
	# pg_ctl returns once postmaster.pid is gone, a moment before the process itself.
	if ! wait_gone "$pid"; then
		say "killing postmaster $pid"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# Backends exit on their own once the postmaster is gone; make sure of it.
	# shellcheck disable=SC2086
	if ! wait_gone "$pid" $kids; then
		for k in $kids; do
			if [ "$(cat "/proc/$k/comm" 2>/dev/null)" = postgres ]; then
				say "killing postgres process $k"
				kill -KILL "$k" 2>/dev/null || true
			fi
		done
	fi
	REAP_PIDS="$REAP_PIDS $pid $kids"
	say "PostgreSQL stopped"
}

# ---- Redis --------------------------------------------------------------------------------------

redis_pid() {
	local pid
	[ -f "$REDIS_PIDFILE" ] || return 1
	pid=$(head -n 1 "$REDIS_PIDFILE" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	case $(cat "/proc/$pid/comm" 2>/dev/null) in redis-server*) ;; *) return 1 ;; esac
	proc_alive "$pid" || return 1
	echo "$pid"
}

redis_cli() {
	REDISCLI_AUTH=$REDIS_PASSWORD timeout 5 redis-cli --no-auth-warning -h "$HOST" -p "$REDISPORT" "$@"
}

redis_log_tail() {
	say "---- last lines of $REDIS_LOG ----"
	tail -n 25 "$REDIS_LOG" >&2 2>/dev/null || true
	say "----"
}

redis_write_conf() {
	cat >"$REDIS_CONF" <<EOF
# written by tests/services.sh
bind $HOST
port $REDISPORT
protected-mode yes
requirepass $REDIS_PASSWORD
save ""
appendonly no
dir $REDIS_DIR
dbfilename dump.rdb
daemonize yes
supervised no
pidfile $REDIS_PIDFILE
logfile $REDIS_LOG
loglevel notice
databases 16
EOF
	chmod 0600 "$REDIS_CONF"
}

# Starts redis-server on $REDISPORT (empty); returns 1 when it could not bind its port.
redis_start_once() {
	local off i
	mkdir -p "$REDIS_DIR"
	rm -f "$REDIS_DIR/dump.rdb" "$REDIS_DIR/appendonly.aof" "$REDIS_PIDFILE"
	rm -rf "$REDIS_DIR/appendonlydir"
	redis_write_conf
	touch "$REDIS_LOG"
	off=$(($(stat -c %s "$REDIS_LOG") + 1))
	if ! (cd "$REDIS_DIR" && close_extra_fds && exec redis-server "$REDIS_CONF" </dev/null >"$DIR/redis-server.out" 2>&1); then
		cat "$DIR/redis-server.out" >&2
		redis_log_tail
		die "redis-server failed to start"
	fi
	for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
		if [ "$(redis_cli ping 2>/dev/null)" = PONG ] && redis_pid >/dev/null; then
			return 0
		fi
		if tail -c +"$off" "$REDIS_LOG" | grep -q -e 'Could not create server TCP listening socket' \
			-e 'Address already in use' -e 'Failed listening on port'; then
			say "Redis could not bind port $REDISPORT"
			redis_stop >/dev/null 2>&1 || true
			return 1
		fi
		sleep 0.2
	done
	redis_log_tail
	redis_stop || true
	die "Redis on $HOST:$REDISPORT not answering PING after ${WAIT_SECONDS}s"
}

redis_start() { # same port (start-redis)
	if pid=$(redis_pid); then
		say "Redis already running (pid $pid)"
		return 0
	fi
	redis_start_once || {
		redis_log_tail
		die "Redis could not bind $HOST:$REDISPORT (port taken by another process?)"
	}
	say "Redis started on $HOST:$REDISPORT"
}

redis_stop() {
	local pid
	pid=$(redis_pid) || {
		rm -f "$REDIS_PIDFILE"
		return 0
	}
	if [ -n "${REDISPORT:-}" ]; then
		redis_cli shutdown nosave >/dev/null 2>&1 || true
	fi
	if ! wait_gone "$pid"; then
		say "redis-server $pid ignored SHUTDOWN; sending SIGTERM"
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid"; then
			say "killing redis-server $pid"
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" || true
		fi
	fi
	rm -f "$REDIS_PIDFILE" "$REDIS_DIR/dump.rdb"
	REAP_PIDS="$REAP_PIDS $pid"
	say "Redis stopped"
}

# ---- pgbouncer ----------------------------------------------------------------------------------

have_bouncer() { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; }
bouncer_bin() { command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer; }

bouncer_pid() {
	local pid
	[ -f "$BOUNCER_PIDFILE" ] || return 1
	pid=$(head -n 1 "$BOUNCER_PIDFILE" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgbouncer ] && proc_alive "$pid" || return 1
	echo "$pid"
}

bouncer_write_conf() {
	mkdir -p "$BOUNCER_DIR"
	# A plain password in the auth_file lets pgbouncer answer the client's SCRAM exchange and
	# run its own against PostgreSQL (a SCRAM secret would serve only the client side).
	printf '"%s" "%s"\n' "$PG_USER" "$PG_PASSWORD" >"$BOUNCER_DIR/userlist.txt"
	cat >"$BOUNCER_INI" <<EOF
; written by tests/services.sh
[databases]
* = host=$HOST port=$PGPORT

[pgbouncer]
listen_addr = $HOST
listen_port = $BOUNCERPORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $BOUNCER_DIR/userlist.txt
pool_mode = transaction
max_client_conn = 100
default_pool_size = 10
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
pidfile = $BOUNCER_PIDFILE
logfile = $BOUNCER_LOG
EOF
	chmod 0600 "$BOUNCER_DIR/userlist.txt" "$BOUNCER_INI"
	if is_root; then chown -R postgres: "$BOUNCER_DIR"; fi
	return 0
}

# Starts pgbouncer on $BOUNCERPORT; returns 1 when it could not bind its port.
bouncer_start_once() {
	local off i
	bouncer_write_conf
	rm -f "$BOUNCER_PIDFILE"
	touch "$BOUNCER_LOG"
	if is_root; then chown postgres: "$BOUNCER_LOG"; fi
	off=$(($(stat -c %s "$BOUNCER_LOG") + 1))
	# pgbouncer refuses to run as root: as_pg runs it as the postgres user when we are root.
	if ! as_pg "$(bouncer_bin)" -d -q "$BOUNCER_INI" </dev/null >"$DIR/pgbouncer.out" 2>&1; then
		if tail -c +"$off" "$BOUNCER_LOG" | grep -q -e 'Address already in use' -e 'could not bind'; then
			say "pgbouncer could not bind port $BOUNCERPORT"
			return 1
		fi
		cat "$DIR/pgbouncer.out" >&2
		tail -n 20 "$BOUNCER_LOG" >&2 2>/dev/null || true
		die "pgbouncer failed to start"
	fi
	for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
		if bouncer_pid >/dev/null && ! port_free "$BOUNCERPORT"; then
			return 0
		fi
		if tail -c +"$off" "$BOUNCER_LOG" | grep -q -e 'Address already in use' -e 'could not bind'; then
			say "pgbouncer could not bind port $BOUNCERPORT"
			bouncer_stop >/dev/null 2>&1 || true
			return 1
		fi
		sleep 0.2
	done
	tail -n 20 "$BOUNCER_LOG" >&2 2>/dev/null || true
	bouncer_stop || true
	die "pgbouncer on $HOST:$BOUNCERPORT not listening after ${WAIT_SECONDS}s"
}

bouncer_start() { # same port (start-pgbouncer)
	have_bouncer || die "pgbouncer not found (apt-get install -y pgbouncer)"
	[ -n "${BOUNCERPORT:-}" ] || die "no pgbouncer port in $ENV_FILE (pgbouncer was not installed at start)"
	if pid=$(bouncer_pid); then
		say "pgbouncer already running (pid $pid)"
		return 0
	fi
	bouncer_start_once || die "pgbouncer could not bind $HOST:$BOUNCERPORT"
	say "pgbouncer started on $HOST:$BOUNCERPORT"
}

bouncer_stop() {
	local pid
	pid=$(bouncer_pid) || {
		rm -f "$BOUNCER_PIDFILE"
		return 0
	}
	# SIGTERM: immediate shutdown (SIGINT would wait for the clients to finish).
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid"; then
		say "killing pgbouncer $pid"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" || true
	fi
	rm -f "$BOUNCER_PIDFILE"
	REAP_PIDS="$REAP_PIDS $pid"
	say "pgbouncer stopped"
}

# ---- commands -----------------------------------------------------------------------------------

cmd_stop() {
	if [ -f "$ENV_FILE" ]; then
		load_env
	fi
	local rc=0
	[ -d "$BOUNCER_DIR" ] && { bouncer_stop || rc=1; }
	[ -d "$PGDATA_DIR" ] && { pg_stop || rc=1; }
	[ -d "$REDIS_DIR" ] && { redis_stop || rc=1; }
	return $rc
}

cmd_start() {
	need_pg
	need_redis
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd -P)
	set_dir "$DIR"
	# A leftover run in the same DIR: stop it and start afresh.
	cmd_stop >/dev/null 2>&1 || true
	STOP_ON_EXIT=1 # a failure from here on stops whatever was started
	rm -f "$ENV_FILE"
	make_traversable
	pg_init
	local attempt
	for ((attempt = 1; ; attempt++)); do
		PGPORT=$(pick_port)
		pg_start_once && break
		[ "$attempt" -lt "$START_ATTEMPTS" ] || {
			pg_log_tail
			die "PostgreSQL could not bind a port after $attempt attempts"
		}
	done
	pg_wait_ready
	pg_setup_roles
	say "PostgreSQL 15 started on $HOST:$PGPORT (data $PGDATA_DIR, log $PGLOG)"
	for ((attempt = 1; ; attempt++)); do
		REDISPORT=$(pick_port "$PGPORT")
		redis_start_once && break
		[ "$attempt" -lt "$START_ATTEMPTS" ] || {
			redis_log_tail
			pg_stop || true
			die "Redis could not bind a port after $attempt attempts"
		}
	done
	say "Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') started on $HOST:$REDISPORT (log $REDIS_LOG)"
	BOUNCERPORT=
	if have_bouncer; then
		for ((attempt = 1; ; attempt++)); do
			BOUNCERPORT=$(pick_port "$PGPORT" "$REDISPORT")
			bouncer_start_once && break
			[ "$attempt" -lt "$START_ATTEMPTS" ] || {
				redis_stop || true
				pg_stop || true
				die "pgbouncer could not bind a port after $attempt attempts"
			}
		done
		say "pgbouncer $("$(bouncer_bin)" --version | sed -n '1s/^PgBouncer //p') started on $HOST:$BOUNCERPORT (transaction pooling, log $BOUNCER_LOG)"
	else
		say "warning: pgbouncer not found: FR_TEST_PGBOUNCER_PORT stays empty (apt-get install -y pgbouncer)"
	fi
	write_env
	STOP_ON_EXIT=
	cat "$ENV_FILE"
}

main() {
	[ $# -ge 2 ] || usage
	local cmd=$1
	set_dir "$2"
	shift 2
	case $cmd in
	start) cmd_start ;;
	stop) cmd_stop ;;
	env) load_env && cat "$ENV_FILE" ;;
	stop-pg) load_env && pg_stop ;;
	start-pg) need_pg && load_env && pg_start ;;
	restart-pg) need_pg && load_env && pg_stop && pg_start ;;
	stop-redis) load_env && redis_stop ;;
	start-redis) need_redis && load_env && redis_start ;;
	restart-redis) need_redis && load_env && redis_stop && redis_start ;;
	stop-pgbouncer) load_env && bouncer_stop ;;
	start-pgbouncer) load_env && bouncer_start ;;
	run)
		[ "${1:-}" = -- ] && shift
		[ $# -ge 1 ] || usage
		cmd_start >/dev/null
		STOP_ON_EXIT=1
		load_env
		local rc=0
		# In the background so that a signal to this script reaches the command too (on_exit);
		# stdin is passed explicitly (background commands get /dev/null otherwise).
		exec 3<&0
		"$@" <&3 3<&- &
		CHILD_PID=$!
		exec 3<&-
		wait "$CHILD_PID" || rc=$?
		CHILD_PID=
		STOP_ON_EXIT=
		cmd_stop || true
		return $rc
		;;
	*) usage ;;
	esac
}

# On any exit: stop what a failed start or an unfinished run left running, and wait until the
# stopped servers are reaped; keeps the exit status.
on_exit() {
	local rc=$?
	trap - EXIT
	if [ -n "$CHILD_PID" ] && kill -0 "$CHILD_PID" 2>/dev/null; then
		say "stopping the command (pid $CHILD_PID)"
		kill -TERM "$CHILD_PID" 2>/dev/null || true
		wait_gone "$CHILD_PID" || kill -KILL "$CHILD_PID" 2>/dev/null || true
	fi
	if [ -n "$STOP_ON_EXIT" ]; then
		say "cleaning up: stopping the servers in $DIR"
		cmd_stop >/dev/null 2>&1 || true
	fi
	# shellcheck disable=SC2086
	wait_reaped $REAP_PIDS
	exit "$rc"
}

STOP_ON_EXIT=
CHILD_PID=
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
main "$@"
