#!/bin/bash
# test_damage.sh — damaged data dirs get an answer, not a crash.
#
#  1. Byte flips: FLIPS copies of the demo's data dir, one byte flipped in
#     each, half of them inside a log entry's stored bytes and half anywhere
#     in data.mdb. On each copy verify, dump, rejections and a dry-run replay
#     must answer (exit 0, 1 or 3) within a minute; a flip inside an entry
#     must make verify exit 1 naming that entry. LMDB keeps no checksums of
#     its own pages, so a flip in a page header or a branch page can crash
#     inside LMDB before pledged could look: pledged catches such a crash
#     (the frame nearest the fault that is LMDB's or pledged's is LMDB's) and
#     exits 3 with advice, while a crash of pledged's own still crashes. Those the
#     sanitizer reports itself (its report's first frame is in liblmdb) are
#     counted and printed, not failed; a crash anywhere else fails. Whole
#     pages of seeded garbage, which send LMDB astray, must be answered too.
#     Needs an AddressSanitizer build to tell the two apart (exit 77
#     otherwise).
#  2. A data.mdb cut short (as by a full disk or an interrupted copy) is
#     refused at open with exit 3 and says so: verify, dump, serve; so is
#     one cut to nothing or deleted, by every command, import and serve
#     included (they would otherwise start a fresh log over it). Cut
#     short under a running serve, the next read past the end exits 3 with
#     a message rather than dying of SIGBUS.
#  3. A backup onto a full file system (a small tmpfs; needs root, skipped
#     otherwise) exits 3 and leaves nothing behind that looks like a data dir;
#     it, and a compact with no room for its copy, say how much they need;
#     verify and a dry-run replay whose scratch data dir fills up exit 3,
#     name where it was, and leave nothing there either.
#
# Usage: test_damage.sh PLEDGED LOG_OFFSETS DEMO.jsonl [FLIPS]
# PLEDGED_DAMAGE_SEED=N repeats a run (the seed is printed).
set -u
PLEDGED=$1 OFFSETS=$2 DEMO=$3 FLIPS=${4:-200}
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-damage-XXXXXX")
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/testlib.sh"

if ! nm "$PLEDGED" 2>/dev/null | grep -q __asan_init; then
	echo "test_damage: $PLEDGED is not built with AddressSanitizer; skipped" >&2
	exit 77
fi
export ASAN_OPTIONS=exitcode=86:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87

"$PLEDGED" import --data "$work/good" <"$DEMO" >/dev/null 2>&1 || { echo "import failed" >&2; exit 1; }
"$OFFSETS" "$work/good" >"$work/entries" || { echo "log_offsets failed" >&2; exit 1; }
size=$(stat -c %s "$work/good/data.mdb")
entries=$(wc -l <"$work/entries")
[ "$entries" = 2059 ] && ok || fail "log_offsets lists every entry ($entries)"

seed=${PLEDGED_DAMAGE_SEED:-$(( $(od -An -N2 -tu2 /dev/urandom) ))}
RANDOM=$seed
echo "test_damage: $FLIPS flips of a $size-byte data.mdb, seed $seed"
rnd() { echo $(( (RANDOM << 15 | RANDOM) % $1 )); } # 0..$1-1, $1 < 2^30

flip() { # flip FILE OFFSET: xor the byte there with a random non-zero value
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	b=$(( b ^ ($(rnd 255) + 1) ))
	printf "$(printf '\\%03o' "$b")" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

answered=0 caught_in_entry=0 lmdb_crashes=0 refused=0 unnoticed=0
# run NAME COMMAND…: runs it on the damaged copy; a crash outside LMDB fails.
run() {
	local name=$1
	shift
	timeout 60 "$@" >"$work/out" 2>"$work/err"
	rc=$?
	case $rc in
	0 | 1 | 3) answered=$((answered + 1)) ;;
	124) fail "flip $i at $off: $name hung" ;;
	*)
		if grep -m1 '^ *#0 ' "$work/err" | grep -q liblmdb; then
			lmdb_crashes=$((lmdb_crashes + 1))
		else
			fail "flip $i at $off: $name crashed (exit $rc): $(grep -m3 -E 'ERROR|#0|#1|runtime error' "$work/err" | tr '\n' ' ')"
		fi
		;;
	esac
}

