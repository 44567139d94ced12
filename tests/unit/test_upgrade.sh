#!/bin/sh
# test_upgrade.sh — data dirs of formats 1 to 6 brought to format 7 by
# `pledged upgrade`, and refused by every other command until then.
# Usage: test_upgrade.sh PLEDGED MAKE_V1 MAKE_OLD_FORMAT DEMO_JSONL DAMAGE_PAGE HOLD_ENV
#
# make_v1 writes the demo as format 1 (the log without checksums, the old
# projection tables, a rejection, an offset). Before the upgrade: exit 3
# with advice. The upgrade: the demo's figures exactly, every log entry the
# same event at the same sequence, the rejection kept with its event id and
# type now, the offset kept, verify passing. Interrupted by a crash point
# (when they are compiled in) and run again, it finishes the same way.
# make_old_format turns a fresh data dir into format 2 (no history, no
# platform totals): upgraded, it answers both, equal to a dir made by this
# build. And into format 3 (every history row in the history table, packed
# as format 3 did, no staging tables): upgraded, it answers the same history.
# And into format 4 (every history row under a key of its own, every
# comment in the comments table, a rebuild left under way): upgraded, the
# same history and comments, the old tables gone. And into format 5 (the
# staged comments keyed as in the comments table, a rebuild left under way):
# upgraded without a rebuild, the staged comments in the comments table;
# stopped after its first commit, it is still format 5 and finishes when run
# again. And into format 6 (as this build writes a data dir stopped
# cleanly, no move under way): upgraded by changing the format's number.
# A format-1 log whose B-tree sends a seek back (a branch key raised) is
# damage, exit 3, not an upgrade going round for ever; an upgrade that wrote
# over a page whose number was flipped says the data dir is damaged, and
# does not finish: for each page of the file, it stops with exit 3 or
# leaves a data dir verify passes. Another process holding the data dir
# open, reading or writing (any LMDB tool), is named, not waited for.
# A data dir of a newer format (10) is refused as such.
set -u
PLEDGED=$1 MAKE_V1=$2 MAKE_OLD=$3 DEMO=$4 DAMAGE_PAGE=$5 HOLD_ENV=$6
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/testlib.sh"

make_v1() { "$MAKE_V1" "$work/$1" "$DEMO" >/dev/null || fail "make_v1 $1"; }

make_v1 d
for cmd in "verify" "dump" "rejections" "replay --dry-run" "serve --read-only --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0"; do
	# shellcheck disable=SC2086
	expect 3 "$cmd refuses format 1" -- "$PLEDGED" $cmd --data "$work/d"
	contains "$work/err" "pledged upgrade" "$cmd says to upgrade"
done
expect 3 "import refuses format 1" -- "$PLEDGED" import --data "$work/d" </dev/null
for how in reading writing; do
	if [ "$how" = writing ]; then "$HOLD_ENV" --write "$work/d"; else "$HOLD_ENV" "$work/d"; fi \
		>"$work/held" &
	holder=$!
	for _ in $(seq 100); do [ -s "$work/held" ] && break; sleep 0.05; done
	expect 3 "upgrade while another process holds the data dir ($how)" -- \
		timeout 20 "$PLEDGED" upgrade --data "$work/d"
	contains "$work/err" "process $holder has data dir" "upgrade names the process ($how)"
	kill "$holder"
	wait "$holder" 2>/dev/null
done

# A stray birth marker beside a small format-1 log (no pledged.dir then,
# under 64 KiB): refused, the log never taken for a creation cut short.
head -n 5 "$DEMO" >"$work/five.jsonl"
"$MAKE_V1" "$work/small" "$work/five.jsonl" >/dev/null || fail "make_v1 small"
: >"$work/small/creating"
size=$(stat -c %s "$work/small/data.mdb")
expect 3 "import beside a stray marker and a small format-1 log" -- \
	"$PLEDGED" import --data "$work/small" </dev/null
