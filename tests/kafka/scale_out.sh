#!/bin/bash
# scale_out.sh — two `pledged serve` instances in one consumer group, against
# a mock broker process (the Kafka protocol over TCP), 4 partitions, 8
# campaigns published keyed by campaign (librdkafka's partitioner):
# 1. Alone, A holds every partition and answers for every campaign.
# 2. B joins: each instance answers only for the campaigns of the partitions
#    it holds (X-Pledged-Partitions) and 421 not_owned for the others, whose
#    figures it has stopped following; lists show only its own campaigns,
#    and the two lists together are every campaign once. Pledges to every
#    campaign then reach each owner; the other never answers 200 for them.
# 3. B is killed (-9): until the group gives its partitions to A, A keeps
#    answering 421 for them — never its stale figures — and then, resuming
#    from its own stored offsets, catches up and answers every campaign
#    with the exact totals.
# 4. Three instances while a stream flows: B back on its old data dir, C
#    joining, C killed and restarted mid-stream; at rest each campaign is
#    answered by exactly one instance with the exact total, and every data
#    dir verifies.
# 5. With --advertise-url, A redirects (307) B's campaigns to B, whose
#    answer is exact, and /v1/cluster shows both (and not a replica of
#    another group announcing on the same topic); after B's kill -9 its
#    announcement expires and A answers 421, then everything itself.
# Usage: scale_out.sh PLEDGED MOCK_BROKER
set -u
PLEDGED=$1 MOCK=$2
command -v curl >/dev/null || { echo "scale_out: curl missing: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-scale-XXXXXX")
MOCK_PID= A_PID= B_PID= C_PID= R_PID= FEED_PID=
cleanup() {
	for pid in $FEED_PID $A_PID $B_PID $C_PID $R_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
die() { fail "$*"; tail -n 15 "$work"/*.log >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$work" 4

# start NAME [PORT]: a serve in the group with data dir $work/NAME; sets
# NAME_PID and NAME_URL. With PORT it listens there and advertises itself.
start() { # start NAME [PORT [GROUP]]: PORT advertised
	local listen=127.0.0.1:0 advertise=() group=${3:-scale}
	[ $# -gt 1 ] && listen=127.0.0.1:$2 advertise=(--advertise-url "http://127.0.0.1:$2")
	# A restart must not read its former self's port from the old log.
	rm -f "$work/$1.log"
	"$PLEDGED" serve --brokers "$ADDR" --group "$group" --data "$work/$1" --listen "$listen" \
		--admin-listen 127.0.0.1:0 --batch-ms 10 --kafka session.timeout.ms=6000 \
		--kafka heartbeat.interval.ms=500 "${advertise[@]}" 2>"$work/$1.log" &
	eval "$1_PID=$!"
	local port
	port=$(serve_port "$work/$1.log")
	[ -n "$port" ] || die "serve $1 did not start"
	eval "$1_URL=http://127.0.0.1:$port"
}
# status URL PATH: the HTTP status; the body is in $work/body, headers in $work/headers.
status() { curl -s --max-time 10 -D "$work/headers" -o "$work/body" -w '%{http_code}' "$1$2"; }
partitions() { status "$1" /v1/campaigns >/dev/null; sed -n 's/^X-Pledged-Partitions: \(.*\)\r$/\1/p' "$work/headers"; }
wait_partitions() { # wait_partitions URL WANTED (60 s at most)
	for _ in $(seq 600); do
		[ "$(partitions "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	die "$1 holds '$(partitions "$1")', want '$2'"
}
raised() { sed -n 's/.*"raised":\([0-9]*\).*/\1/p' "$work/body"; }

NOW=$(($(date +%s) * 1000))
declare -A expect
n=0
pledge() { # pledge CAMPAIGN AMOUNT
	n=$((n + 1))
	echo "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"p$n\",\"at\":$NOW,\"campaign\":\"$1\",\"pledge\":\"pl$n\",\"supporter\":\"s$n\",\"amount\":$2,\"currency\":\"GBP\"}"
	expect[$1]=$((${expect[$1]:-0} + $2))
}
publish() { timeout 60 "$PLEDGED" publish --brokers "$ADDR" 2>>"$work/publish.log" >/dev/null || die "publish"; }
# stop NAME: SIGTERM, then at most 30 s for a clean exit; a serve still
# running then has its threads' stacks put in the failure, and is killed.
stop() {
	local pid
	eval "pid=\$${1}_PID"
	kill -TERM "$pid"
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		command -v gdb >/dev/null && gdb -p "$pid" -batch -ex "thread apply all bt" >"$work/$1.stacks" 2>&1
		kill -9 "$pid"
		wait "$pid" 2>/dev/null
		fail "$1 still running 30 s after SIGTERM: $(tail -n 5 "$work/$1.log"); stacks: $(grep -E '^#|^Thread' "$work/$1.stacks" 2>/dev/null | head -n 60)"
	else
		wait "$pid" && ok || fail "$1 did not stop cleanly: $(tail -n 5 "$work/$1.log")"
	fi
	eval "${1}_PID="
}
CAMPAIGNS="c0 c1 c2 c3 c4 c5 c6 c7"
{
	for c in $CAMPAIGNS; do
		echo "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"o-$c\",\"at\":$NOW,\"campaign\":\"$c\",\"title\":\"T\",\"owner\":\"O\",\"currency\":\"GBP\"}"
	done
	for c in $CAMPAIGNS; do pledge "$c" 100; pledge "$c" 250; done
} >"$work/first.jsonl"
publish <"$work/first.jsonl"

# check_instance NAME URL: asks URL for every campaign; prints those it
# answers with the expected total, and STALE:… for a 200 with another; a
# campaign answered 421 must say not_owned.
check_instance() { # check_instance NAME URL
	local owned=""
	for c in $CAMPAIGNS; do
		case $(status "$2" "/v1/campaigns/$c") in
		200) [ "$(raised)" = "${expect[$c]}" ] && owned="$owned $c" || owned="$owned STALE:$c:$(raised)" ;;
		421) grep -q '"error":"not_owned' "$work/body" || fail "$1: a 421 without not_owned: $(cat "$work/body")" ;;
		*) owned="$owned $(cat "$work/body")" ;;
		esac
	done
	echo "$owned"
}
# wait_exact NAME URL WANT: until check_instance says WANT (30 s at most).
wait_exact() {
	local got
	for _ in $(seq 300); do
		got=$(check_instance "$1" "$2")
		[ "$got" = "$3" ] && return 0
		sleep 0.1
	done
	fail "$1 answers '$got', want '$3'"
	return 1
}