for i in $(seq 1 "$FLIPS"); do
	rm -rf "$work/d" && cp -r "$work/good" "$work/d"
	seq_hit=
	if [ $((i % 2)) = 0 ]; then
		read -r seq_hit start len < <(sed -n "$(( $(rnd "$entries") + 1 ))p" "$work/entries")
		off=$(( start + $(rnd "$len") ))
	else
		off=$(rnd "$size")
	fi
	flip "$work/d/data.mdb" "$off"
	run verify "$PLEDGED" verify --data "$work/d"
	verify_rc=$rc
	if [ -n "$seq_hit" ]; then
		if [ "$verify_rc" = 1 ] && grep -q "log entry $seq_hit " "$work/out"; then
			caught_in_entry=$((caught_in_entry + 1))
		elif [ "$verify_rc" -le 3 ]; then
			fail "flip $i in entry $seq_hit (offset $off): verify exit $verify_rc: $(cat "$work/out" "$work/err" | head -3)"
		fi
	fi
	[ "$verify_rc" = 3 ] && refused=$((refused + 1))
	[ "$verify_rc" = 0 ] && unnoticed=$((unnoticed + 1))
	run dump "$PLEDGED" dump --data "$work/d"
	run rejections "$PLEDGED" rejections --data "$work/d"
	run replay "$PLEDGED" replay --data "$work/d" --dry-run
	# A damaged entry makes the dir unusable (3), for a dry run and a rebuild alike.
	if [ -n "$seq_hit" ] && [ "$rc" != 3 ]; then
		fail "flip $i in entry $seq_hit: replay --dry-run exit $rc, want 3: $(head -2 "$work/err")"
	fi
	if [ -n "$seq_hit" ] && [ $((i % 20)) = 0 ]; then
		run replay "$PLEDGED" replay --data "$work/d"
		[ "$rc" = 3 ] && ok || fail "flip $i in entry $seq_hit: replay exit $rc, want 3: $(head -2 "$work/err")"
	fi
done
[ "$caught_in_entry" -gt 0 ] && ok || fail "no flip landed in an entry"
echo "test_damage: flips in entries caught by verify: $caught_in_entry of $((FLIPS / 2));" \
	"anywhere: verify found nothing in $unnoticed (free or unused bytes), refused $refused as damaged;" \
	"$answered commands answered, $lmdb_crashes crashed inside LMDB"

# Whole pages of garbage (seeded), which send LMDB astray: a crash inside
# LMDB is caught and answered as damage, exit 3 with advice, never a signal.
for page in 5 130; do
	for pseed in 1 10; do
		rm -rf "$work/g" && cp -r "$work/good" "$work/g"
		python3 -c "
import random; random.seed($pseed); f = open('$work/g/data.mdb', 'r+b'); f.seek($page * 4096)
f.write(bytes(random.getrandbits(8) for _ in range(4096)))"
		for cmd in verify dump "replay --dry-run"; do
			timeout 60 "$PLEDGED" $cmd --data "$work/g" >"$work/out" 2>"$work/err"
			rc=$?
			if [ "$rc" = 1 ] || [ "$rc" = 3 ]; then ok; else
				fail "$cmd on page $page of garbage (seed $pseed): exit $rc: $(grep -m2 -E 'ERROR|#0' "$work/err" | tr '\n' ' ')"
			fi
			if [ "$rc" = 3 ] && grep -q "LMDB crashed" "$work/err"; then
				contains "$work/err" "restore it from a backup" "$cmd says what to do after LMDB crashed"
			fi
		done
	done
done

echo '{"v":1,"type":"pledge.created","id":"free-1","at":1579000000000,"campaign":"jess-phillips-for-labour-leader","pledge":"pl-free-1","supporter":"sup-free-1","amount":100,"currency":"GBP"}' >"$work/one.jsonl"