[ "$(stat -c %s "$work/small/data.mdb")" = "$size" ] && ok || fail "the small format-1 log was replaced"
rm "$work/small/creating"
expect 0 "upgrade of the small format-1 log" -- "$PLEDGED" upgrade --data "$work/small"
expect 0 "its five events" -- "$PLEDGED" dump --data "$work/small"
[ "$(wc -l <"$work/out")" = 5 ] && ok || fail "the small log lost events: $(wc -l <"$work/out") left"

make_v1 bumped
"$DAMAGE_PAGE" "$work/bumped" log raise-key || fail "no branch key to raise in the format-1 log"
expect 3 "upgrade of a log whose B-tree seeks backwards" -- timeout 60 "$PLEDGED" upgrade --data "$work/bumped"
contains "$work/err" "the data dir is damaged" "upgrade says the data dir is damaged"
# A page number flipped in the rejections' root: LMDB copies the page under
# it on the upgrade's first write there, and what it wrote is damaged. The
# upgrade checks LMDB's pages as verify does, and does not finish.
make_v1 flipped
"$DAMAGE_PAGE" "$work/flipped" rejections flip-pgno || fail "no root page of the rejections to flip"
expect 3 "upgrade over a page whose number is flipped" -- "$PLEDGED" upgrade --data "$work/flipped"
contains "$work/err" "the data dir is damaged" "upgrade says the data dir is damaged"
expect 3 "a data dir the upgrade found damaged is not of the new format" -- \
	"$PLEDGED" dump --data "$work/flipped"
# And so for every page of the file: an upgrade over a page whose number is
# flipped stops with exit 3, or finishes with a data dir verify passes
# (some flips garble only rows the rebuild stages, which the upgrade parses).
make_v1 pages
pages=$(($(stat -c %s "$work/pages/data.mdb") / 4096))
unsound=0 refused=0
for page in $(seq 2 $((pages - 1))); do
	rm -rf "$work/page"
	mkdir "$work/page"
	cp "$work/pages/data.mdb" "$work/page/"
	printf "\\$(printf %o $(($(od -An -tu1 -j $((page * 4096)) -N1 "$work/page/data.mdb") ^ 1)))" |
		dd of="$work/page/data.mdb" bs=1 seek=$((page * 4096)) conv=notrunc 2>/dev/null
	timeout 60 "$PLEDGED" upgrade --data "$work/page" >/dev/null 2>"$work/err"
	rc=$?
	case $rc in
	0) timeout 60 "$PLEDGED" verify --data "$work/page" >"$work/out" 2>&1 ||
		{ unsound=$((unsound + 1)); echo "page $page: upgraded, then verify: $(head -n 1 "$work/out")"; } ;;
	3) refused=$((refused + 1)) ;;
	*) unsound=$((unsound + 1)); echo "page $page: upgrade exit $rc: $(tail -n 1 "$work/err")" ;;
	esac
done
[ "$unsound" = 0 ] && ok || fail "$unsound of $((pages - 2)) page-number flips upgraded into a damaged data dir, or crashed"
echo "test_upgrade: $((pages - 2)) page-number flips: $refused refused as damaged, the rest upgraded and verified"

expect 0 "upgrade" -- "$PLEDGED" upgrade --data "$work/d"
contains "$work/err" "is of format 7 now (2059 log entries and 1 rejections rewritten, projections rebuilt)" "upgrade summary"
expect 0 "upgrade again: nothing to do" -- "$PLEDGED" upgrade --data "$work/d"
contains "$work/err" "nothing to do" "a second upgrade changes nothing"

expect 0 "verify after the upgrade" -- "$PLEDGED" verify --data "$work/d"
contains "$work/out" "OK: projections match the log (2059 entries, checksums intact)" "verify passes"
expect 0 "the demo's figures" -- "$PLEDGED" replay --data "$work/d" --dry-run
contains "$work/out" '"raised":5804100,"pledges":2020,"supporters":1975,"comments":10,"status":"closed"' "demo totals"
expect 0 "dump" -- "$PLEDGED" dump --data "$work/d"
[ "$(wc -l <"$work/out")" = 2059 ] && ok || fail "every entry is still there"
sed -n 1p "$work/out" | grep -q '"seq":1,.*"id":"' && ok || fail "entry 1 decodes: $(sed -n 1p "$work/out")"
expect 0 "rejections" -- "$PLEDGED" rejections --data "$work/d"
contains "$work/out" '"reason":"not_a_backer"' "the rejection is kept"
contains "$work/out" '"event_id":"v1-rejected"' "with its event id now"
contains "$work/out" '"event_type":"comment.posted"' "and its type"
for table in event_ids campaigns totals pledges supporters comments comment_ids scratch.totals; do
	if mdb_dump -s "$table" "$work/d" >/dev/null 2>&1; then fail "old table $table is still there"; else ok; fi