# --- 1. alone ---
start A
wait_partitions "$A_URL" "0,1,2,3 of 4"
wait_exact A "$A_URL" " c0 c1 c2 c3 c4 c5 c6 c7" && ok

# --- 2. B joins ---
start B
# Settled when the two hold every partition between them.
for _ in $(seq 600); do
	pa=$(partitions "$A_URL") pb=$(partitions "$B_URL")
	[ "$(echo "${pa% of 4},${pb% of 4}" | tr ',' '\n' | sort | tr '\n' ' ')" = "0 1 2 3 " ] && break
	sleep 0.1
done
echo "scale_out: after the join, A holds $pa and B $pb"
[ "$pa" != "$pb" ] && [ "${pa%% of 4}" != "0,1,2,3" ] && ok || fail "the partitions were not split: A $pa, B $pb"
# Which campaigns each owns follows from the partitions; their figures must be exact.
owned_a=$(check_instance A "$A_URL")
wait_exact B "$B_URL" "$(for c in $CAMPAIGNS; do echo "$owned_a" | grep -qw "$c" || printf ' %s' "$c"; done)" && ok
case "$owned_a" in *STALE*) fail "A serves stale figures: $owned_a" ;; esac
[ -n "$owned_a" ] && ok || fail "A owns no campaign"
status "$A_URL" /v1/campaigns >/dev/null
list_a=$(grep -o '"id":"c[0-9]"' "$work/body" | tr -d '"' | sed 's/id://' | tr '\n' ' ')
status "$B_URL" /v1/campaigns >/dev/null
list_b=$(grep -o '"id":"c[0-9]"' "$work/body" | tr -d '"' | sed 's/id://' | tr '\n' ' ')
[ "$(echo $list_a $list_b | tr ' ' '\n' | sort | tr '\n' ' ')" = "c0 c1 c2 c3 c4 c5 c6 c7 " ] && ok ||
	fail "the lists do not split the campaigns: A '$list_a', B '$list_b'"
[ " $(echo $list_a)" = "$owned_a" ] && ok || fail "A lists '$list_a' but answers for '$owned_a'"
# More pledges while both run: each owner follows, the other never answers 200.
for c in $CAMPAIGNS; do pledge "$c" 1000; done >"$work/second.jsonl"
publish <"$work/second.jsonl"
owned_b=$(for c in $CAMPAIGNS; do echo "$owned_a" | grep -qw "$c" || printf ' %s' "$c"; done)
wait_exact A "$A_URL" "$owned_a" && wait_exact B "$B_URL" "$owned_b" && ok

