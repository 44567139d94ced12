#!/bin/bash
# rebalance_paused.sh — a rebalance while serve is paused for a full disk.
# The revoke drops the batch that failed to write (its partitions may go to
# another instance); serve must neither say the disk takes writes again while
# it is still full, nor stay paused for good once it is not: librdkafka 2.0
# keeps a partition's pause across an unassign and a new assignment.
# A serve on a small tmpfs (needs root; skipped otherwise) fills it; a
# second serve joins the group; the disk is freed; the second leaves; every
# event must then be applied once.
# Usage: rebalance_paused.sh PLEDGED MOCK_BROKER
set -u
PLEDGED=$1 MOCK=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-rebalance-paused-XXXXXX")
MOCK_PID= A_PID= B_PID=
cleanup() {
	for pid in $A_PID $B_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	umount "$work/disk" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
command -v curl >/dev/null || { echo "rebalance_paused: curl missing: skipped"; exit 77; }
mkdir "$work/disk"
mount -t tmpfs -o size=32m pledged-test "$work/disk" 2>/dev/null ||
	{ echo "rebalance_paused: cannot mount a tmpfs (needs root): skipped"; exit 77; }
die() { fail "$*"; tail -n 15 "$work"/*.log >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$work" 2

start() { # start NAME DATA: sets NAME_PID, NAME_ADMIN
	"$PLEDGED" serve --brokers "$ADDR" --group paused --data "$2" --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 --batch-ms 10 --kafka session.timeout.ms=6000 \
		--kafka heartbeat.interval.ms=500 2>"$work/$1.log" &
	eval "$1_PID=$!"
	local admin
	admin=$(admin_port "$work/$1.log")
	[ -n "$admin" ] || die "serve $1 did not start"
	eval "$1_ADMIN=http://127.0.0.1:$admin"
}
health() { curl -s -m 5 -w ' %{http_code}' "$1/healthz"; }
wait_log() { # wait_log NAME TEXT COUNT SECONDS: until TEXT is in NAME's log COUNT times
	for _ in $(seq $(($4 * 10))); do
		[ "$(grep -c -- "$2" "$work/$1.log")" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}
NOW=$(($(date +%s) * 1000))
events() { # events FROM TO: a campaign per event number, opened, so each applies
	for i in $(seq "$1" "$2"); do
		echo "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"o$i\",\"at\":$NOW,\"campaign\":\"c$i\",\"title\":\"T\",\"owner\":\"o\",\"currency\":\"GBP\"}"
	done
}
publish() { timeout 60 "$PLEDGED" publish --brokers "$ADDR" 2>>"$work/publish.log" >/dev/null || die "publish"; }
applied() { "$PLEDGED" dump --data "$work/disk/data" 2>/dev/null | wc -l; }

start A "$work/disk/data"
wait_log A "assigned 2 partitions" 1 30 || die "A was not assigned"
# In many small transactions, so LMDB keeps free pages in its file that a
# small write can reuse without growing it, even on a full disk.
for i in $(seq 0 10 190); do events $((i + 1)) $((i + 10)) | publish; done
for _ in $(seq 100); do [ "$(applied)" = 200 ] && break; sleep 0.1; done
[ "$(applied)" = 200 ] && ok || die "A applied $(applied) of the first 200"

# The disk fills; the next events cannot be written.
dd if=/dev/zero of="$work/disk/fill" bs=1M 2>/dev/null
events 201 2200 | publish
wait_log A "cannot write a batch" 1 30 && ok || die "A did not pause on the full disk"

# B joins: A is revoked, dropping the batch that failed, and keeps one
# partition. The disk is still full: no claim that it takes writes.
start B "$work/b"
wait_log A "revoked" 1 60 || die "A was not revoked when B joined"
wait_log B "assigned" 1 60 || die "B was not assigned"
wait_log A "assigned 1 partition" 1 60 || die "A was not assigned its half"
sleep 3
! grep -q "accepts writes again" "$work/A.log" && ok || fail "A said the full disk accepts writes again"
health "$A_ADMIN" | grep -q ' 503$' && ok || fail "healthz is not 503 with the disk full: $(health "$A_ADMIN")"

# Freed while B holds the other partition, which A paused when its write
# failed; B leaves and A takes it back.
rm -f "$work/disk/fill"
wait_log A "accepts writes again" 1 30 && ok || fail "A did not notice the disk was freed"
kill -TERM "$B_PID"; wait "$B_PID" && ok || fail "B stops cleanly"
B_PID=
wait_log A "assigned 2 partitions" 2 60 || die "A was not given both partitions back"
for _ in $(seq 300); do [ "$(applied)" = 2200 ] && break; sleep 0.1; done
[ "$(applied)" = 2200 ] && ok || fail "A applied $(applied) of 2200 events after the disk was freed: $(health "$A_ADMIN")"
health "$A_ADMIN" | grep -q '"state":"consuming".* 200$' && ok || fail "healthz after the disk was freed: $(health "$A_ADMIN")"
kill -TERM "$A_PID"; wait "$A_PID" && ok || fail "A stops cleanly"
A_PID=
"$PLEDGED" verify --data "$work/disk/data" >/dev/null 2>&1 && ok || fail "verify fails after it all"
[ "$("$PLEDGED" dump --data "$work/disk/data" | sed -n 's/.*"id":"\(o[0-9]*\)".*/\1/p' | sort -u | wc -l)" = 2200 ] && ok ||
	fail "the log does not hold each event once"
finish
