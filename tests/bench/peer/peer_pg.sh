#!/bin/bash
# peer_pg.sh — the benchmark peer: pg_consumer.py (confluent-kafka + psycopg2)
# consuming a topic into a throw-away PostgreSQL 15 cluster, measured.
#
#   peer_pg.sh BROKER TOPIC EXPECT_MESSAGES OUT_DIR
#
# Creates a cluster in a temporary directory (as the user `nobody` when run
# as root, since initdb refuses root; as the caller otherwise), listening on
# a unix socket in that directory only, with PostgreSQL's defaults (fsync,
# synchronous_commit and full_page_writes on). Creates the schema, runs
# pg_consumer.py with a fresh consumer group until EXPECT_MESSAGES messages
# are handled (applied, rejected or ignored as duplicates), forces a
# CHECKPOINT, and prints one `key value` per line on stdout:
#
#   events_per_s    handled messages / seconds from the first message
#                   received to the commit of the last batch
#   cpu_s_python    user+sys CPU seconds of the python process (all its
#                   threads, librdkafka's included), from its getrusage
#   cpu_s_postgres  user+sys CPU seconds of every postgres process of the
#                   cluster from just before the consumer started to just
#                   after the final CHECKPOINT (see postgres_sample below)
#   bytes_written   bytes the postgres processes wrote over the same span
#                   (write_bytes of /proc/PID/io, see postgres_sample)
#   store_bytes     pg_database_size of the database at the end (tables,
#                   indexes, TOAST; not the WAL)
#   wal_bytes       WAL generated over the run (pg_current_wal_lsn delta)
#   handled, elapsed_s   what events_per_s is made of
#
# and writes OUT_DIR/totals.jsonl: one JSON line per campaign, ordered by
# id, in the shape `pledged replay --dry-run` prints. The cluster is
# stopped and removed at the end, whatever happens.
#
# Exits 77 when PostgreSQL 15 (PG_BIN, default /usr/lib/postgresql/15/bin),
# python3-confluent-kafka, python3-psycopg2 or python3-msgpack is missing;
# 1 when the run fails; 2 on bad usage.
#
# Environment: PYTHON (an interpreter to use), PG_BIN, PG_PEER_ARGS (more
# pg_consumer.py flags, e.g. "--batch-max 100000 --batch-ms 250"),
# PG_PEER_CONF (lines appended to postgresql.conf), PG_PEER_TIMEOUT (seconds
# the consumer may take, default 1800).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
say() { echo "peer_pg.sh: $*" >&2; }

if [ $# -ne 4 ]; then
	echo "usage: $0 BROKER TOPIC EXPECT_MESSAGES OUT_DIR" >&2
	exit 2
fi
BROKER=$1 TOPIC=$2 EXPECT=$3 OUT=$4
case "$EXPECT" in
'' | *[!0-9]*) say "EXPECT_MESSAGES must be a number"; exit 2 ;;
esac

# --- what it needs ----------------------------------------------------------
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
for tool in initdb pg_ctl postgres psql createdb; do
	if [ ! -x "$PG_BIN/$tool" ]; then
		say "PostgreSQL 15 is not installed ($PG_BIN/$tool missing: apt-get install postgresql-15); skipping"
		exit 77
	fi
done
# Debian's packages install for Debian's python3, which a python3 earlier in
# PATH (pyenv, a venv) may not see: take the first interpreter that has them.
PY=""
for candidate in ${PYTHON:-} /usr/bin/python3 python3; do
	if "$candidate" -c 'import confluent_kafka, psycopg2, psycopg2.extras, msgpack' 2>/dev/null; then
		PY=$candidate
		break
	fi
done
if [ -z "$PY" ]; then
	say "python3 lacks confluent_kafka, psycopg2 or msgpack" \
		"(apt-get install python3-confluent-kafka python3-psycopg2 python3-msgpack); skipping"
	exit 77
fi
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
cd / || exit 1 # the cluster's user may not be allowed in the caller's directory

# --- the throw-away cluster ---------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pg-peer.XXXXXX") || exit 1
AS=()
if [ "$(id -u)" = 0 ]; then
	# initdb and postgres refuse to run as root.
	chown nobody "$TMP" && chmod 700 "$TMP" || exit 1
	AS=(runuser -u nobody --)
