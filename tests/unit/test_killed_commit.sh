#!/bin/sh
# test_killed_commit.sh — a replay killed inside its commit, while another
# process (a serve) keeps the data dir open, is taken up by the next replay
# from what that commit stored.
#
# And serve starts and answers while another process holds LMDB's write lock.
#
# Usage: test_killed_commit.sh PLEDGED KILL_AT_META_SO HOLD_ENV DEMO_JSONL
#
# The kill lands after LMDB wrote the commit's meta page and before it told
# lock.mdb the new transaction id (kill_at_meta.c), so read transactions
# still see the snapshot before that commit. The next replay read where to
# take up from in such a transaction and wrote in one that saw the commit:
# it applied the dead replay's last entries again ("already exists", or
# nothing said when those entries staged no history rows).
set -u
pledged=$1 kill_at_meta=$2 hold_env=$3 demo=$4
work=$(mktemp -d)
holder=
cleanup() {
	if [ -n "$holder" ]; then kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; fi
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/testlib.sh"
# An ASan build's runtime comes after the preloaded library: let it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

"$pledged" import --data "$work/base" <"$demo" >/dev/null 2>&1 || { echo "import failed"; exit 1; }
killed=0
# --max-rate 1000 commits every 100 entries: the demo's 2059 take ~20 commits.
for at in 2 3 5 8 13; do
	rm -rf "$work/d" && cp -a "$work/base" "$work/d"
	"$hold_env" "$work/d" >"$work/held" &
	holder=$!
	for _ in $(seq 100); do [ -s "$work/held" ] && break; sleep 0.05; done
	KILL_AT_META=$at LD_PRELOAD=$kill_at_meta "$pledged" replay --data "$work/d" --max-rate 1000 \
		>/dev/null 2>"$work/first"
	[ $? = 137 ] && killed=$((killed + 1))
	expect 0 "the replay after one killed at meta write $at" -- "$pledged" replay --data "$work/d" --txn-ms 5
	expect 0 "verify after it (killed at meta write $at)" -- "$pledged" verify --data "$work/d"
	kill "$holder"; wait "$holder" 2>/dev/null
	holder=
done
# The kill must have happened, or this tested nothing.
if [ "$killed" -ge 4 ]; then ok; else fail "only $killed of 5 replays were killed at a meta write"; fi

# A reader killed inside its read transaction (a dump, verify or backup
# killed -9) while another process keeps the data dir open leaves its slot
# in lock.mdb: every page freed after its snapshot stayed in use, and
# data.mdb grew with every write (by half after each replay here) until
# the last process closed the data dir. The next write lets the slot go.
rm -rf "$work/d" && cp -a "$work/base" "$work/d"
"$hold_env" "$work/d" >"$work/held" &
holder=$!
for _ in $(seq 100); do [ -s "$work/held" ] && break; sleep 0.05; done
# Into a pipe nobody reads: dump stops inside its transaction when it fills.
sh -c 'echo $$ >"$1"; exec "$2" dump --data "$3"' sh "$work/reader" "$pledged" "$work/d" | sleep 60 &
sleeper=$!
for _ in $(seq 100); do
	reader=$(cat "$work/reader" 2>/dev/null)
	[ -n "$reader" ] && mdb_stat -r "$work/d" | grep -q "^ *$reader " && break
	sleep 0.05
done
kill -9 "$reader"
kill "$sleeper"; wait "$sleeper" 2>/dev/null
if mdb_stat -r "$work/d" | grep -q "^ *$reader "; then ok; else fail "the killed dump left no reader slot to test with"; fi
before=$(stat -c %s "$work/d/data.mdb")
for i in 1 2 3; do
	expect 0 "replay $i after a reader was killed" -- "$pledged" replay --data "$work/d"
done
if mdb_stat -r "$work/d" | grep -q "^ *$reader "; then
	fail "the killed dump's reader slot outlived the writes: $(mdb_stat -r "$work/d")"
else ok; fi
after=$(stat -c %s "$work/d/data.mdb")
# Each replay writes a slot afresh and frees the old one's pages (about 0.4 MB).
[ "$after" -le $((before + 1000000)) ] && ok ||
	fail "data.mdb grew from $before to $after bytes over three replays"
kill "$holder"; wait "$holder" 2>/dev/null
holder=

# What the next replay does to see that commit (take the write lock once)
# serve must not do as it starts: it answers while another process holds
# the lock, as a rebuild does through a long transaction.
"$hold_env" --write "$work/d" >"$work/held" &
holder=$!
for _ in $(seq 100); do [ -s "$work/held" ] && break; sleep 0.05; done
"$pledged" serve --data "$work/d" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/serve.log" &
serve=$!
port=$(admin_port "$work/serve.log")
if [ -n "$port" ] && curl -s -m 5 "http://127.0.0.1:$port/healthz" >/dev/null; then ok; else
	fail "serve does not answer while another process holds the write lock: $(tail -3 "$work/serve.log")"
fi
kill "$holder"; wait "$holder" 2>/dev/null
holder=
kill -TERM "$serve"
wait "$serve"
rc=$?
[ "$rc" = 0 ] && ok || fail "serve stops cleanly once the lock is free: exit $rc: $(tail -n 5 "$work/serve.log")"
finish