# --- 3. B dies ---
killed_at=$(date +%s%N)
kill -9 "$B_PID"
wait "$B_PID" 2>/dev/null
B_PID=
for c in $CAMPAIGNS; do pledge "$c" 5; done >"$work/third.jsonl"
publish <"$work/third.jsonl"
# Until the group hands B's partitions over, A answers 421 for them.
stale=0 refused=0
for _ in $(seq 20); do
	[ "$(partitions "$A_URL")" = "0,1,2,3 of 4" ] && break
	for c in $owned_b; do
		case $(status "$A_URL" "/v1/campaigns/$c") in
		200) [ "$(raised)" != "${expect[$c]}" ] && stale=$((stale + 1)) ;;
		421) refused=$((refused + 1)) ;;
		esac
	done
	sleep 0.1
done
[ "$stale" = 0 ] && ok || fail "A answered $stale times with stale figures of B's campaigns"
[ "$refused" -gt 0 ] && ok || fail "the group gave B's partitions to A at once: nothing was checked"
wait_partitions "$A_URL" "0,1,2,3 of 4"
echo "scale_out: A held B's partitions $((($(date +%s%N) - killed_at) / 1000000)) ms after the kill -9 (session.timeout.ms=6000)"
wait_exact A "$A_URL" " c0 c1 c2 c3 c4 c5 c6 c7" && ok
timeout 120 "$PLEDGED" verify --data "$work/B" >/dev/null 2>&1 && ok || fail "B's data dir does not verify after kill -9"

# --- 4. three instances while events flow: B comes back on its old data
# dir (its partitions resume from its own offsets), C joins, C is killed
# and restarted mid-stream. At rest, every campaign is answered by exactly
# one instance, with the exact total. ---
start B
start C
for i in $(seq 1 40); do
	for c in $CAMPAIGNS; do pledge "$c" "$i"; done >"$work/stream.$i.jsonl"
done
(for i in $(seq 1 40); do publish <"$work/stream.$i.jsonl"; sleep 0.2; done) &
FEED_PID=$!
sleep 3
kill -9 "$C_PID"
wait "$C_PID" 2>/dev/null
start C
wait "$FEED_PID" || fail "publishing the stream"
# Settled: the three hold every partition once between them, and answer exactly.
for _ in $(seq 600); do
	held=$(for u in "$A_URL" "$B_URL" "$C_URL"; do p=$(partitions "$u"); echo "${p% of 4}"; done |
		tr ',' '\n' | grep -v none | sort | tr '\n' ' ')
	[ "$held" = "0 1 2 3 " ] && break
	sleep 0.1
done
[ "$held" = "0 1 2 3 " ] && ok || fail "the three hold '$held' between them"
for _ in $(seq 300); do
	all=$(for n in A B C; do eval "check_instance $n \"\$${n}_URL\""; done | tr ' ' '\n' | grep . | sort | tr '\n' ' ')
	[ "$all" = "c0 c1 c2 c3 c4 c5 c6 c7 " ] && break
	sleep 0.1
done
[ "$all" = "c0 c1 c2 c3 c4 c5 c6 c7 " ] && ok ||
	fail "after the churn the instances answer '$all' exactly, want each campaign once"
for n in A B C; do
	stop "$n"
	timeout 120 "$PLEDGED" verify --data "$work/$n" >"$work/verify.out" 2>&1 && ok || fail "verify $n: $(cat "$work/verify.out")"
done

# --- 5. routing: with --advertise-url each instance announces itself on
# pledges.members, and the others redirect (307) its campaigns there; once it
# is gone (kill -9), its announcement expires and they answer 421 until the
# group hands its partitions over. ---
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if ! command -v python3 >/dev/null; then
	echo "scale_out: python3 missing: routing not checked"
	finish
	exit
fi
start A "$(free_port)"
start B "$(free_port)"
# A replica with a group of its own announces on the same topic: no member
# of A's group, so never where A sends a request.
start R "$(free_port)" replica
for _ in $(seq 600); do
	pa=$(partitions "$A_URL") pb=$(partitions "$B_URL")
	[ "$(echo "${pa% of 4},${pb% of 4}" | tr ',' '\n' | sort | tr '\n' ' ')" = "0 1 2 3 " ] && break
	sleep 0.1
