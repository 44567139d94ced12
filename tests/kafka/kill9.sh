#!/bin/sh
# kill9.sh — crash pledged serve at random moments while events flow, and
# check that nothing was lost or applied twice.
#
# A mock broker runs in a process of its own (it outlives every serve). A
# generated stream is fed in chunks with `pledged publish` while serve is
# started and killed with SIGKILL at least KILLS times at random moments
# (some before it has its partitions, most while it is writing batches).
# Then one last serve catches up, stops on SIGTERM, and the totals of
# `pledged replay --dry-run` must equal those computed independently by
# stream_gen, the log must hold each valid event once, each invalid one must
# be kept as a rejection once, and `pledged verify` must pass.
#
# Each serve joins a group of its own: a SIGKILLed member stays in its group
# until its session times out, and waiting for that 20 times would only test
# Kafka's patience. Positions come from the data dir, not from the group.
#
# The data dir starts with a 64 KiB map, so the map grows many times during
# the run and some kills land while it grows.
#
# Usage: kill9.sh PLEDGED MOCK_BROKER STREAM_GEN [KILLS]
set -eu
PLEDGED=$1 MOCK=$2 GEN=$3 KILLS=${4:-22}
T=$(mktemp -d "${TMPDIR:-/tmp}/pledged-kill9-XXXXXX")
MOCK_PID= SERVE_PID= FEED_PID=
cleanup() {
	for pid in $SERVE_PID $FEED_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "kill9: FAIL: $*" >&2; tail -n 30 "$T/serve.log" >&2 || true; exit 1; }

. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$T" 4

"$GEN" gen 6 150 "$T/events.jsonl" "$T/expect" || fail "stream_gen gen"
split -l 60 "$T/events.jsonl" "$T/chunk."

# Feed the stream slowly enough that it spans the whole kill loop.
(
	for c in "$T"/chunk.*; do
		"$PLEDGED" publish --brokers "$ADDR" <"$c" 2>>"$T/publish.log" || exit 1
		sleep 2.5
	done
) &
FEED_PID=$!

start_serve() {
	"$PLEDGED" serve --brokers "$ADDR" --data "$T/data" --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 --group "kill9-$1" --batch-max 40 --map-size 64K --log-level warn 2>>"$T/serve.log" &
	SERVE_PID=$!
}

i=1
while [ $i -le "$KILLS" ]; do
	start_serve $i
	# 0.1-5 s: partitions come after ~3 s, so most kills land mid-batch.
	ms=$(( ($(od -An -N2 -tu2 /dev/urandom) % 4900) + 100 ))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null || true
	SERVE_PID=
	i=$((i + 1))
done
echo "kill9: killed serve $KILLS times"

wait "$FEED_PID" || fail "publish failed: $(cat "$T/publish.log")"
FEED_PID=
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
echo "kill9: totals exact, every event in the log once, $want rejections, verify passed"
