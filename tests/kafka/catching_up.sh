#!/bin/bash
# catching_up.sh — a partition assigned to an instance whose data dir is
# behind what the consumer group had read: a new instance (empty data dir),
# and a partition that comes back to an instance on its old data dir after
# another one went on. Until the data dir reaches the offset the group had
# committed, the partition's campaigns answer 503 catching_up (Retry-After,
# X-Pledged-Catching-Up, /readyz not ready), never figures older than the
# group already gave (a load balancer in front would show them going
# backwards), nor 404 for a campaign the group knows. Then every campaign is
# answered 200 with the figures the other instance gave. An instance that
# restarts alone is not held back: it committed its own offset; one
# restarted in the middle of its catch-up is (it commits nothing of a
# partition behind), and so is one alone in the group whose assignment a
# Kafka outage took while it answers marked stale.
# The instance catching up writes 10 messages a transaction, so that its catch-up
# lasts seconds and the answers during it are seen.
# In a build with crash points, an instance dies right after a batch's
# write, before anything else runs: the group must already have that batch's
# offsets, so that the next holder waits for all the dead one could show.
# Usage: catching_up.sh PLEDGED MOCK_BROKER on|off (crash points built in)
set -u
PLEDGED=$1 MOCK=$2 CRASH_POINTS=${3:-off}
command -v curl >/dev/null || { echo "catching_up: curl missing: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "catching_up: python3 missing: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-catchup-XXXXXX")
MOCK_PID= A_PID= B_PID= C_PID= K_PID= L_PID= starts=0
cleanup() {
	for pid in $A_PID $B_PID $C_PID $K_PID $L_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
die() { fail "$*"; tail -n 15 "$work"/*.log >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
. "$(dirname "$0")/group_serve.sh"
start_mock_broker "$MOCK" "$work" 2

# start NAME [slow]: a serve of group g on data dir $work/NAME; sets
# NAME_PID, NAME_URL and NAME_ADMIN. Slow: 10 messages a transaction.
start() {
	local fetch=()
	[ "${2:-}" = slow ] && fetch=(--batch-max 10)
	# Little read ahead: a Kafka outage leaves it most of its catch-up to do.
	[ "${2:-}" = slower ] && fetch=(--batch-max 10 --kafka queued.max.messages.kbytes=16
		--kafka max.partition.fetch.bytes=8192)
	[ -f "$work/$1.log" ] && mv "$work/$1.log" "$work/$1.log.$((++starts))"
	start_group_serve "$1" g 127.0.0.1:0 "${fetch[@]}"
}
stop() { # stop NAME: SIGTERM and a clean exit
	local pid
	eval "pid=\$${1}_PID"
	kill -TERM "$pid"
	wait "$pid" && ok || fail "$1 did not stop cleanly: $(tail -n 5 "$work/$1.log")"
	eval "${1}_PID="
}
publish() { timeout 120 "$PLEDGED" publish --brokers "$ADDR" <"$1" 2>>"$work/publish.log" >/dev/null || die "publish $1"; }

# answers URL: one line per campaign, "ID STATUS WHAT": for a 200 its
# figures, else the error's first word; X-Pledged-Catching-Up as "CU=…".
CAMPAIGNS="cu-1 cu-2 cu-3 cu-4 cu-5 cu-6"
cat >"$work/answers.py" <<'EOF'
import json, sys, urllib.error, urllib.request
for c in sys.argv[2:]:
    try:
        r = urllib.request.urlopen(sys.argv[1] + "/v1/campaigns/" + c, timeout=10)
    except urllib.error.HTTPError as e:
        r = e
    try:
        j = json.loads(r.read())
    except ValueError:
        j = {}
    if r.status == 200:
        what = "raised=%s pledges=%s supporters=%s" % (j.get("raised"), j.get("pledges"), j.get("supporters"))
    else:
        what = str(j.get("error", "")).split(":")[0]
    cu = r.headers.get("X-Pledged-Catching-Up")
    print(c, r.status, what + (" CU=" + cu if cu else ""))
EOF
answers() { python3 "$work/answers.py" "$1" $CAMPAIGNS; }
# settled URL: until two answers 0.5 s apart agree and are all 200 (60 s
# at most); prints them.
settled() {
	local last="" now
	for _ in $(seq 120); do
		now=$(answers "$1")
		if [ "$now" = "$last" ] && ! grep -qv ' 200 ' <<<"$now"; then echo "$now"; return 0; fi
		last=$now
		sleep 0.5
	done
	echo "$now"
	return 1
}
# watch NAME WANT: asks NAME for every campaign until all are 200 (90 s at
# most); each answer must be 503 (waiting, catching_up) or a 200 as in
# WANT, never a 404 or other figures. Counts the catching_up answers, and
# /readyz while they come, in $work/NAME.watch.
watch() {
	local url want=$2 line c code
	eval "url=\$${1}_URL"
	: >"$work/$1.watch"
	for _ in $(seq 900); do
		local all=1
		while read -r line; do
			read -r c code _ <<<"$line"
			case $code in
			200) grep -qxF -- "${line% CU=*}" <<<"$want" || fail "$1: $line, while the group gave $(grep "^$c " <<<"$want")" ;;
			503) all=0
			     case $line in
			     *" catching_up CU="*) echo catching_up >>"$work/$1.watch" ;;
			     *" catching_up"*) fail "$1: catching_up without X-Pledged-Catching-Up: $line" ;;
			     *" no "*) ;; # waiting for the assignment: nobody's yet
			     *) fail "$1: $line" ;;
			     esac ;;
			*) all=0; fail "$1: $line" ;;
			esac
		done < <(answers "$url")
		if grep -q catching_up "$work/$1.watch" && ! grep -q readyz "$work/$1.watch"; then
			local ready
			eval "ready=\$(curl -s --max-time 10 \"\$${1}_ADMIN/readyz\")"
			# Read after answers that were catching up: it may have caught up since.
			case $ready in
			*'"detail":"catching up: '*) echo readyz >>"$work/$1.watch" ;;
			esac
		fi
		[ $all = 1 ] && return 0
		sleep 0.05
	done
	fail "$1: not every campaign answered 200 within 90 s"
}

# caught_sight NAME: until NAME answers a campaign 503 catching_up (30 s at most).
caught_sight() {
	local url
	eval "url=\$${1}_URL"
	for _ in $(seq 600); do
		answers "$url" | grep -q ' 503 catching_up' && return 0
		sleep 0.05
	done
	return 1
}

awk -v seed=5 -v campaigns=6 -v events=40000 -v id=x -v name=cu -v erasures=0 \
	-f "$(dirname "$0")/../unit/feed_gen.awk" >"$work/feed.jsonl"
head -n 20000 "$work/feed.jsonl" >"$work/one.jsonl"
tail -n +20001 "$work/feed.jsonl" >"$work/two.jsonl"

# --- a new instance joins behind: A read the first part, B starts empty ---
start A
publish "$work/one.jsonl"
want_one=$(settled "$A_URL") || die "A did not settle: $want_one"
stop A
start B slow
# Stopped in the middle of its catch-up: it committed its own progress to
# the group as it went, which must not lower the group's offset below what
# A gave, or B, restarted, would not know it is behind.
caught_sight B || die "B was never seen catching up before its restart"
stop B
start B slow
watch B "$want_one"
grep -q catching_up "$work/B.watch" && ok || fail "B was never seen catching up (its catch-up was too quick to see?)"
grep -q readyz "$work/B.watch" && ok || fail "B's /readyz did not say it was catching up"
grep -q "catching_up until this instance has caught up" "$work/B.log" && ok || fail "B did not log the catch-up"
grep -q "caught up with the consumer group" "$work/B.log" && ok || fail "B did not log the end of its catch-up"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B_ADMIN/readyz")" = 200 ] && ok || fail "B not ready once caught up: $(curl -s "$B_ADMIN/readyz")"

# --- the partitions come back to A, on its old data dir, after B went on ---
publish "$work/two.jsonl"
want_all=$(settled "$B_URL") || die "B did not settle: $want_all"
[ "$want_all" != "$want_one" ] && ok || fail "the second part changed nothing"
stop B
start A slow
watch A "$want_all"
grep -q catching_up "$work/A.watch" && ok || fail "A was never seen catching up: $(grep -h "catching\|caught\|assigned" "$work/A.log")"

# --- A restarts alone: it committed its own offsets, nothing to catch up ---
stop A
start A slow
watch A "$want_all"
grep -q catching_up "$work/A.watch" && fail "A held back after a restart alone" || ok
grep -q "catching_up until" "$work/A.log" && fail "A logged a catch-up after a restart alone" || ok
stop A

# --- a Kafka outage in the middle of a catch-up: C, new and alone in the
# group, loses its assignment and goes on answering marked stale; what it
# had not caught up with still waits. Then it restarts and catches up ---
start C slower
caught_sight C || die "C was never seen catching up"
kill -STOP "$MOCK_PID"
for _ in $(seq 300); do grep -q "goes on answering for its campaigns, marked stale" "$work/C.log" && break; sleep 0.1; done
grep -q "goes on answering for its campaigns, marked stale" "$work/C.log" || { kill -CONT "$MOCK_PID"; die "C did not lose its assignment in the outage"; }
: >"$work/C.outage"
for _ in $(seq 10); do answers "$C_URL" >>"$work/C.outage"; sleep 0.1; done
kill -CONT "$MOCK_PID"
while read -r line; do
	grep -qxF -- "${line% CU=*}" <<<"$want_all" || fail "C in the outage: $line, older than the group gave"
done < <(grep ' 200 ' "$work/C.outage" | sort -u)
grep -q ' 503 catching_up' "$work/C.outage" && ok || fail "C's campaigns did not wait in the outage: $(sort -u "$work/C.outage")"
stop C
start C
watch C "$want_all"
grep -q "catching_up until this instance has caught up" "$work/C.log" && ok || fail "C, restarted, was not held back"
stop C

# --- K, alone in a group of its own, dies right after its third batch is
# written (crash point consumer.collected), as a kill -9 there would: its
# answers may have shown that batch. L, new, takes the partitions: the
# group's offsets must cover everything in K's data dir, so that L waits
# for it rather than answer with less ---
if [ "$CRASH_POINTS" = on ]; then
	PLEDGED_CRASH_AT=consumer.collected:3 start_group_serve K k 127.0.0.1:0 --batch-max 500
	wait "$K_PID"
	status=$?
	K_PID=
	[ $status = 99 ] || die "K exited with $status, not at its crash point"
	# K's data dir: the offset after its last event of each partition.
	k_read=$("$PLEDGED" dump --data "$work/K" | python3 -c '
import json, sys
last = {}
for line in sys.stdin:
    e = json.loads(line)
    last[e["partition"]] = max(last.get(e["partition"], -1), e["offset"])
for p in sorted(last):
    print(p, last[p] + 1)
')
	[ -n "$k_read" ] || die "K's data dir holds no event"
	start_group_serve L k 127.0.0.1:0 --batch-max 10
	for _ in $(seq 300); do
		[ "$(grep -c 'and the consumer group up to' "$work/L.log")" -ge "$(wc -l <<<"$k_read")" ] && break
		sleep 0.1
	done
	while read -r p k_next; do
		group=$(sed -n "s/.*\[$p\]: this data dir has read up to offset [0-9]* and the consumer group up to \([0-9]*\);.*/\1/p" "$work/L.log" | head -n 1)
		[ -n "$group" ] && [ "$group" -ge "$k_next" ] && ok ||
			fail "partition $p: the group had committed ${group:-nothing} when L took it, K's data dir held up to $k_next$(grep -q 'has not answered an offset commit' "$work/K.log" && echo ' (K logged a commit not answered within its wait)')"
	done <<<"$k_read"
	stop L
fi

for d in A B C K L; do
	[ -d "$work/$d" ] || continue
	expect 0 "verify $d" -- "$PLEDGED" verify --data "$work/$d"
done
finish