done

# What the live projections read after the upgrade is served.
"$PLEDGED" serve --read-only --data "$work/d" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/serve.log" &
serve=$!
port=$(serve_port "$work/serve.log")
if command -v curl >/dev/null && [ -n "$port" ]; then
	curl -s "http://127.0.0.1:$port/v1/campaigns/jess-phillips-for-labour-leader" >"$work/out"
	contains "$work/out" '"raised":5804100' "served figures after the upgrade"
fi
kill "$serve"
wait "$serve" 2>/dev/null

# Format 2: the history and the platform totals are built by the upgrade.
"$PLEDGED" import --data "$work/v2" <"$DEMO" >/dev/null 2>&1
cp -r "$work/v2" "$work/v3"
cp -r "$work/v2" "$work/v2-swapped"
"$MAKE_OLD" "$work/v2" 2 || fail "make_old_format 2"
expect 3 "verify refuses format 2" -- "$PLEDGED" verify --data "$work/v2"
contains "$work/err" "pledged upgrade" "and says to upgrade"
expect 0 "upgrade from format 2" -- "$PLEDGED" upgrade --data "$work/v2"
contains "$work/err" "is of format 7 now" "upgrade summary from format 2"
expect 0 "verify after the upgrade from format 2" -- "$PLEDGED" verify --data "$work/v2"
# Its log's pages damaged so that a walk meets entries out of order: the
# rebuild says so, exit 3 as replay does, and the format stays 2.
"$MAKE_OLD" "$work/v2-swapped" 2 || fail "make_old_format 2"
"$DAMAGE_PAGE" "$work/v2-swapped" log swap-children || fail "no branch root to damage in the log"
expect 3 "upgrade of a format-2 log walked out of order" -- "$PLEDGED" upgrade --data "$work/v2-swapped"
contains "$work/err" "a log entry is damaged" "upgrade names the damaged entry"
expect 3 "still not of the new format" -- "$PLEDGED" dump --data "$work/v2-swapped"
# The history as one listing of both its tables, against the same log
# rebuilt by this build's replay: both filled from the whole log at once,
# the listings match byte for byte.
expect 0 "this build's rebuild of the same log" -- "$PLEDGED" replay --data "$work/v3"
table_dump() { # DIR TABLE...: the live slot's tables' records
	slot=$(mdb_dump -p -s meta "$1" | sed -n '/^ live$/{n;s/^ //p;}')
	dir=$1
	shift
	for table in "$@"; do
		mdb_dump -p -s "${slot:-a}.$table" "$dir" 2>/dev/null | sed 1,/HEADER=END/d
	done
}
for tables in "campaign_history history_staged" platform; do
	# shellcheck disable=SC2086
	table_dump "$work/v2" $tables >"$work/v2.tables"
	# shellcheck disable=SC2086
	table_dump "$work/v3" $tables >"$work/v3.tables"
	[ -s "$work/v2.tables" ] && cmp -s "$work/v2.tables" "$work/v3.tables" && ok ||
		fail "the upgraded $tables is not what this build writes"
done