# Garbage in a run's overflow pages (pages 196, 207 and 219 of the demo's
# file hold them, in the live slot's runs of pledges and supporters),
# which reads trust: verify names the table, backup refuses to copy it
# (LMDB's copy would write astray), and import refuses to write beside it
# (it walks the pages first, as serve does beside its ingestion). A rebuild, which empties the old
# slot after its swap, used to free the pages the garbage counted
# (billions) and grow past 12 GB. Now it walks the pages first and stops
# with exit 3 before writing, and verify still names the damage; ASan's
# allocator is capped so that a return of that fault fails here rather
# than exhausting the machine.
capped="${ASAN_OPTIONS:+$ASAN_OPTIONS:}malloc_limit_mb=2000"
for page in 196 207 219; do
	rm -rf "$work/g" && cp -r "$work/good" "$work/g"
	python3 -c "
import random; r = random.Random($page); f = open('$work/g/data.mdb', 'r+b'); f.seek($page * 4096)
f.write(bytes(r.getrandbits(8) for _ in range(4096)))"
	expect 1 "verify of garbage in overflow page $page" -- "$PLEDGED" verify --data "$work/g"
	contains "$work/out" "DAMAGED: LMDB's pages of table 'a.runs." "verify names the table of page $page"
	ASAN_OPTIONS=$capped expect 3 "backup of garbage in overflow page $page" -- \
		"$PLEDGED" backup --data "$work/g" --to "$work/g-backup"
	contains "$work/err" "the data dir is damaged" "backup says the data dir is damaged"
	[ ! -e "$work/g-backup" ] && ok || fail "backup of a damaged data dir left a copy"
	before=$(cksum <"$work/g/data.mdb")
	expect 3 "import beside garbage in overflow page $page" -- \
		"$PLEDGED" import --data "$work/g" <"$work/one.jsonl"
	contains "$work/err" "the data dir is damaged: LMDB's pages of table 'a.runs." "import names the table"
	[ "$(cksum <"$work/g/data.mdb")" = "$before" ] && ok || fail "import wrote into a damaged data dir"
	ASAN_OPTIONS=$capped timeout 60 "$PLEDGED" replay --data "$work/g" >"$work/out" 2>"$work/err"
	rc=$?
	if [ "$rc" = 3 ]; then ok; else
		fail "replay over garbage in page $page: exit $rc: $(grep -m2 -E 'ERROR|#0|pledged' "$work/err" | tr '\n' ' ')"
	fi
	expect 1 "verify after a rebuild refused on page $page" -- "$PLEDGED" verify --data "$work/g"
	contains "$work/out" "DAMAGED: LMDB's pages of table 'a.runs." "verify names the old slot's table"
done