fi
PGDATA=$TMP/data
DB=pledges
DSN="host=$TMP user=peer dbname=$DB"
CONSUMER_PID=""
cleanup() {
	[ -n "$CONSUMER_PID" ] && kill "$CONSUMER_PID" 2>/dev/null && wait "$CONSUMER_PID" 2>/dev/null
	if [ -f "$PGDATA/postmaster.pid" ]; then
		"${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { say "$*"; [ -f "$TMP/postgres.log" ] && tail -n 20 "$TMP/postgres.log" >&2; exit 1; }

# Throw-away: initdb need not sync, the run itself keeps every default.
"${AS[@]}" "$PG_BIN/initdb" -D "$PGDATA" -U peer -A trust -E UTF8 --no-locale --no-sync \
	>"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; fail "initdb failed"; }
{
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$TMP'"
	echo "${PG_PEER_CONF:-}"
} >>"$PGDATA/postgresql.conf"
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$TMP/postgres.log" -w start >/dev/null ||
	fail "postgres did not start"
PSQL=("$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TMP" -U peer)
"$PG_BIN/createdb" -h "$TMP" -U peer "$DB" || fail "createdb failed"
"$PY" "$HERE/pg_consumer.py" --dsn "$DSN" --create-schema || fail "could not create the schema"
POSTMASTER=$(head -n 1 "$PGDATA/postmaster.pid")

# CPU ticks and bytes written by the cluster so far: "TICKS WRITE_BYTES".
#
# CPU: utime+stime+cutime+cstime (fields 14-17 of /proc/PID/stat) of the
# postmaster and of each of its live children. A child that exited (a
# backend, an autovacuum worker) was reaped by the postmaster, so its time
# is in the postmaster's cutime/cstime; one still alive is counted itself.
# So each process's time is counted exactly once.
#
# Bytes: write_bytes of /proc/PID/io, the measure the pledged benchmark
# uses for serve, summed the same way: the kernel adds a reaped child's
# I/O counters to its parent's, so the postmaster's counters hold those of
# its exited children and the live children (checkpointer, background
# writer, WAL writer, the consumer's backend) are added. write_bytes counts
# the bytes of page-cache pages dirtied towards the disk (WAL, heap,
# indexes, clog...), so with the CHECKPOINT forced before the last sample
# every page the run changed is in it; unlike pg_current_wal_lsn() alone,
# it counts the data files as well as the WAL, as the disk sees them.
postgres_sample() {
	local pids p ticks bytes=0
	# One pass over every process: the postmaster and its children.
	read -r ticks pids < <(cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$POSTMASTER" '
		{ pid = $1; sub(/^.*\) /, "") } # then state is $1, ppid $2, utime $12
		pid == pm || $2 == pm { t += $12 + $13 + $14 + $15; list = list " " pid }
		END { print t + 0, list }')
	for p in $pids; do
		bytes=$((bytes + $(awk '/^write_bytes:/ { print $2 }' "/proc/$p/io" 2>/dev/null || echo 0)))
	done
	echo "$ticks $bytes"
}

read -r TICKS0 BYTES0 <<<"$(postgres_sample)"
LSN0=$("${PSQL[@]}" -d "$DB" -c "SELECT pg_current_wal_lsn()") || fail "psql failed"

# --- the run ----------------------------------------------------------------------
GROUP="pg-peer-$$-$(date +%s)"
# shellcheck disable=SC2086 # PG_PEER_ARGS is a list of flags
"$PY" "$HERE/pg_consumer.py" --dsn "$DSN" --brokers "$BROKER" --topic "$TOPIC" --group "$GROUP" \
	--expect "$EXPECT" --timeout "${PG_PEER_TIMEOUT:-1800}" ${PG_PEER_ARGS:-} >"$TMP/consumer.out" &
CONSUMER_PID=$!
wait "$CONSUMER_PID"
RC=$?
CONSUMER_PID=""
[ "$RC" = 0 ] || fail "pg_consumer.py failed (exit $RC)"
RESULT=$(tail -n 1 "$TMP/consumer.out")
say "$RESULT"

"${PSQL[@]}" -d "$DB" -c "CHECKPOINT" || fail "CHECKPOINT failed"
read -r TICKS1 BYTES1 <<<"$(postgres_sample)"
WAL=$("${PSQL[@]}" -d "$DB" -c "SELECT pg_current_wal_lsn() - '$LSN0'::pg_lsn") || fail "psql failed"
STORE=$("${PSQL[@]}" -d "$DB" -c "SELECT pg_database_size('$DB')") || fail "psql failed"
"$PY" "$HERE/pg_consumer.py" --dsn "$DSN" --totals >"$OUT/totals.jsonl" || fail "could not write totals"

field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$RESULT"; }
HZ=$(getconf CLK_TCK)
echo "events_per_s $(field events_per_s)"
echo "cpu_s_python $(field cpu_s)"
echo "cpu_s_postgres $(awk -v t=$((TICKS1 - TICKS0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')"
echo "bytes_written $((BYTES1 - BYTES0))"
echo "store_bytes $STORE"
echo "wal_bytes ${WAL%.*}"
echo "handled $(field handled)"
echo "elapsed_s $(field elapsed_s)"
