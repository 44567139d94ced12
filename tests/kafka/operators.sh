#!/bin/bash
# operators.sh — the operator's commands while serve consumes: none may leave
# the log and its projections irreconcilable, and none stops ingestion.
#
# 1. The demo campaign through Kafka into serve. A point-in-time replay
#    (--until-seq 2000, --until-time) is refused: the live projections only
#    ever reflect the whole log. Then the events that projections rewound to
#    entry 2000 would judge wrongly: a refund of pl-00406 (a pledge after
#    entry 2000; accepted), a comment by sup-1826 (a backer since entry
#    2056; accepted), and pledge pl-00261 sent again under a new event id
#    (rejected: the campaign is closed). The figures over HTTP must be exact.
# 2. A generated stream flows in while `pledged replay` rebuilds the
#    projections online: a rebuild kept aside with --no-swap shows in
#    /metrics; `pledged verify` (no write lock) passes while serve consumes;
#    the replay that swaps the rebuild in catches up with what serve wrote
#    since. A second, whole rebuild held to 5000 entries a second (--max-rate)
#    so that it lasts: serve applies the stream's last chunk while it runs.
# 3. --no-swap, --diff and --abort with serve running.
# At the end the generated campaigns' totals equal those stream_gen computed,
# the demo's are exact, and verify exits 0.
#
# Usage: operators.sh PLEDGED MOCK_BROKER STREAM_GEN DEMO.jsonl
set -u
PLEDGED=$1 MOCK=$2 GEN=$3 DEMO=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-operators-XXXXXX")
MOCK_PID= SERVE_PID= FEED_PID= REPLAY_PID=
cleanup() {
	for pid in $REPLAY_PID $FEED_PID $SERVE_PID $MOCK_PID; do
		kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
die() { fail "$*"; tail -n 20 "$work/serve.log" >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$work" 4
CAMPAIGN=jess-phillips-for-labour-leader

"$PLEDGED" serve --brokers "$ADDR" --data "$work/data" --listen 127.0.0.1:0 \
	--admin-listen 127.0.0.1:0 --batch-max 200 --log-level info 2>"$work/serve.log" &
SERVE_PID=$!
PORT=$(serve_port "$work/serve.log")
ADMIN_PORT=$(admin_port "$work/serve.log")
[ -n "$PORT" ] && [ -n "$ADMIN_PORT" ] || die "serve did not start"
URL=http://127.0.0.1:$PORT
ADMIN=http://127.0.0.1:$ADMIN_PORT # the operators' listener: metrics and rejections
metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# wait_seq N: until the log holds N entries (60 s at most).
wait_seq() {
	for _ in $(seq 600); do
		[ "$(metric pledged_log_sequence)" -ge "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	die "the log did not reach $1 entries (at $(metric pledged_log_sequence))"
}
publish() { "$PLEDGED" publish --brokers "$ADDR" 2>>"$work/publish.log" >/dev/null; }

# --- 1. rewinds refused, then events a rewound state would judge wrongly ---
publish <"$DEMO" || die "publish the demo"
wait_seq 2059
expect 2 "replay --until-seq 2000 with serve running" -- "$PLEDGED" replay --data "$work/data" --until-seq 2000
expect 2 "replay --until-time with serve running" -- "$PLEDGED" replay --data "$work/data" --until-time 2020-01-20
cat >"$work/late.jsonl" <<EOF
{"v":1,"type":"pledge.refunded","id":"late-refund","at":1579803000000,"campaign":"$CAMPAIGN","pledge":"pl-00406","amount":1500}
{"v":1,"type":"comment.posted","id":"late-comment","at":1579803100000,"campaign":"$CAMPAIGN","supporter":"sup-1826","comment":"cm-late","text":"Still proud to have backed this."}
{"v":1,"type":"pledge.created","id":"late-redelivery","at":1579803200000,"campaign":"$CAMPAIGN","pledge":"pl-00261","supporter":"sup-0261","amount":10000,"currency":"GBP"}
EOF
publish <"$work/late.jsonl" || die "publish the late events"
wait_seq 2061
for _ in $(seq 50); do
	[ "$(curl -s "$ADMIN/metrics" | awk '/^pledged_events_rejected_total\{reason="campaign_closed"\}/ { print $2 }')" = 1 ] && break
	sleep 0.1
done
curl -s "$URL/v1/campaigns/$CAMPAIGN" >"$work/campaign.json"
contains "$work/campaign.json" '"raised":5802600' "the refund lowered the total by 15.00"
contains "$work/campaign.json" '"supporters":1974' "sup-0406 no longer counts"
contains "$work/campaign.json" '"comments":11' "the backer's comment counts"
curl -s "$ADMIN/v1/rejections" >"$work/rejections.json"
contains "$work/rejections.json" '"reason":"campaign_closed"' "the re-sent pledge is rejected"
expect 0 "verify after the late events" -- "$PLEDGED" verify --data "$work/data"

# --- 2. an online rebuild and verify while a stream flows in ---
"$GEN" gen 24 1200 "$work/stream.jsonl" "$work/expect" || die "stream_gen gen"
split -l 1000 "$work/stream.jsonl" "$work/chunk."
last_chunk=$(ls "$work"/chunk.* | tail -n 1)
# All but the last chunk flow in now; the last one goes in during a rebuild.
(for c in "$work"/chunk.*; do [ "$c" = "$last_chunk" ] && break; publish <"$c" || exit 1; sleep 0.1; done) &
FEED_PID=$!
wait_seq 8000
# A rebuild kept aside (--no-swap) stays under way, visible in /metrics;
# the replay that swaps it in later must first catch up with what serve
# wrote meanwhile.
expect 0 "replay --no-swap with serve consuming" -- "$PLEDGED" replay --data "$work/data" --no-swap
kept=$(sed -n 's/.*caught up with entry \([0-9]*\), not swapped.*/\1/p' "$work/err")
[ -n "$kept" ] && ok || fail "replay --no-swap says where it stopped: $(cat "$work/err")"
[ "$(metric pledged_rebuild_running)" = 1 ] && ok || fail "/metrics shows the kept rebuild"
[ "$(metric pledged_rebuild_sequence)" = "$kept" ] && ok ||
	fail "/metrics: rebuild at $(metric pledged_rebuild_sequence), want $kept"
expect 0 "verify while serve consumes" -- "$PLEDGED" verify --data "$work/data"
contains "$work/out" "OK: projections match the log" "verify says OK"
wait "$FEED_PID" || die "publishing the stream failed: $(tail -n 3 "$work/publish.log")"
FEED_PID=
events=$(awk '/^events / { print $2 }' "$work/expect")
rejections=$(awk '/^rejections / { print $2 }' "$work/expect")
wait_seq $((2061 + events - $(wc -l <"$last_chunk")))

# The replay that swaps the kept rebuild in catches up with what serve
# wrote since.
applied_before=$(metric pledged_log_sequence)
expect 0 "replay of the kept rebuild" -- "$PLEDGED" replay --data "$work/data" --txn-ms 5
swapped=$(sed -n 's/.*swapped in at entry \([0-9]*\).*/\1/p' "$work/err" | tail -n 1)
[ -n "$swapped" ] && [ "$swapped" -ge "$applied_before" ] && ok ||
	fail "the rebuild caught up with what serve wrote since --no-swap (kept $kept, swapped at '$swapped', log at $applied_before)"
[ "$(metric pledged_rebuild_running)" = 0 ] && ok || fail "/metrics still shows a rebuild after the swap"

# A whole rebuild held to 5000 entries a second lasts seconds, whatever
# the build: serve must apply the last chunk while it runs.
"$PLEDGED" replay --data "$work/data" --max-rate 5000 >"$work/replay.out" 2>"$work/replay.err" &
REPLAY_PID=$!
publish <"$last_chunk" || die "publish the last chunk"
wait_seq $((2061 + events))
kill -0 "$REPLAY_PID" 2>/dev/null && ok ||
	fail "serve did not apply the last chunk while the rebuild ran ($(cat "$work/replay.err"))"
wait "$REPLAY_PID" && ok || fail "paced replay with serve consuming: $(cat "$work/replay.err")"
REPLAY_PID=
swapped=$(sed -n 's/.*swapped in at entry \([0-9]*\).*/\1/p' "$work/replay.err" | tail -n 1)
[ "$swapped" = $((2061 + events)) ] && ok ||
	fail "the paced rebuild swapped in at '$swapped', want the whole log ($((2061 + events)))"

# --- 3. a rebuild kept aside, compared, dropped ---
expect 0 "replay --no-swap with serve running" -- "$PLEDGED" replay --data "$work/data" --no-swap
expect 0 "replay --diff" -- "$PLEDGED" replay --data "$work/data" --diff
expect 0 "replay --abort" -- "$PLEDGED" replay --data "$work/data" --abort
[ "$(metric pledged_rebuild_running)" = 0 ] && ok || fail "/metrics shows a dropped rebuild"

matched=
for _ in $(seq 100); do
	"$PLEDGED" replay --data "$work/data" --dry-run >"$work/totals" 2>/dev/null &&
		"$GEN" check "$work/expect" <"$work/totals" 2>"$work/check.err" && { matched=1; break; }
	sleep 0.2
done
[ -n "$matched" ] && ok || fail "generated totals: $(cat "$work/check.err")"
curl -s "$URL/v1/campaigns/$CAMPAIGN" >"$work/campaign.json"
contains "$work/campaign.json" '"raised":5802600' "the demo's total is unchanged by the rebuilds"
[ "$(curl -s "$ADMIN/metrics" | awk '/^pledged_events_rejected_total/ { s += $2 } END { print s }')" = $((rejections + 1)) ] &&
	ok || fail "rejections: want $((rejections + 1))"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && ok || fail "serve did not stop cleanly"
SERVE_PID=
expect 0 "verify at the end" -- "$PLEDGED" verify --data "$work/data"
finish
