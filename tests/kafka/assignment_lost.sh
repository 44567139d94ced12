#!/bin/bash
# assignment_lost.sh — a Kafka outage longer than the session timeout makes
# librdkafka drop the consumer's assignment. An instance alone in its group
# (it held every partition) goes on answering for its campaigns, each
# answer marked X-Pledged-Stale-Since, /healthz 503, /readyz 200; when Kafka
# is back it is assigned again and the mark goes; a stream open across it
# is told both ("event: stale", "event: fresh"). Instances of one group
# each holding part of the topic (or none) answer 503 instead: their
# partitions may go to another when the group forms again. And an instance
# frozen past the session timeout while Kafka went on holds nothing of what
# it last heard until the group speaks.
# Usage: assignment_lost.sh PLEDGED MOCK_BROKER
set -u
PLEDGED=$1 MOCK=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-lost-XXXXXX")
MOCK_PID= A_PID= B_PID= C_PID= D_PID= E_PID= G_PID= H_PID= SSE_PID=
cleanup() {
	[ -n "$MOCK_PID" ] && kill -CONT "$MOCK_PID" 2>/dev/null
	[ -n "$G_PID" ] && kill -CONT "$G_PID" 2>/dev/null
	for pid in $SSE_PID $A_PID $B_PID $C_PID $D_PID $E_PID $G_PID $H_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
command -v curl >/dev/null || { echo "assignment_lost: curl missing: skipped"; exit 77; }
die() { fail "$*"; tail -n 15 "$work"/*.log >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
. "$(dirname "$0")/group_serve.sh"
start_mock_broker "$MOCK" "$work" 2

start() { # start NAME GROUP [PORT]: sets NAME_PID, NAME_URL, NAME_ADMIN; PORT advertised
	local listen=127.0.0.1:0 advertise=()
	[ $# -gt 2 ] && listen=127.0.0.1:$3 advertise=(--advertise-url "http://127.0.0.1:$3")
	start_group_serve "$1" "$2" "$listen" "${advertise[@]}"
}
status() { curl -s --max-time 10 -D "$work/headers" -o "$work/body" -w '%{http_code}' "$1$2"; }
header() { sed -n "s/^$1: \\(.*\\)\\r\$/\\1/p" "$work/headers"; }
wait_header() { # wait_header URL PATH NAME VALUE-REGEX SECONDS
	for _ in $(seq $(($5 * 10))); do
		status "$1" "$2" >/dev/null
		header "$3" | grep -qE -- "$4" && return 0
		sleep 0.1
	done
	return 1
}
raised() { sed -n 's/.*"raised":\([0-9]*\).*/\1/p' "$work/body"; }
NOW=$(($(date +%s) * 1000))
publish() { timeout 60 "$PLEDGED" publish --brokers "$ADDR" 2>>"$work/publish.log" >/dev/null || die "publish"; }
opened() { echo "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"o-$1\",\"at\":$NOW,\"campaign\":\"$1\",\"title\":\"T\",\"owner\":\"o\",\"currency\":\"GBP\"}"; }
pledge() { echo "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"p-$1-$2\",\"at\":$NOW,\"campaign\":\"$1\",\"pledge\":\"pl-$1-$2\",\"supporter\":\"s$2\",\"amount\":$3,\"currency\":\"GBP\"}"; }

# 1. Alone in its group.
start A alone
wait_header "$A_URL" /v1/campaigns X-Pledged-Partitions '^0,1 of 2$' 30 || die "A was not assigned both partitions"
{ opened c1; pledge c1 1 500; } | publish
for _ in $(seq 100); do [ "$(status "$A_URL" /v1/campaigns/c1)" = 200 ] && [ "$(raised)" = 500 ] && break; sleep 0.1; done
[ "$(raised)" = 500 ] && ok || die "c1 was not applied: $(cat "$work/body")"
[ -z "$(header X-Pledged-Stale-Since)" ] && ok || fail "answers are marked stale while Kafka answers"

# A stream open across the outage is told when the figures stop and start moving.
curl -sN --max-time 120 "$A_URL/v1/campaigns/c1/stream" >"$work/sse" 2>/dev/null &
SSE_PID=$!
for _ in $(seq 50); do grep -q 'event: summary' "$work/sse" && break; sleep 0.1; done
kill -STOP "$MOCK_PID"
stopped_ms=$(($(date +%s%N) / 1000000))
wait_header "$A_URL" /v1/campaigns/c1 X-Pledged-Stale-Since '^[0-9]+$' 30 && ok ||
	fail "no X-Pledged-Stale-Since 30 s into the outage (status $(status "$A_URL" /v1/campaigns/c1))"
since=$(header X-Pledged-Stale-Since)
[ -n "$since" ] && [ "$since" -ge "$stopped_ms" ] && ok || fail "X-Pledged-Stale-Since $since is before the outage ($stopped_ms)"
[ "$(status "$A_URL" /v1/campaigns/c1)" = 200 ] && [ "$(raised)" = 500 ] && ok ||
	fail "the lone instance does not answer for c1 in the outage: $(cat "$work/body")"
[ "$(header X-Pledged-Partitions)" = "0,1 of 2" ] && ok || fail "X-Pledged-Partitions is '$(header X-Pledged-Partitions)'"
[ "$(status "$A_URL" /v1/campaigns)" = 200 ] && grep -q '"c1"' "$work/body" && ok || fail "the list does not answer in the outage"
[ -n "$(header X-Pledged-Stale-Since)" ] && ok || fail "the list is not marked stale"
[ "$(status "$A_ADMIN" /healthz)" = 503 ] && ok || fail "healthz is not 503 in the outage: $(cat "$work/body")"
# Ready all the same: a balancer that took it out would take the pages down.
[ "$(status "$A_ADMIN" /readyz)" = 200 ] && grep -q 'X-Pledged-Stale-Since' "$work/body" && ok ||
	fail "readyz in the outage: $(cat "$work/body")"
grep -q "goes on answering for its campaigns, marked stale" "$work/A.log" && ok || fail "the log does not say the answers are stale"
for _ in $(seq 20); do grep -q "^data: {\"since\":$since}" "$work/sse" && break; sleep 0.1; done
grep -B1 "^data: {\"since\":$since}" "$work/sse" | grep -q '^event: stale' && ok ||
	fail "the stream was not told the figures are stale: $(tail -c 300 "$work/sse")"

kill -CONT "$MOCK_PID"
for _ in $(seq 600); do
	status "$A_URL" /v1/campaigns >/dev/null
	[ "$(header X-Pledged-Partitions)" = "0,1 of 2" ] && [ -z "$(header X-Pledged-Stale-Since)" ] && break
	sleep 0.1
done
[ "$(header X-Pledged-Partitions)" = "0,1 of 2" ] && [ -z "$(header X-Pledged-Stale-Since)" ] && ok ||
	die "A was not assigned again after the outage (partitions '$(header X-Pledged-Partitions)', stale since '$(header X-Pledged-Stale-Since)')"
[ "$(status "$A_ADMIN" /healthz)" = 200 ] && ok || fail "healthz is not 200 after the outage: $(cat "$work/body")"
for _ in $(seq 20); do grep -q '^event: fresh' "$work/sse" && break; sleep 0.1; done
grep -q '^event: fresh' "$work/sse" && ok || fail "the stream was not told the figures move again"
kill "$SSE_PID" 2>/dev/null; wait "$SSE_PID" 2>/dev/null; SSE_PID=
pledge c1 2 250 | publish
for _ in $(seq 100); do status "$A_URL" /v1/campaigns/c1 >/dev/null; [ "$(raised)" = 750 ] && break; sleep 0.1; done
[ "$(raised)" = 750 ] && ok || fail "c1 did not move after the outage: $(cat "$work/body")"
kill -TERM "$A_PID"; wait "$A_PID" && ok || fail "A stops cleanly"
A_PID=

# 2. Three of a group on two partitions: one each, and one with none, which
# says of how many. None keeps what it held.
start B pair
start C pair
start D pair
holdings() { for url in "$B_URL" "$C_URL" "$D_URL"; do status "$url" /v1/campaigns >/dev/null; header X-Pledged-Partitions; done | sort | tr '\n' ' '; }
for _ in $(seq 300); do [ "$(holdings)" = "0 of 2 1 of 2 none of 2 " ] && break; sleep 0.2; done
[ "$(holdings)" = "0 of 2 1 of 2 none of 2 " ] && ok || die "the three hold: $(holdings)"
kill -STOP "$MOCK_PID"
for url in "$B_URL" "$C_URL" "$D_URL"; do
	wait_header "$url" /v1/campaigns X-Pledged-Partitions '^waiting$' 30 && ok ||
		fail "$url still holds '$(header X-Pledged-Partitions)' 30 s into the outage"
	[ "$(status "$url" /v1/campaigns/c1)" = 503 ] && [ -z "$(header X-Pledged-Stale-Since)" ] && ok ||
		fail "$url answers c1 in the outage, holding part of the topic"
done
kill -CONT "$MOCK_PID"
kill -TERM "$B_PID" "$C_PID" "$D_PID"
wait "$B_PID" && ok || fail "B stops cleanly"
wait "$C_PID" && ok || fail "C stops cleanly"
wait "$D_PID" && ok || fail "D stops cleanly"
B_PID= C_PID= D_PID=

# 3. A lone instance that did not run for longer than the session timeout
# (kill -STOP) while Kafka went on: the group dropped it meanwhile. A
# request that waited for it is not answered from what it last held, fresh:
# 503 until the group speaks (200 marked stale, if librdkafka told it the
# assignment was lost; 200 once it assigned it again).
start E frozen
wait_header "$E_URL" /v1/campaigns/c1 X-Pledged-Partitions '^0,1 of 2$' 30 || die "E was not assigned both partitions"
for _ in $(seq 100); do [ "$(status "$E_URL" /v1/campaigns/c1)" = 200 ] && [ "$(raised)" = 750 ] && break; sleep 0.1; done
[ "$(raised)" = 750 ] && ok || die "E did not catch up: $(cat "$work/body")"
kill -STOP "$E_PID"
sleep 8
# Sent while E is stopped (the kernel takes the connection and the bytes),
# so that it is read only after the freeze, whatever the load here.
exec 3<>"/dev/tcp/127.0.0.1/${E_URL##*:}"
printf 'GET /v1/campaigns/c1 HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n' >&3
kill -CONT "$E_PID"
timeout 30 cat <&3 >"$work/frozen.answer"
exec 3<&-
# E logs an assignment before it holds it: not logged yet, not held then.
assigned=$(grep -c ' INFO assigned ' "$work/E.log")
frozen=$(sed -n '1s/^HTTP\/1\.1 \([0-9]*\) .*/\1/p' "$work/frozen.answer")
stale=$(sed -n 's/^X-Pledged-Stale-Since: \(.*\)\r$/\1/p' "$work/frozen.answer")
if [ "$frozen" = 503 ] || { [ "$frozen" = 200 ] && { [ -n "$stale" ] || [ "$assigned" -gt 1 ]; }; }; then ok; else
	fail "E answered a request that waited through its freeze with '$frozen', stale since '$stale', before the group assigned it again: $(tail -n 1 "$work/frozen.answer")"
fi
for _ in $(seq 600); do
	[ "$(status "$E_URL" /v1/campaigns/c1)" = 200 ] && [ "$(header X-Pledged-Partitions)" = "0,1 of 2" ] &&
		[ -z "$(header X-Pledged-Stale-Since)" ] && break
	sleep 0.1
done
[ "$(header X-Pledged-Partitions)" = "0,1 of 2" ] && [ -z "$(header X-Pledged-Stale-Since)" ] && ok ||
	fail "E was not assigned again after its freeze ('$(header X-Pledged-Partitions)', stale since '$(header X-Pledged-Stale-Since)')"
grep -q "did not run for longer than the consumer group's session timeout" "$work/E.log" && ok ||
	fail "E's log does not say it was frozen"
kill -TERM "$E_PID"; wait "$E_PID" && ok || fail "E stops cleanly"
E_PID=

# 4. A lone instance frozen while another joined its group and took every
# partition: running again, it does not answer for them, fresh or marked
# stale as one alone, before it has read the newcomer's announcements;
# then the group splits the topic between the two.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start G joined "$(free_port)"
wait_header "$G_URL" /v1/campaigns/c1 X-Pledged-Partitions '^0,1 of 2$' 30 || die "G was not assigned both partitions"
for _ in $(seq 100); do [ "$(status "$G_URL" /v1/campaigns/c1)" = 200 ] && [ "$(raised)" = 750 ] && break; sleep 0.1; done
[ "$(raised)" = 750 ] && ok || die "G did not catch up: $(cat "$work/body")"
kill -STOP "$G_PID"
start H joined "$(free_port)"
wait_header "$H_URL" /v1/campaigns/c1 X-Pledged-Partitions '^0,1 of 2$' 30 ||
	die "H did not take both partitions while G was frozen"
sleep 2 # H has announced itself
kill -CONT "$G_PID"
answers=
for _ in $(seq 100); do
	code=$(status "$G_URL" /v1/campaigns/c1)
	stale=$(header X-Pledged-Stale-Since)
	answers="$answers $code${stale:+(stale)}"
	[ "$code" = 200 ] && [ -n "$stale" ] && break
	sleep 0.1
done
case "$answers" in
*"(stale)"*) fail "G answered as the lone holder of what H held, after its freeze:$answers" ;;
*) ok ;;
esac
! grep -q "alone in the group, this instance goes on answering" "$work/G.log" && ok ||
	fail "G kept its campaigns as one alone: $(grep -i "lost the consumer group" "$work/G.log")"
for _ in $(seq 60); do
	wait_header "$G_URL" /v1/campaigns/c1 X-Pledged-Partitions '^[01] of 2$' 1 &&
		wait_header "$H_URL" /v1/campaigns/c1 X-Pledged-Partitions '^[01] of 2$' 1 && break
done
[ "$(header X-Pledged-Partitions)" != "0,1 of 2" ] && ok || fail "the group did not split the topic between G and H"
kill -TERM "$G_PID" "$H_PID"; wait "$G_PID" && wait "$H_PID" && ok || fail "G and H stop cleanly"
G_PID= H_PID=
finish