# Format 3: the history's rows all in the history table, in format 3's
# fixed-width fields, and no staging tables. The upgrade rebuilds them; the
# history then reads as this build's own.
upgrade_from() { # DIR N: DIR of this build made format N: refused, its rows in
	# the history table; then upgraded and verified
	"$MAKE_OLD" "$1" "$2" || fail "make_old_format $2"
	expect 3 "verify refuses format $2" -- "$PLEDGED" verify --data "$1"
	contains "$work/err" "pledged upgrade" "and says to upgrade"
	[ -s "$(table_dump "$1" history >"$1.history"; echo "$1.history")" ] && ok ||
		fail "format $2 keeps its rows in the history table"
	expect 0 "upgrade from format $2" -- "$PLEDGED" upgrade --data "$1"
	contains "$work/err" "is of format 7 now" "upgrade summary from format $2"
	expect 0 "verify after the upgrade from format $2" -- "$PLEDGED" verify --data "$1"
	contains "$work/out" "OK: projections match the log" "verify passes after the upgrade from format $2"
}
"$PLEDGED" import --data "$work/f3" <"$DEMO" >/dev/null 2>&1
upgrade_from "$work/f3" 3
history_of() { # DIR: the demo campaign's weekly history, feed as of a day and feed now, as served
	"$PLEDGED" serve --read-only --data "$1" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
		2>"$work/serve.log" &
	pid=$!
	port=$(serve_port "$work/serve.log")
	base="http://127.0.0.1:$port/v1/campaigns/jess-phillips-for-labour-leader"
	curl -s "$base/history?interval=week"
	curl -s "$base/comments?as_of=2020-01-22T00:00:00Z"
	curl -s "$base/comments?limit=7"
	kill "$pid"
	wait "$pid" 2>/dev/null
}
served_as_fresh() { # DIR N: what DIR serves is what a dir of this build serves
	history_of "$1" >"$1.served"
	cmp -s "$1.served" "$work/v3.served" && ok ||
		fail "the history after the upgrade from format $2 differs: $(diff "$1.served" "$work/v3.served" | head -n 4)"
}
if command -v curl >/dev/null; then
	history_of "$work/v3" >"$work/v3.served"
	served_as_fresh "$work/f3" 3
	contains "$work/f3.served" '"buckets":' "the history is served after the upgrade from format 3"
fi

# Format 4: the history's rows each under a key of their own. A rebuild of
# format 4 left under way is dropped, not taken up: its slot holds rows as
# format 4 wrote them.
"$PLEDGED" import --data "$work/f4" <"$DEMO" >/dev/null 2>&1
"$PLEDGED" replay --data "$work/f4" --no-swap >/dev/null 2>&1 || fail "a rebuild left under way"
upgrade_from "$work/f4" 4
for table in a.history b.history; do
	if mdb_dump -s "$table" "$work/f4" >/dev/null 2>&1; then fail "format 4's $table is still there"; else ok; fi
done
rows() { table_dump "$@" | grep -v '^DATA=END$'; } # DIR TABLE...: table_dump without its end marks
[ -n "$(rows "$work/f4" comments comments_staged)" ] && ok || fail "the comments after the upgrade from format 4"
mdb_dump -p -s meta "$work/f4" | grep -q '^ rebuild.slot$' && fail "the old rebuild is still marked" || ok
command -v curl >/dev/null && served_as_fresh "$work/f4" 4

# Format 5: the staged comments keyed as in the comments table; the rest
# is as format 7 has it, so the upgrade moves them and rebuilds nothing.
"$PLEDGED" import --data "$work/f5" <"$DEMO" >/dev/null 2>&1
"$PLEDGED" replay --data "$work/f5" --no-swap >/dev/null 2>&1 || fail "a rebuild left under way"
[ -n "$(rows "$work/f5" comments_staged)" ] && ok || fail "the demo's comments are staged"
"$MAKE_OLD" "$work/f5" 5 || fail "make_old_format 5"
expect 3 "verify refuses format 5" -- "$PLEDGED" verify --data "$work/f5"
expect 0 "upgrade from format 5" -- "$PLEDGED" upgrade --data "$work/f5"
contains "$work/err" "is of format 7 now (0 log entries and 0 rejections rewritten, projections kept)" \
	"upgrade summary from format 5"
[ -z "$(rows "$work/f5" comments_staged)" ] && [ -n "$(rows "$work/f5" comments)" ] && ok ||
	fail "format 5's staged comments are in the comments table"
