#!/bin/sh
# fetched_at_stop.sh — SIGTERM while librdkafka holds messages it has fetched
# and serve has not polled: serve stops cleanly (exit 0, no abort), drops
# them unapplied, and reads them again at the next start: every event once.
#
# How the case is made: a backlog of ~37000 events is published before
# serve starts, so librdkafka prefetches much of it at once, while serve,
# with batches of 100, polls at most two batches ahead of its writes. Serve
# is stopped as soon as its first batch of the run is written (the seq in
# /healthz moves): the rest of what was fetched is still queued, thousands
# of messages in each of 66 stops measured (ASan and release builds). The
# close moves that queue onto its own, and says so at debug level ("fetched
# messages not yet polled are dropped"); the test fails if no stop met the
# case. Serving that queue for callbacks only (rd_kafka_queue_poll_callback)
# aborted serve (exit 134) on the first message there, at every stop:
# librdkafka's assertion res != PASS.
#
# Three such stops, each a restart on the same data dir, then one serve
# catches up: the totals of `pledged replay --dry-run` must equal those
# stream_gen computed, the log must hold each valid event once, each invalid
# one must be kept as a rejection once, and `pledged verify` must pass.
#
# Usage: fetched_at_stop.sh PLEDGED MOCK_BROKER STREAM_GEN
set -u
PLEDGED=$1 MOCK=$2 GEN=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-fetched-XXXXXX")
MOCK_PID= SERVE_PID=
cleanup() {
	for pid in $SERVE_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
command -v curl >/dev/null || { echo "fetched_at_stop: curl missing: skipped"; exit 77; }
starts=0
die() { fail "$*"; tail -n 20 "$work/serve.$starts.log" >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$work" 4

"$GEN" gen 6 4000 "$work/events.jsonl" "$work/expect" || die "stream_gen gen"
timeout 60 "$PLEDGED" publish --brokers "$ADDR" <"$work/events.jsonl" 2>"$work/publish.err" ||
	die "publish: $(cat "$work/publish.err")"

# Each serve joins a group of its own: the mock broker holds a group a member
# left for most of a session timeout before its next join. Positions come
# from the data dir, not from the group.
start_serve() {
	starts=$((starts + 1))
	"$PLEDGED" serve --brokers "$ADDR" --data "$work/data" --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 --group "fetched-$starts" --batch-max 100 --log-level debug \
		2>"$work/serve.$starts.log" &
	SERVE_PID=$!
	ADMIN=http://127.0.0.1:$(admin_port "$work/serve.$starts.log")
}
seq_now() { curl -s -m 5 "$ADMIN/healthz" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p'; }
stop_serve() { # stop_serve WHAT
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	rc=$?
	SERVE_PID=
	cat "$work/serve.$starts.log" >>"$work/serve.log"
	[ "$rc" = 0 ] && ok || {
		fail "$1: serve exited $rc on SIGTERM (134: aborted)"
		tail -n 5 "$work/serve.$starts.log" >&2
	}
}

met=0
for round in 1 2 3; do
	start_serve
	from=
	for _ in $(seq 100); do from=$(seq_now); [ -n "$from" ] && break; sleep 0.1; done
	[ -n "$from" ] || die "stop $round: /healthz does not answer"
	moved=
	for _ in $(seq 1500); do
		now=$(seq_now)
		[ -n "$now" ] && [ "$now" -gt "$from" ] && { moved=1; break; }
		sleep 0.02
	done
	[ -n "$moved" ] || die "stop $round: nothing applied in 30 s"
	stop_serve "stop $round (seq $from -> $now)"
	grep -q 'fetched messages not yet polled are dropped' "$work/serve.$starts.log" &&
		met=$((met + 1))
done
echo "fetched_at_stop: $met of 3 stops had fetched messages not yet polled"
[ "$met" -gt 0 ] && ok || fail "no stop met fetched messages not yet polled: the test tested nothing"

start_serve
matched=
for _ in $(seq 120); do
	if "$PLEDGED" replay --data "$work/data" --dry-run >"$work/totals" 2>/dev/null &&
		"$GEN" check "$work/expect" <"$work/totals" >/dev/null 2>&1; then
		matched=1
		break
	fi
	sleep 0.5
done
stop_serve "the last serve"
[ -n "$matched" ] && ok || { "$GEN" check "$work/expect" <"$work/totals"; fail "totals differ"; }
want=$(sed -n 's/^events //p' "$work/expect")
got=$("$PLEDGED" dump --data "$work/data" | wc -l)
[ "$got" -eq "$want" ] && ok || fail "the log holds $got events, want $want"
want=$(sed -n 's/^rejections //p' "$work/expect")
got=$("$PLEDGED" rejections --data "$work/data" | wc -l)
[ "$got" -eq "$want" ] && ok || fail "$got rejections kept, want $want"
"$PLEDGED" verify --data "$work/data" >/dev/null 2>&1 && ok || fail "pledged verify"
finish
