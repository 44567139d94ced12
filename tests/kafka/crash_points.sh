#!/bin/sh
# crash_points.sh — make serve die at every crash point of the write path in
# turn (base/crash_point.h), restart it each time, and check that nothing
# was lost or applied twice.
#
# A mock broker runs in a process of its own. Before each crash a new chunk
# of a generated stream is published, and serve is started with
# PLEDGED_CRASH_AT=POINT:PASS (see RUNS below), so that it dies in the
# middle of its work with CRASH_POINT_EXIT (99). consumer.revoked is reached by asking serve to stop
# (SIGTERM), which revokes its partitions. A point that is never reached
# fails the test. Then one last serve catches up, and the totals must equal
# those stream_gen computed, the log must hold each valid event once, each
# invalid one must be kept as a rejection once, and `pledged verify` must
# pass.
#
# Each serve joins a group of its own (see kill9.sh), the data dir starts
# with a 64 KiB map so that it grows while serve writes, and the state
# index makes a checkpoint every 1000 entries so that its upkeep writes
# beside the batches.
#
# Usage: crash_points.sh PLEDGED MOCK_BROKER STREAM_GEN CRASH_POINT_H on|off
# Skipped (77) when the build has no crash points (off).
set -eu
PLEDGED=$1 MOCK=$2 GEN=$3 HEADER=$4 ENABLED=$5
[ "$ENABLED" = on ] || { echo "crash points not compiled in (meson -Dcrash_points=true): skipped"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/pledged-crash-XXXXXX")
MOCK_PID= SERVE_PID=
cleanup() {
	for pid in $SERVE_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "crash_points: FAIL: $*" >&2; tail -n 30 "$T/serve.log" >&2 || true; exit 1; }

POINTS=$(sed -n 's/^[[:space:]]*X([A-Z_]*, "\([a-z_.]*\)",.*/\1/p' "$HEADER")
[ "$(echo "$POINTS" | wc -w)" -ge 8 ] || fail "read too few crash points from $HEADER"
# POINT:PASS for each run. Points passed once per start (or, for a
# checkpoint, about once) die on the first pass, the others on the second, in the middle of serve's work; commits
# also on the first and third, so that two writes in a row (events, then
# offsets) would be cut apart.
RUNS=
for point in $POINTS; do
	case $point in
	store.grown | consumer.assigned | consumer.revoked | upkeep.written) RUNS="$RUNS $point:1" ;;
	store.committed) RUNS="$RUNS $point:1 $point:2 $point:3" ;;
	*) RUNS="$RUNS $point:2" ;;
	esac
done
count=$(echo "$RUNS" | wc -w)

. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$T" 4

# A rejection in nearly every batch: a batch applied twice keeps one twice.
"$GEN" gen 6 120 "$T/events.jsonl" "$T/expect" 3 || fail "stream_gen gen"
# One chunk per crash, and the rest for the last serve.
lines=$(wc -l <"$T/events.jsonl")
split -l $((lines / (count + 1) + 1)) "$T/events.jsonl" "$T/chunk."
set -- "$T"/chunk.*

publish_next() {
	[ $# -gt 0 ] || return 0
	"$PLEDGED" publish --brokers "$ADDR" <"$1" 2>>"$T/publish.log" || fail "publish: $(cat "$T/publish.log")"
}

start_serve() { # start_serve GROUP [CRASH_AT]
	PLEDGED_CRASH_AT=${2:-} "$PLEDGED" serve --brokers "$ADDR" --data "$T/data" \
		--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --group "crash-$1" --batch-max 20 --map-size 64K \
		--checkpoint-entries 1000 \
		--log-level warn 2>>"$T/serve.log" &
	SERVE_PID=$!
}

# Waits up to $2 seconds for serve to exit; its status in $status, or "running".
wait_exit() {
	status=running
	for _ in $(seq $(($1 * 10))); do
		if ! kill -0 "$SERVE_PID" 2>/dev/null; then
			status=0
			wait "$SERVE_PID" || status=$?
			SERVE_PID=
			return
		fi
		sleep 0.1
	done
}

i=0
for run in $RUNS; do
	point=${run%:*}
	i=$((i + 1))
	publish_next "$@"
	[ $# -gt 0 ] && shift
	start_serve "$i" "$run"
	if [ "$point" = consumer.revoked ]; then
		sleep 5
		kill -TERM "$SERVE_PID"
	fi
	wait_exit 30
	if [ "$status" = running ]; then
		kill -9 "$SERVE_PID"
		wait "$SERVE_PID" 2>/dev/null || true
		SERVE_PID=
		fail "crash point $run was never reached"
	fi
	[ "$status" = 99 ] || fail "serve exited with $status, not at crash point $run"
	echo "crash_points: died at $run"
done

for chunk in "$@"; do publish_next "$chunk"; done
start_serve final
matched=
for _ in $(seq 120); do
	if "$PLEDGED" replay --data "$T/data" --dry-run >"$T/totals" 2>/dev/null &&
		"$GEN" check "$T/expect" <"$T/totals" 2>/dev/null; then
		matched=1
		break
	fi
	sleep 0.5
done
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "serve did not stop cleanly on SIGTERM"
SERVE_PID=
[ -n "$matched" ] || { "$GEN" check "$T/expect" <"$T/totals"; fail "totals differ"; }

want=$(sed -n 's/^events //p' "$T/expect")
got=$("$PLEDGED" dump --data "$T/data" | wc -l)
[ "$got" -eq "$want" ] || fail "log holds $got events, want $want"
want=$(sed -n 's/^rejections //p' "$T/expect")
got=$("$PLEDGED" rejections --data "$T/data" | wc -l)
[ "$got" -eq "$want" ] || fail "$got rejections kept, want $want"
"$PLEDGED" verify --data "$T/data" >/dev/null || fail "pledged verify"
echo "crash_points: died $count times at $(echo "$POINTS" | wc -w) points; totals exact, every event once, $want rejections, verify passed"