mdb_dump -p -s meta "$work/f5" | grep -q '^ rebuild.slot$' && fail "format 5's rebuild is still marked" || ok
expect 0 "verify after the upgrade from format 5" -- "$PLEDGED" verify --data "$work/f5"
contains "$work/out" "OK: projections match the log" "verify passes after the upgrade from format 5"
command -v curl >/dev/null && served_as_fresh "$work/f5" 5
# Killed after its first commit, which drops the rebuild left under way
# (when crash points are compiled in), the upgrade from format 5 leaves
# format 5, and run again it finishes.
"$PLEDGED" import --data "$work/f5b" <"$DEMO" >/dev/null 2>&1
"$PLEDGED" replay --data "$work/f5b" --no-swap >/dev/null 2>&1 || fail "a rebuild left under way"
"$MAKE_OLD" "$work/f5b" 5 || fail "make_old_format 5"
PLEDGED_CRASH_AT=store.committed:1 "$PLEDGED" upgrade --data "$work/f5b" >/dev/null 2>&1
status=$?
if [ "$status" = 99 ]; then
	expect 3 "a format-5 dir whose upgrade was stopped is refused" -- "$PLEDGED" verify --data "$work/f5b"
	expect 0 "the upgrade from format 5 after a crash" -- "$PLEDGED" upgrade --data "$work/f5b"
	contains "$work/err" "is of format 7 now" "it finishes"
	expect 0 "verify after the interrupted upgrade from format 5" -- "$PLEDGED" verify --data "$work/f5b"
	[ -n "$(rows "$work/f5b" comments)" ] && [ -z "$(rows "$work/f5b" comments_staged)" ] && ok ||
		fail "the staged comments after an interrupted upgrade from format 5"
elif [ "$status" = 0 ]; then
	echo "crash points not compiled in: the interrupted upgrade from format 5 is not tested"
else
	fail "the upgrade from format 5 exited $status"
fi

# Format 6: as this build writes a data dir stopped cleanly (no move of the
# history under way), so only the format's number changes.
"$PLEDGED" import --data "$work/f6" <"$DEMO" >/dev/null 2>&1
"$MAKE_OLD" "$work/f6" 6 || fail "make_old_format 6"
expect 3 "verify refuses format 6" -- "$PLEDGED" verify --data "$work/f6"
expect 0 "upgrade from format 6" -- "$PLEDGED" upgrade --data "$work/f6"
contains "$work/err" "is of format 7 now (0 log entries and 0 rejections rewritten, projections kept)" \
	"upgrade summary from format 6"
expect 0 "verify after the upgrade from format 6" -- "$PLEDGED" verify --data "$work/f6"
contains "$work/out" "OK: projections match the log" "verify passes after the upgrade from format 6"
command -v curl >/dev/null && served_as_fresh "$work/f6" 6

# A newer pledged's data dir, of format 10 (two digits): refused as newer,
# not as damage that a backup should replace.
"$PLEDGED" import --data "$work/f10" <"$DEMO" >/dev/null 2>&1
"$MAKE_OLD" "$work/f10" 10 || fail "make_old_format 10"
for cmd in verify upgrade; do
	expect 3 "$cmd refuses format 10" -- "$PLEDGED" $cmd --data "$work/f10"
	contains "$work/err" "written by a newer pledged" "$cmd says format 10 is newer"
done

# Interrupted (a crash point in its rebuild) and run again.
make_v1 crashed
PLEDGED_CRASH_AT=store.committed:5 "$PLEDGED" upgrade --data "$work/crashed" >/dev/null 2>&1
status=$?
if [ "$status" = 99 ]; then
	expect 3 "a half-upgraded dir is refused" -- "$PLEDGED" verify --data "$work/crashed"
	contains "$work/err" "upgrade was interrupted" "and says so"
	expect 0 "the upgrade goes on" -- "$PLEDGED" upgrade --data "$work/crashed"
	expect 0 "verify the finished upgrade" -- "$PLEDGED" verify --data "$work/crashed"
	"$PLEDGED" dump --data "$work/d" >"$work/a" 2>/dev/null
	"$PLEDGED" dump --data "$work/crashed" >"$work/b" 2>/dev/null
	cmp -s "$work/a" "$work/b" && ok || fail "an interrupted upgrade ends with the same log"
else
	echo "crash points not compiled in: the interrupted upgrade is not tested"
fi
finish
