#!/bin/sh
# publish_kcat.sh — `pledged publish` round trip and kcat interoperability,
# against a mock broker process, consumed by a real `pledged serve`.
#
# 1. The demo campaign goes through publish → Kafka → serve; its totals must
#    be the documented ones (raised 5804100, supporters 1975, comments 10).
# 2. A campaign.opened encoded to msgpack by stream_gen and produced by kcat
#    (with a key) must be applied like any other event.
# 3. publish must fail loudly: a bad JSON line is named by its number, an
#    unreachable broker gives a non-zero exit.
# 4. A line with \u0000 in a string is keyed by its campaign like any other
#    (read back with kcat).
# Exits 77 (skipped) for part 2 only when kcat is not installed. Every client
# runs under a timeout, so a hang names its step instead of the test timing out.
#
# Usage: publish_kcat.sh PLEDGED MOCK_BROKER STREAM_GEN DEMO.jsonl
set -eu
PLEDGED=$1 MOCK=$2 GEN=$3 DEMO=$4
T=$(mktemp -d "${TMPDIR:-/tmp}/pledged-publish-XXXXXX")
MOCK_PID= SERVE_PID=
cleanup() {
	for pid in $SERVE_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "publish_kcat: FAIL: $*" >&2; tail -n 20 "$T/serve.log" >&2 || true; exit 1; }

. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$T" 4

timeout 60 "$PLEDGED" publish --brokers "$ADDR" <"$DEMO" 2>"$T/publish.err" || fail "publish: $(cat "$T/publish.err")"
grep -q "2059 delivered" "$T/publish.err" || fail "publish did not report 2059 deliveries"

KCAT=$(command -v kcat || command -v kafkacat || true)
if [ -n "$KCAT" ]; then
	printf '{"v":1,"type":"campaign.opened","id":"kcat-1","at":1700000000000,"campaign":"kcat-campaign","title":"Sent by kcat","owner":"kcat","currency":"EUR"}' |
		"$GEN" msgpack >"$T/event.msgpack" || fail "stream_gen msgpack"
	# Messages on stdin end at -D, keys at -K: strings msgpack bytes never hold.
	{ printf 'kcat-campaign@@KEY@@'; cat "$T/event.msgpack"; printf '@@END@@'; } |
		timeout 30 "$KCAT" -P -b "$ADDR" -t pledges -K '@@KEY@@' -D '@@END@@' 2>"$T/kcat.err" ||
		fail "kcat: $(cat "$T/kcat.err")"
fi

"$PLEDGED" serve --brokers "$ADDR" --data "$T/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --log-level warn \
	2>"$T/serve.log" &
SERVE_PID=$!
ok=
for _ in $(seq 60); do
	"$PLEDGED" replay --data "$T/data" --dry-run >"$T/totals" 2>/dev/null || true
	if grep -q '"raised":5804100' "$T/totals" && grep -q '"supporters":1975' "$T/totals" &&
		grep -q '"comments":10' "$T/totals" &&
		{ [ -z "$KCAT" ] || grep -q '"id":"kcat-campaign"' "$T/totals"; }; then
		ok=1
		break
	fi
	sleep 0.5
done
kill -TERM "$SERVE_PID"
for _ in $(seq 200); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVE_PID" 2>/dev/null && fail "serve still running 20 s after SIGTERM"
wait "$SERVE_PID" || fail "serve did not stop cleanly"
SERVE_PID=
[ -n "$ok" ] || fail "totals after publish: $(cat "$T/totals")"

printf '{"v":1}\nnot json\n' | timeout 30 "$PLEDGED" publish --brokers "$ADDR" 2>"$T/bad.err" &&
	fail "publish accepted a bad line"
grep -q "line 2" "$T/bad.err" || fail "publish did not name the bad line: $(cat "$T/bad.err")"
echo '{"v":1}' | timeout 30 "$PLEDGED" publish --brokers 127.0.0.1:1 --kafka message.timeout.ms=1500 \
	2>"$T/down.err" && fail "publish to a dead broker succeeded"
grep -q "not delivered" "$T/down.err" || fail "no delivery failure reported: $(cat "$T/down.err")"
# The longest timeout librdkafka takes, and none (0): publish waits for the
# delivery without overflowing its own wait.
for ms in 2147483647 0; do
	echo '{"v":1}' | timeout 30 "$PLEDGED" publish --brokers "$ADDR" --kafka message.timeout.ms=$ms \
		2>"$T/longest.err" || fail "publish with message.timeout.ms=$ms: $(cat "$T/longest.err")"
done

# A list of brokers longer than 255 characters is used whole: the only
# broker that answers is its last.
long=
for i in $(seq 1 24); do long="${long}127.0.0.$i:1,"; done
printf '%s\n' '{"v":1,"type":"campaign.opened","id":"long-list","at":1700000000000,"campaign":"long-list","title":"t","owner":"o","currency":"GBP"}' |
	timeout 30 "$PLEDGED" publish --brokers "$long$ADDR" 2>"$T/long.err" ||
	fail "publish through a long broker list: $(tail -3 "$T/long.err")"
[ "${#long}" -gt 255 ] || fail "the broker list is only ${#long} characters"

# A \u0000 in any string of a line keeps its message keyed by campaign.
if [ -n "$KCAT" ]; then
	printf '%s\n' '{"v":1,"type":"pledge.created","id":"nul-1","at":1700000000000,"campaign":"nul-c","currency":"GBP","pledge":"nul-p1","supporter":"s1","amount":5,"name":"A\u0000B"}' \
		'{"v":1,"type":"pledge.created","id":"nul-2","at":1700000000000,"campaign":"nul-c","currency":"GBP","pledge":"nul-p2","supporter":"s1","amount":5,"name":"AB"}' |
		timeout 30 "$PLEDGED" publish --brokers "$ADDR" 2>"$T/nul.err" || fail "publish: $(cat "$T/nul.err")"
	timeout 30 "$KCAT" -C -b "$ADDR" -t pledges -o beginning -e -q -f '%k|%S\n' 2>"$T/kcat.err" >"$T/keys" ||
		fail "kcat -C: $(cat "$T/kcat.err")"
	[ "$(grep -c '^nul-c|' "$T/keys")" = 2 ] ||
		fail "messages keyed nul-c: $(grep -c '^nul-c|' "$T/keys"), want 2; unkeyed: $(grep -c '^|' "$T/keys")"
fi

if [ -z "$KCAT" ]; then
	echo "publish_kcat: publish round trip passed; kcat not installed, interop skipped"
	exit 77
fi
echo "publish_kcat: publish round trip, kcat message and publish failures all as expected"