done
# Both announced, fresh, with what they hold, and A heard its own announcement
# made after the assignment (announcements come every second).
b_parts="[$(echo "${pb% of 4}")]"
one_generation() { [ "$(grep -o '"generation":[0-9][0-9]*' "$work/cluster" | sort -u | wc -l)" = 1 ]; }
for _ in $(seq 100); do
	curl -s --max-time 10 "$A_URL/v1/cluster" >"$work/cluster"
	grep -qF "${B_URL##*:}\",\"partitions\":$b_parts,\"of\":4," "$work/cluster" && one_generation && break
	sleep 0.1
done
[ "$(grep -o '"fresh":true' "$work/cluster" | wc -l)" = 2 ] && ok || fail "A's cluster view: $(cat "$work/cluster")"
grep -qF "${R_URL##*:}" "$work/cluster" && fail "A counts the replica of another group as a member: $(cat "$work/cluster")" || ok
# An announcement of the group whose address is no plain http(s)://HOST[:PORT]
# (a path, a user, bytes a header may not hold) is not heard.
if KCAT=$(command -v kcat || command -v kafkacat); then
	echo "{\"id\":\"forged\",\"url\":\"http://x@127.0.0.1:9/p?q\",\"group\":\"scale\",\"count\":4,\"partitions\":[0,1,2,3],\"at\":$(($(date +%s) * 1000 + 5000)),\"generation\":999}" |
		"$KCAT" -b "$ADDR" -t pledges.members -p 0 -P 2>/dev/null || fail "kcat could not produce the forged announcement"
	sleep 1.5
	curl -s --max-time 10 "$A_URL/v1/cluster" | grep -q '"forged"' && fail "A heard an announcement with a path and a user" || ok
else
	echo "scale_out: kcat missing: the forged announcement not checked"
fi
grep -qF "${B_URL##*:}\",\"partitions\":$b_parts,\"of\":4," "$work/cluster" && ok ||
	fail "A's view of B is not its address and partitions $b_parts: $(cat "$work/cluster")"
# The group's generation: A's own and what both announced, one number.
generations=$(grep -o '"generation":[0-9][0-9]*' "$work/cluster" | sort -u)
one_generation && [ "${generations#*:}" -ge 1 ] && ok ||
	fail "A's view holds other generations than one of the group's: $(cat "$work/cluster")"
owned_a=$(check_instance A "$A_URL")
# A trusts only announcements heard after its own last rebalance: B's next one.
first_b=$(for c in $CAMPAIGNS; do echo "$owned_a" | grep -qw "$c" || echo "$c"; done | head -n 1)
for _ in $(seq 50); do
	[ "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$A_URL/v1/campaigns/$first_b")" = 307 ] && break
	sleep 0.1
done
redirected=0
for c in $CAMPAIGNS; do
	echo "$owned_a" | grep -qw "$c" && continue
	code=$(curl -s --max-time 10 -o "$work/body" -D "$work/headers" -w '%{http_code}' "$A_URL/v1/campaigns/$c")
	location=$(sed -n 's/^Location: \(.*\)\r$/\1/p' "$work/headers")
	[ "$code" = 307 ] && [ "$location" = "$B_URL/v1/campaigns/$c" ] && redirected=$((redirected + 1)) ||
		fail "A answered $code (Location '$location') for B's campaign $c"
	# B may still be catching up on what it missed while it was away.
	for _ in $(seq 100); do
		got=$(curl -sL --max-time 10 "$A_URL/v1/campaigns/$c" | sed -n 's/.*"raised":\([0-9]*\).*/\1/p')
		[ "$got" = "${expect[$c]}" ] && break
		sleep 0.1
	done
	[ "$got" = "${expect[$c]}" ] && ok || fail "following the redirect for $c gives $got, want ${expect[$c]}"
done
[ "$redirected" -gt 0 ] && ok || fail "no campaign of B's was redirected"
kill -9 "$B_PID"
wait "$B_PID" 2>/dev/null
B_PID=
# Within CLUSTER_FRESH_MS (3 s) and a second, A stops sending anyone to B.
sleep 4.5
c=$(for c in $CAMPAIGNS; do echo "$owned_a" | grep -qw "$c" || echo "$c"; done | head -n 1)
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$A_URL/v1/campaigns/$c")
[ "$code" = 421 ] || [ "$code" = 200 ] && ok || fail "A still answers $code for $c after B died"
wait_partitions "$A_URL" "0,1,2,3 of 4"
wait_exact A "$A_URL" " c0 c1 c2 c3 c4 c5 c6 c7" && ok
stop A
A_PID=
stop R
finish