# LMDB's list of free pages, which no read uses and the next write does:
# the flags of its root page flipped. verify names it; a writer exits 3.
rm -rf "$work/free" && cp -r "$work/good" "$work/free"
root=$(python3 -c "
import struct; d = open('$work/free/data.mdb', 'rb').read()
newest = max((struct.unpack('<Q', d[m * 4096 + 144:m * 4096 + 152])[0], m) for m in (0, 1))[1]
print(struct.unpack('<Q', d[newest * 4096 + 80:newest * 4096 + 88])[0])")
if [ "$root" -gt 1 ] 2>/dev/null; then
	printf '\377' | dd of="$work/free/data.mdb" bs=1 seek=$((root * 4096 + 10)) conv=notrunc 2>/dev/null
	expect 1 "verify of a damaged list of free pages" -- "$PLEDGED" verify --data "$work/free"
	contains "$work/out" "DAMAGED: LMDB's list of free pages" "verify names the free pages"
	expect 3 "import onto a damaged list of free pages" -- "$PLEDGED" import --data "$work/free" \
		<"$work/one.jsonl"
	contains "$work/err" "nothing was written: restore the data dir from a backup" "import says what to do"
else
	fail "the demo's data.mdb has no list of free pages to damage (root '$root')"
fi

# Pages that read fine but would make the next write go astray: a leaf's
# header naming another page (LMDB frees the number a page's header names
# when it copies the page), a leaf flagged dirty (LMDB would write into it
# through the read-only map), and a page in use that the list of free pages
# also holds (the next write would hand it out). verify names the page and
# its tree; backup and compact refuse to copy.
pages_py() { # pages_py DIR CASE: damages DIR's data.mdb, prints the page
	python3 - "$1/data.mdb" "$2" <<'PY'
import struct, sys
path, case = sys.argv[1], sys.argv[2]
d = bytearray(open(path, 'rb').read())
ps = 4096
u16 = lambda o: struct.unpack_from('<H', d, o)[0]
u64 = lambda o: struct.unpack_from('<Q', d, o)[0]
leaves = [p for p in range(2, len(d) // ps) if u64(p * ps) == p and u16(p * ps + 10) == 2]
victim = leaves[len(leaves) // 2]
if case == 'renamed':
    struct.pack_into('<Q', d, victim * ps, victim ^ 0x40)
elif case == 'flagged':  # P_DIRTY: LMDB would take it for a page copied already
    struct.pack_into('<H', d, victim * ps + 10, u16(victim * ps + 10) | 0x10)
else:  # the first page the free list names becomes a page in use
    newest = max((u64(m * ps + 144), m) for m in (0, 1))[1]
    root = u64(newest * ps + 80)
    node = root * ps + u16(root * ps + 16)
    assert u16(node + 4) == 0, 'the free list record is on overflow pages'
    struct.pack_into('<Q', d, node + 8 + u16(node + 6) + 8, victim)
open(path, 'r+b').write(d)
print(victim)
PY
}
for case in renamed flagged listed-free; do
	rm -rf "$work/p" && cp -r "$work/good" "$work/p"
	page=$(pages_py "$work/p" $case) || fail "$case: cannot damage the demo's pages"
	expect 1 "verify of a page $case" -- "$PLEDGED" verify --data "$work/p"
	if [ $case != listed-free ]; then
		contains "$work/out" "DAMAGED: LMDB's pages of table '" "verify names the table of the page $case"
	else
		contains "$work/out" "DAMAGED: LMDB's list of free pages" "verify names the free list"
	fi
	contains "$work/out" "page $page does not name itself" "verify names page $page ($case)"
	expect 3 "backup of a page $case" -- "$PLEDGED" backup --data "$work/p" --to "$work/p-backup"
	contains "$work/err" "the data dir is damaged" "backup says the data dir is damaged ($case)"
	[ ! -e "$work/p-backup" ] && ok || fail "backup of a page $case left a copy"
	expect 3 "compact of a page $case" -- "$PLEDGED" compact --data "$work/p"
	contains "$work/err" "it is damaged" "compact says the data dir is damaged ($case)"
	expect 3 "a rebuild over a page $case" -- "$PLEDGED" replay --data "$work/p"
	contains "$work/err" "page $page does not name itself" "replay names page $page ($case)"
	contains "$work/err" "nothing was written" "replay wrote nothing ($case)"
done

# The list of tables' root flagged dirty under a running serve, after its
# walk of the pages found them sound (import would walk them first and
# refuse): the next batch's commit copies into the page through the
# read-only map and faults in libc's memcpy, called from LMDB. That is
# damage (exit 3 with advice), not a crash of pledged's.
rm -rf "$work/dirty" && cp -r "$work/good" "$work/dirty"
"$PLEDGED" serve --data "$work/dirty" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/dirty.log" &
dirty_pid=$!
for _ in $(seq 300); do
	grep -q "LMDB's pages checked" "$work/dirty.log" && grep -q 'consuming topic' "$work/dirty.log" && break
	sleep 0.1
done
grep -q 'consuming topic' "$work/dirty.log" || kill -9 "$dirty_pid" # and fails below
contains "$work/dirty.log" "LMDB's pages checked" "serve walked the sound pages"
python3 - "$work/dirty/data.mdb" <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
d = f.read()
ps = 4096
u16 = lambda o: struct.unpack_from('<H', d, o)[0]
u64 = lambda o: struct.unpack_from('<Q', d, o)[0]
newest = max((u64(m * ps + 144), m) for m in (0, 1))[1]
root = u64(newest * ps + 128)
f.seek(root * ps + 10)
f.write(struct.pack('<H', u16(root * ps + 10) | 0x10))
PY
expect 0 "publish to serve over a page flagged dirty" -- "$PLEDGED" publish --data "$work/dirty" <"$work/one.jsonl"
timeout 60 tail --pid="$dirty_pid" -f /dev/null || kill -9 "$dirty_pid"
wait "$dirty_pid"
rc=$?
[ "$rc" = 3 ] && ok || fail "serve committing over a list of tables flagged dirty: exit $rc, want 3 ($(grep -m2 -E 'ERROR|#0|crash' "$work/dirty.log" | tr '\n' ' '))"
contains "$work/dirty.log" "LMDB crashed following a page of the data file" "serve says LMDB crashed on a page"
contains "$work/dirty.log" "restore it from a backup" "serve says what to do after LMDB's crash"

# A crash of pledged's own, in a library routine it called (getopt_long,
# replaced by one that faults), is a bug: not taken for damage.
cat >"$work/fault.c" <<'C'
int getopt_long(void) { *(volatile int *)0 = 1; return -1; }
C
if ${CC:-cc} -shared -fPIC -o "$work/fault.so" "$work/fault.c" 2>"$work/err"; then
	timeout 60 env ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" LD_PRELOAD="$work/fault.so" \
		"$PLEDGED" verify --data "$work/good" >"$work/out" 2>"$work/err"
	rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 3 ] && ok || fail "a crash of pledged's own: exit $rc, want a crash"
	! grep -q "data dir is damaged" "$work/err" && ok || fail "a crash of pledged's own was taken for damage"
else
	fail "cannot build the faulting library: $(head -2 "$work/err")"
fi

# An erasure that meets a damaged entry of the supporter's (entry 2 is
# sup-0763's pledge) writes nothing and says the data dir is damaged.
rm -rf "$work/erase" && cp -r "$work/good" "$work/erase"
read -r _ at len < <(sed -n 2p "$work/entries")
flip "$work/erase/data.mdb" $((at + len / 2))
echo '{"v":1,"type":"supporter.forgotten","id":"forget-1","at":1579000000000,"supporter":"sup-0763"}' \
	>"$work/forget.jsonl"
expect 3 "an erasure meeting a damaged entry" -- "$PLEDGED" import --data "$work/erase" <"$work/forget.jsonl"
contains "$work/err" "line 1 was not written" "import says the erasure was not written"
contains "$work/err" "restore it from a backup" "import says what to do"

# A data.mdb cut short: refused at open, with a message, never a SIGBUS.
cp -r "$work/good" "$work/short"
truncate -s $((size / 2)) "$work/short/data.mdb"
expect 3 "verify of a cut-short file" -- "$PLEDGED" verify --data "$work/short"
contains "$work/err" "shorter than its own metadata" "the message says the file is cut short"
expect 3 "dump of a cut-short file" -- "$PLEDGED" dump --data "$work/short"
expect 3 "serve --read-only on a cut-short file" -- timeout 10 "$PLEDGED" serve --read-only \
	--data "$work/short" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0

# Cut to nothing, or deleted beside its lock.mdb: every command refuses it
# rather than starting a fresh, empty log over it.
for how in empty deleted; do
	rm -rf "$work/$how" && cp -r "$work/good" "$work/$how"
	if [ $how = empty ]; then : >"$work/$how/data.mdb"; else rm "$work/$how/data.mdb"; fi
	for cmd in verify dump rejections "replay --dry-run" replay compact upgrade; do
		# shellcheck disable=SC2086
		expect 3 "$cmd of a $how data.mdb" -- "$PLEDGED" $cmd --data "$work/$how"
		contains "$work/err" "missing beside its lock.mdb or pledged.dir" "$cmd says the log was cut short"
	done
	expect 3 "import into a $how data.mdb" -- "$PLEDGED" import --data "$work/$how" <"$DEMO"
	expect 3 "serve on a $how data.mdb" -- timeout 10 "$PLEDGED" serve --data "$work/$how" \
		--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
	[ ! -s "$work/$how/data.mdb" ] && ok || fail "a fresh log was made over the $how data.mdb"
done
# Deleted where lock.mdb went too (as after a compact): pledged.dir remembers.
rm -rf "$work/gone" && cp -r "$work/good" "$work/gone" && rm "$work/gone/data.mdb" "$work/gone/lock.mdb"
expect 3 "import where data.mdb and lock.mdb were deleted" -- "$PLEDGED" import --data "$work/gone" <"$DEMO"
contains "$work/err" "missing beside its lock.mdb" "import says the log is gone"
# A creation cut short leaves its marker: the next start begins it again.
mkdir "$work/born" && : >"$work/born/creating" && : >"$work/born/lock.mdb" && : >"$work/born/data.mdb"
expect 0 "import into a data dir whose creation was cut short" -- "$PLEDGED" import --data "$work/born" <"$DEMO"
[ ! -e "$work/born/creating" ] && ok || fail "the birth marker outlived the creation"
expect 0 "verify after the creation was begun again" -- "$PLEDGED" verify --data "$work/born"
# Cut short after the layout was written, before the marker went: readers
# find nothing there yet, the next writer begins it again.
# (pledged.dir comes only after the birth marker is gone.)
"$PLEDGED" import --data "$work/laid" </dev/null 2>/dev/null && : >"$work/laid/creating" &&
	rm "$work/laid/pledged.dir"
expect 3 "dump of a data dir still being created" -- "$PLEDGED" dump --data "$work/laid"
contains "$work/err" "no pledged data here" "dump says there is nothing yet"
expect 0 "import into it" -- "$PLEDGED" import --data "$work/laid" <"$DEMO"
[ ! -e "$work/laid/creating" ] && ok || fail "the birth marker outlived the second creation"
expect 0 "verify after that" -- "$PLEDGED" verify --data "$work/laid"
contains "$work/out" "2059 entries" "the second creation holds the demo"
# A stray birth marker beside a store that holds a log: refused, never a
# fresh store over the log, with or without pledged.dir.
for held in kept removed; do
	rm -rf "$work/stray" && cp -r "$work/good" "$work/stray" && : >"$work/stray/creating"
	[ "$held" = removed ] && rm "$work/stray/pledged.dir"
	expect 3 "import beside a stray birth marker (pledged.dir $held)" -- \
		"$PLEDGED" import --data "$work/stray" </dev/null
	expect 3 "serve beside a stray birth marker (pledged.dir $held)" -- timeout 10 \
		"$PLEDGED" serve --data "$work/stray" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
	rm "$work/stray/creating"
	expect 0 "the log is still there (pledged.dir $held)" -- "$PLEDGED" verify --data "$work/stray"
done

# serve on a list of tables whose root names another page: its check of
# LMDB's pages at start finds it, and nothing is written (a write would copy
# the root and free the page its header names, one still in use): /healthz
# says the data dir is damaged, and a published event stays unwritten.
rm -rf "$work/watch" && cp -r "$work/good" "$work/watch"
root=$(python3 - "$work/watch/data.mdb" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
ps = 4096
u64 = lambda o: struct.unpack_from('<Q', d, o)[0]
newest = max((u64(m * ps + 144), m) for m in (0, 1))[1]
root = u64(newest * ps + 128)
struct.pack_into('<Q', d, root * ps, root ^ 0x40)
open(sys.argv[1], 'r+b').write(d)
print(root)
PY
)
"$PLEDGED" serve --data "$work/watch" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/watch.log" &
watch_pid=$!
admin=$(admin_port "$work/watch.log")
[ -n "$admin" ] && ok || fail "serve did not start on damaged pages: $(tail -n 3 "$work/watch.log")"
poll_health() { # poll_health PATTERN: /healthz until it matches, 15 s at most
	for _ in $(seq 150); do
		curl -s --max-time 5 "http://127.0.0.1:$admin/healthz" >"$work/health"
		grep -q "$1" "$work/health" && return
		sleep 0.1
	done
}
# Said at once, before any event comes to fail a write.
poll_health 'the data dir is damaged'
contains "$work/health" "the data dir is damaged" "/healthz says the data dir is damaged"
contains "$work/health" '"store_writable":false' "/healthz says the store is not writable"
contains "$work/watch.log" "the data dir is damaged: LMDB's list of tables: page $root does not name itself" \
	"serve's log names the page"
# Nor is anything read from it: LMDB would follow the damaged page, and a
# read that faults would end serve. What would read it is 503; serve stays.
public=$(serve_port "$work/watch.log")
for path in /v1/campaigns /v1/campaigns/jess-phillips-for-labour-leader/history?interval=day /; do
	code=$(curl -s --max-time 5 -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$public$path")
	[ "$code" = 503 ] && ok || fail "GET $path on damaged pages: $code, want 503"
	contains "$work/body" "the data dir is damaged" "GET $path says the data dir is damaged"
done
code=$(curl -s --max-time 5 -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$admin/readyz")
[ "$code" = 503 ] && ok || fail "/readyz on damaged pages: $code, want 503"
contains "$work/body" "the data dir is damaged" "/readyz says the data dir is damaged"
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/metrics")
[ "$code" = 200 ] && ok || fail "/metrics on damaged pages: $code, want 200"
kill -0 "$watch_pid" && ok || fail "serve ended answering on damaged pages: $(tail -n 2 "$work/watch.log")"
for _ in $(seq 150); do # the embedded broker's address is written after HTTP listens
	grep -q 'consuming topic' "$work/watch.log" && break
	sleep 0.1
done
expect 0 "publish to serve on damaged pages" -- "$PLEDGED" publish --data "$work/watch" <"$work/one.jsonl"
poll_health '"lag":1\|"seq":2060' # the event reached serve, or was written
contains "$work/health" '"lag":1' "the event reached serve"
contains "$work/health" '"seq":2059' "serve wrote nothing on damaged pages"
kill "$watch_pid" && wait "$watch_pid"
expect 1 "verify after serve on damaged pages" -- "$PLEDGED" verify --data "$work/watch"
contains "$work/out" "DAMAGED: LMDB's list of tables: page $root does not name itself" \
	"the damage did not spread"
# A read-only serve checks the pages too, and reads nothing damaged.
"$PLEDGED" serve --read-only --data "$work/watch" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
	2>"$work/watch-ro.log" &
watch_pid=$!
admin=$(admin_port "$work/watch-ro.log")
public=$(serve_port "$work/watch-ro.log")
poll_health 'the data dir is damaged'
contains "$work/health" "the data dir is damaged" "/healthz of a read-only serve says the data dir is damaged"
code=$(curl -s --max-time 5 -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$public/v1/campaigns")
[ "$code" = 503 ] && ok || fail "GET /v1/campaigns of a read-only serve on damaged pages: $code, want 503"
kill -0 "$watch_pid" && ok || fail "serve --read-only ended on damaged pages: $(tail -n 2 "$work/watch-ro.log")"
kill "$watch_pid" && wait "$watch_pid"

# Cut short under a running serve: the first read past the end.
cp -r "$work/good" "$work/cut"
"$PLEDGED" serve --read-only --data "$work/cut" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/cut.log" &
cut_pid=$!
port=$(serve_port "$work/cut.log")
[ -n "$port" ] && ok || fail "serve --read-only did not start: $(cat "$work/cut.log")"
truncate -s 8192 "$work/cut/data.mdb" # the two meta pages only
curl -s --max-time 5 "http://127.0.0.1:$port/v1/campaigns" >/dev/null
wait "$cut_pid"
rc=$?
[ "$rc" = 3 ] && ok || fail "serve on a file cut under it: exit $rc, want 3 ($(tail -n 3 "$work/cut.log"))"
contains "$work/cut.log" "ends before a page it refers to" "serve says the file was cut short"

# A backup that runs out of space leaves nothing.
mkdir "$work/full"
if mount -t tmpfs -o size=256k tmpfs "$work/full" 2>/dev/null; then
	# What a compacted copy of good takes with the lock file its check
	# makes, and so what a copy onto no room needs.
	"$PLEDGED" backup --data "$work/good" --to "$work/sized" 2>/dev/null
	need=$((($(stat -c %s "$work/sized/data.mdb") + $(stat -c %s "$work/sized/lock.mdb") + 1023) / 1024))
	expect 3 "backup onto a full file system" -- "$PLEDGED" backup --data "$work/good" --to "$work/full/copy"
	contains "$work/err" "nothing was kept" "it says nothing was kept"
	contains "$work/err" "no room for the copy on the file system of --to '$work/full/copy': it needs $need KiB, and 256 KiB was free" \
		"backup says how much it needs and had"
	! grep -q partial "$work/err" && ok || fail "backup names its partial copy: $(cat "$work/err")"
	[ -z "$(ls -A "$work/full")" ] && ok || fail "a failed backup left $(ls -A "$work/full")"
	# A scratch data dir with no room: named, and nothing left behind (LMDB
	# would die of SIGBUS writing its new lock file through a mapping).
	dd if=/dev/zero of="$work/full/filler" bs=4k 2>/dev/null
	expect 3 "verify with a full scratch dir" -- "$PLEDGED" verify --data "$work/good" --scratch "$work/full"
	contains "$work/err" "no space left on device in the scratch data dir it replays into, in $work/full" "verify names the scratch dir"
	expect 3 "a dry run with a full scratch dir" -- env TMPDIR="$work/full" "$PLEDGED" replay --data "$work/good" --dry-run
	contains "$work/err" "replays into, in $work/full" "replay names the scratch dir"
	[ "$(ls -A "$work/full")" = filler ] && ok || fail "a full scratch dir left $(ls -A "$work/full")"
	expect 3 "import into a new data dir with no room" -- "$PLEDGED" import --data "$work/full/new" <"$DEMO"
	contains "$work/err" "no space left on device" "import says there is no room"
	rm -rf "$work/full/new"
	rm -f "$work/full/filler"
	# A reader makes lock.mdb too (after a compact there is none): no room is
	# an error, not a SIGBUS taken for damage.
	mkdir "$work/fit"
	mount -t tmpfs -o size=$((size + 8192)) tmpfs "$work/fit"
	mkdir "$work/fit/copy" && cp "$work/good/data.mdb" "$work/fit/copy/"
	dd if=/dev/zero of="$work/fit/filler" bs=4k 2>/dev/null
	expect 3 "dump with no room for a lock file" -- "$PLEDGED" dump --data "$work/fit/copy"
	contains "$work/err" "no space left on device" "dump says there is no room"
	umount "$work/fit"
	# A compact with room for the data dir and its lock file, not the copy.
	mount -t tmpfs -o size=$((size + (320 << 10))) tmpfs "$work/fit"
	mkdir "$work/fit/d" && cp "$work/good/data.mdb" "$work/good/pledged.dir" "$work/fit/d/"
	expect 3 "compact with no room for its copy" -- "$PLEDGED" compact --data "$work/fit/d"
	contains "$work/err" "no room for the compacted copy on the file system of data dir '$work/fit/d': it needs $need KiB" \
		"compact says how much it needs"
	contains "$work/err" "the data dir is unchanged" "compact says the data dir is unchanged"
	! grep -q compact.tmp "$work/err" && ok || fail "compact names its copy: $(cat "$work/err")"
	[ ! -e "$work/fit/d/compact.tmp" ] && ok || fail "compact left its copy with no room"
	expect 0 "verify after a compact with no room" -- "$PLEDGED" verify --data "$work/fit/d"
	umount "$work/fit"
	# Room for the copy, but no inode left for its directory: no damage to verify.
	mount -t tmpfs -o size=$((size * 3)),nr_inodes=64 tmpfs "$work/fit"
	cp -r "$work/good" "$work/fit/d"
	"$PLEDGED" compact --data "$work/fit/d" 2>/dev/null # makes its lock files
	i=0
	while touch "$work/fit/i$i" 2>/dev/null; do i=$((i + 1)); done
	rm "$work/fit/i0" # one, for the lock.mdb that opening the data dir makes
	expect 3 "compact with no inode for its copy" -- "$PLEDGED" compact --data "$work/fit/d"
	contains "$work/err" "no room for the compacted copy on the file system of data dir '$work/fit/d': its" \
		"compact says there is no room"
	contains "$work/err" "inodes ran out" "compact says what ran out"
	umount "$work/fit"
	umount "$work/full"
else
	echo "test_damage: cannot mount a tmpfs (not root?): the full-disk backup is not tested" >&2
fi
finish
