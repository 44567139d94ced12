#!/bin/sh
# unread_retention.sh — messages Kafka's retention deletes before a fresh
# serve reads them are a loss, said loudly, as they are after a stored
# offset: serve is assigned a partition it has stored nothing of (its fetch
# position resolved to the partition's start), stops (SIGSTOP) while the
# gateways publish more than the mock broker keeps (about 5 MiB), and goes
# on. The partition must stall, /healthz say so, the log name the offsets.
# While it is stalled, its lag goes on growing, and a broker that hangs
# does not keep serve from stopping. Restarted, it stalls again (where the
# partition started was stored when it was assigned); restarted with
# --skip-lost-offsets, as the log says, it goes on from what Kafka still has.
# Usage: unread_retention.sh PLEDGED MOCK_BROKER
set -u
PLEDGED=$1 MOCK=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-retention-XXXXXX")
MOCK_PID= SERVE_PID=
cleanup() {
	for pid in $SERVE_PID $MOCK_PID; do
		kill -CONT "$pid" 2>/dev/null
		kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
command -v curl >/dev/null || { echo "unread_retention: curl missing: skipped"; exit 77; }
die() { fail "$*"; tail -n 20 "$work/serve.log" >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$work" 1

starts=0
start_serve() { # start_serve [FLAG]...
	starts=$((starts + 1))
	"$PLEDGED" serve --brokers "$ADDR" --data "$work/data" --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 --batch-ms 10 "$@" 2>"$work/serve.$starts.log" &
	SERVE_PID=$!
	ADMIN=http://127.0.0.1:$(admin_port "$work/serve.$starts.log")
	cat "$work/serve.$starts.log" >>"$work/serve.log"
}
health() { curl -s -m 5 -w ' %{http_code}' "$ADMIN/healthz"; }
wait_health() { # wait_health TEXT: until /healthz holds TEXT (20 s at most)
	for _ in $(seq 200); do
		health | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	return 1
}

start_serve
for _ in $(seq 100); do
	curl -s -m 5 "$ADMIN/readyz" | grep -q '"partitions":1' && break
	sleep 0.1
done
sleep 1 # its fetch position resolved to the partition's start, offset 0

kill -STOP "$SERVE_PID"
{
	echo '{"v":1,"type":"campaign.opened","id":"o1","at":1700000000000,"campaign":"c1","title":"T","owner":"o","currency":"EUR"}'
	text=$(head -c 100000 /dev/zero | tr '\0' x)
	for i in $(seq 70); do
		echo "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"big-$i\",\"at\":1700000000001,\"campaign\":\"c1\",\"comment\":\"k$i\",\"supporter\":\"s\",\"text\":\"$text\"}"
	done
	echo '{"v":1,"type":"campaign.opened","id":"o2","at":1700000000002,"campaign":"c2","title":"T","owner":"o","currency":"EUR"}'
} >"$work/events.jsonl"
timeout 60 "$PLEDGED" publish --brokers "$ADDR" <"$work/events.jsonl" 2>"$work/publish.err" ||
	die "publish: $(cat "$work/publish.err")"
kill -CONT "$SERVE_PID"

wait_health 'deleted by Kafka retention before pledged read them' && ok ||
	fail "healthz does not say the partition lost unread events: $(health)"
health | grep -q ' 503$' && ok || fail "healthz is not 503 while stalled: $(health)"
cat "$work/serve.1.log" >>"$work/serve.log"
grep -q 'offsets 0\.\.[0-9]* were deleted by Kafka (retention) before pledged read them' "$work/serve.1.log" &&
	ok || fail "the log does not name the offsets lost"
[ "$("$PLEDGED" dump --data "$work/data" 2>/dev/null | wc -l)" = 0 ] && ok ||
	fail "something after the gap was applied while the partition stalled"
# The lag goes on growing while the partition waits (it is not fetched).
lag() { health | sed -n 's/.*"lag":\([0-9]*\).*/\1/p'; }
for _ in $(seq 50); do [ "$(lag)" = 72 ] && break; sleep 0.1; done # every message published
lag0=$(lag)
[ "$lag0" = 72 ] && ok || fail "the lag is $lag0 with 72 messages waiting"
for i in 1 2 3; do
	echo "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"w$i\",\"at\":1700000000003,\"campaign\":\"w$i\",\"title\":\"T\",\"owner\":\"o\",\"currency\":\"EUR\"}"
done | timeout 60 "$PLEDGED" publish --brokers "$ADDR" 2>"$work/publish.err" || die "publish: $(cat "$work/publish.err")"
for _ in $(seq 50); do [ "$(lag)" = $((lag0 + 3)) ] && break; sleep 0.1; done
[ "$(lag)" = $((lag0 + 3)) ] && ok || fail "the lag stayed at $(lag) while 3 more waited (was $lag0)"
# A broker that takes requests and never answers (stopped) while serve asks
# it about the stalled partition every few seconds: serve must still stop.
kill -STOP "$MOCK_PID"
sleep 6
health | grep -q ' 503$' && ok || fail "healthz does not answer while the broker hangs: $(health)"
kill -TERM "$SERVE_PID"
stopped=
for _ in $(seq 300); do kill -0 "$SERVE_PID" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
[ -n "$stopped" ] && ok || fail "serve did not stop within 30 s of SIGTERM with the broker hung"
kill -CONT "$MOCK_PID"
wait "$SERVE_PID" && ok || fail "serve stops cleanly while stalled"

# Restarted as it was, it stalls again: where the partition started was
# stored at its assignment, so the loss outlives the run.
start_serve
wait_health 'deleted by Kafka retention before pledged read them' && ok ||
	fail "restarted without --skip-lost-offsets, serve moved past the gap: $(health)"
[ "$("$PLEDGED" dump --data "$work/data" 2>/dev/null | wc -l)" = 0 ] && ok ||
	fail "restarted, serve applied something after the gap"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && ok || fail "serve stops cleanly while stalled again"

start_serve --skip-lost-offsets
wait_health '"state":"consuming"' && ok || fail "--skip-lost-offsets did not move past the gap: $(health)"
for _ in $(seq 100); do
	"$PLEDGED" dump --data "$work/data" 2>/dev/null | grep -q '"id":"o2"' && break
	sleep 0.1
done
"$PLEDGED" dump --data "$work/data" 2>/dev/null | grep -q '"id":"o2"' && ok ||
	fail "the event after the gap was not applied"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && ok || fail "serve stops cleanly"
SERVE_PID=

# A new data dir on a partition that no longer starts at 0 cannot be told
# apart from a complete one by its figures: the log says what it misses.
mv "$work/data" "$work/data.old"
start_serve
wait_health '"state":"consuming"' || fail "a new data dir does not consume: $(health)"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && ok || fail "serve stops cleanly"
SERVE_PID=
grep -q 'has read nothing of the partition, and Kafka no longer has its offsets 0\.\.' \
	"$work/serve.$starts.log" && ok || fail "a new data dir started past deleted events without a word"
finish
