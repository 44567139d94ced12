#!/bin/sh
# test_cli.sh — the offline commands as an operator runs them: help, bad
# flags, refused data dirs, import, dump, rejections, point-in-time replay,
# and verify catching a projection changed behind pledged's back; the
# reading commands on a read-only mount (as root; skipped otherwise).
# Usage: test_cli.sh PLEDGED DEMO.jsonl DAMAGE_PAGE GROW_ENV BEFORE_COPY
set -u
# Run under nohup, SIGHUP is ignored from the start, pledged keeps it so
# (as nohup asks) and no shell can trap it again: the hangups below need
# it at its default, as a terminal has it.
if [ $((0x$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status) & 1)) = 1 ]; then
	exec env --default-signal=HUP sh "$0" "$@"
fi
PLEDGED=$1
DEMO=$2
DAMAGE_PAGE=$3
GROW_ENV=$4
BEFORE_COPY=$5
work=$(mktemp -d)
trap 'umount "$work/ro" "$work/mnt" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/testlib.sh"

expect 0 "top-level help" -- "$PLEDGED" --help
contains "$work/out" "replay" "help lists replay"
expect 2 "no command" -- "$PLEDGED"
expect 2 "unknown command" -- "$PLEDGED" frobnicate
for cmd in replay dump verify rejections import backup publish forget compact; do
	expect 0 "$cmd --help" -- "$PLEDGED" $cmd --help
	contains "$work/out" "Usage: pledged $cmd" "$cmd help text"
	expect 2 "$cmd with a bad flag" -- "$PLEDGED" $cmd --no-such-flag
	expect 2 "$cmd with a stray argument" -- "$PLEDGED" $cmd stray
done
for cmd in replay dump verify rejections; do
	expect 3 "$cmd on a missing data dir" -- "$PLEDGED" $cmd --data "$work/missing"
	contains "$work/err" "no pledged data here" "$cmd explains a missing dir"
done
expect 3 "compact on a missing data dir" -- "$PLEDGED" compact --data "$work/missing"
[ ! -e "$work/missing" ] && ok || fail "compact made a data dir"
expect 2 "forget without a supporter" -- "$PLEDGED" forget --brokers 127.0.0.1:1
contains "$work/err" "--supporter is required" "forget says what is missing"
expect 2 "forget of a 65-byte supporter id" -- "$PLEDGED" forget --brokers 127.0.0.1:1 \
	--supporter "$(printf 's%.0s' $(seq 65))"
contains "$work/err" "field 'supporter' has 65 bytes, at most 64 allowed" "forget checks the id as serve would"
expect 2 "forget with a long --by" -- "$PLEDGED" forget --brokers 127.0.0.1:1 --supporter s \
	--by "$(printf 'b%.0s' $(seq 201))"
expect 3 "forget without brokers or a serve" -- "$PLEDGED" forget --data "$work/missing" --supporter s
contains "$work/err" "no --brokers given" "forget says where it looked for a broker"
expect 1 "forget to an unreachable broker" -- "$PLEDGED" forget --brokers 127.0.0.1:1 --supporter s \
	--kafka message.timeout.ms=1000 --kafka socket.timeout.ms=1000
contains "$work/err" "run it again with --id" "forget says how to retry"
# stdin that cannot be read is said, not taken for an empty input.
expect 1 "import from a directory" -- sh -c 'exec "$0" import --data "$1" </' "$PLEDGED" "$work/unread"
contains "$work/err" "cannot read stdin after line 0: Is a directory" "import says why it read nothing"
expect 1 "import with stdin closed" -- sh -c 'exec "$0" import --data "$1" <&-' "$PLEDGED" "$work/unread"
contains "$work/err" "cannot read stdin: Bad file descriptor" "import says stdin is closed"
# A line too long to be an event is skipped, said at once, without
# holding it: an input with no line end (/dev/zero) would fill the memory.
{ head -c 2000000 /dev/zero | tr '\0' 'x'; echo; head -n 1 "$DEMO"; } >"$work/long.jsonl"
expect 1 "import of a line longer than any event" -- "$PLEDGED" import --data "$work/long" <"$work/long.jsonl"
contains "$work/err" "line 1 skipped: longer than 1 MiB, which no event is" "import names the long line"
contains "$work/err" "1 applied" "import goes on after the long line"
for cmd in "import --data $work/zero" "publish --brokers 127.0.0.1:1"; do
	"$PLEDGED" $cmd </dev/zero 2>"$work/zero.err" &
	zpid=$!
	for _ in $(seq 200); do
		grep -q "line 1 skipped" "$work/zero.err" && break
		sleep 0.05
	done
	contains "$work/zero.err" "line 1 skipped: longer than 1 MiB" "${cmd%% *} says at once that an endless line is too long"
	rss1=$(awk '/^VmRSS/ {print $2}' "/proc/$zpid/status")
	sleep 1
	rss2=$(awk '/^VmRSS/ {print $2}' "/proc/$zpid/status")
	[ "$((rss2 - rss1))" -lt 8192 ] && ok || fail "${cmd%% *}'s memory grows on an endless line: $rss1 -> $rss2 KiB"
	kill "$zpid"
	wait "$zpid" 2>/dev/null
done
# A file saved with a byte order mark and CRLF line ends (a Windows
# editor's): its first line, the campaign.opened, is read too, and the
# pledges after it are not refused for want of the campaign. A line of
# blanks among them is skipped as an empty one is.
{ printf '\357\273\277'; head -n 3 "$DEMO" | sed 's/$/\r/; 1a\
 \t \r'; } >"$work/bom.jsonl"
expect 0 "import of a file with a byte order mark" -- "$PLEDGED" import --data "$work/bom" <"$work/bom.jsonl"
contains "$work/err" "3 applied, 0 rejected" "the first line after the mark is applied"
expect 1 "publish of a file with a byte order mark" -- "$PLEDGED" publish --brokers 127.0.0.1:1 \
	--kafka message.timeout.ms=1000 <"$work/bom.jsonl"
contains "$work/err" "line 1: not delivered" "publish sends the first line after the mark"
expect 1 "publish from a directory" -- sh -c 'exec "$0" publish --brokers 127.0.0.1:1 </' "$PLEDGED"
contains "$work/err" "cannot read stdin after line 0" "publish says why it read nothing"
expect 1 "publish with stdin closed" -- sh -c 'exec "$0" publish --brokers 127.0.0.1:1 <&-' "$PLEDGED"
expect 2 "replay with a bad sequence" -- "$PLEDGED" replay --data "$work/d" --until-seq x
expect 2 "replay with a bad time" -- "$PLEDGED" replay --data "$work/d" --until-time yesterday
expect 2 "replay with a day that does not exist" -- "$PLEDGED" replay --data "$work/d" --until-time 2020-02-30 --dry-run
expect 2 "replay with two cuts" -- "$PLEDGED" replay --data "$work/d" --until-seq 5 --until-time 2020-01-10 --dry-run
expect 2 "replay with a zero rate" -- "$PLEDGED" replay --data "$work/d" --max-rate 0
expect 2 "a rate on a dry run" -- "$PLEDGED" replay --data "$work/d" --dry-run --max-rate 10
expect 2 "replay with a bad --at-once" -- "$PLEDGED" replay --data "$work/d" --at-once -1
expect 2 "--at-once on a dry run" -- "$PLEDGED" replay --data "$work/d" --dry-run --at-once 10
expect 2 "--at-once with a rate" -- "$PLEDGED" replay --data "$work/d" --max-rate 10 --at-once 10
expect 2 "verify with an empty --scratch" -- "$PLEDGED" verify --data "$work/d" --scratch ""
expect 2 "rejections with an unknown reason" -- "$PLEDGED" rejections --reason nope
expect 2 "dump with a bad --from" -- "$PLEDGED" dump --from -1
expect 2 "dump with --from and no value" -- "$PLEDGED" dump --from
contains "$work/err" "pledged dump: option '--from' requires an argument" "a missing value is named as such"
if grep -q "unknown option" "$work/err"; then fail "a missing value called an unknown option"; else ok; fi
expect 2 "serve with a size too large" -- "$PLEDGED" serve --map-size 9T
contains "$work/err" "pledged serve: 'map-size' wants a size like 65536, 64M or 1G, not '9T'" "the setting named once"
expect 2 "serve with a batch out of range" -- "$PLEDGED" serve --batch-max 0
contains "$work/err" "pledged serve: 'batch-max' wants 1..100000, not '0'" "a range error names the flag and the value"
# --config read as getopt reads it, abbreviated or with '=': a file left
# unread would leave serve on the embedded broker, publish without brokers.
printf 'brokers = 127.0.0.1:1\ntopic = no way\n' >"$work/bad-topic.conf"
for cmd in "serve --check-config --conf" "publish --config=" "publish --conf=" "forget --supporter s --conf"; do
	case $cmd in *=) args="$cmd$work/bad-topic.conf" ;; *) args="$cmd $work/bad-topic.conf" ;; esac
	expect 2 "${cmd%% *} given the config file as '${cmd##* }'" -- "$PLEDGED" $args </dev/null
	contains "$work/err" "topic 'no way' has a character Kafka does not allow" "${cmd%% *} read the file given as '${cmd##* }'"
done
expect 2 "an abbreviation that fits two options" -- "$PLEDGED" replay --until 5
contains "$work/err" "pledged replay: option '--until' is ambiguous" "an ambiguous option is named as such"

mkdir "$work/foreign" && echo "precious" >"$work/foreign/data.mdb"
expect 3 "verify on a foreign dir" -- "$PLEDGED" verify --data "$work/foreign"
contains "$work/err" "damaged" "a non-LMDB data.mdb is called damaged"
contains "$work/foreign/data.mdb" "precious" "the foreign file is left alone"
# Commands that take a data dir's locks leave nothing in a directory that holds no store.
mkdir "$work/notes" && echo "mine" >"$work/notes/notes.txt"
for cmd in compact upgrade replay; do
	expect 3 "$cmd on a directory of other files" -- "$PLEDGED" $cmd --data "$work/notes"
	contains "$work/err" "no pledged data here" "$cmd says there is no data dir"
done
for cmd in dump verify rejections backup compact upgrade replay import; do
	to=; [ "$cmd" = backup ] && to="--to=$work/never"
	expect 2 "$cmd with an empty --data" -- "$PLEDGED" $cmd --data= $to </dev/null
	contains "$work/err" "data must not be empty" "$cmd says --data is empty"
done
echo "mine" >"$work/afile"
for cmd in compact upgrade replay import serve; do
	expect 3 "$cmd on a file" -- "$PLEDGED" $cmd --data "$work/afile" </dev/null
	contains "$work/err" "not a pledged data directory" "$cmd says a file is not a data dir"
done
expect 3 "compact with no data dir" -- "$PLEDGED" compact --data "$work/none"
contains "$work/err" "cannot open data dir" "compact names the data dir, not its lock file"

# compact holds the data dir's own lock exclusively until its copy has
# replaced data.mdb (a process opening the dir in between would read the
# old file, deleted, for good); every other opener holds it shared. Held
# here by this shell, on descriptor 9, as a compact would hold it.
if command -v flock >/dev/null; then
	"$PLEDGED" import --data "$work/locked" <"$DEMO" >/dev/null 2>&1
	exec 9<"$work/locked"
	flock -x -n 9 && ok || fail "cannot lock the data dir for the test"
	for cmd in verify dump "serve --read-only --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0"; do
		expect 3 "$cmd while compact rewrites the data dir" -- timeout 10 "$PLEDGED" $cmd --data "$work/locked"
		contains "$work/err" "'pledged compact' is rewriting it" "$cmd says compact is rewriting the dir"
	done
	flock -u 9
	flock -s -n 9 && ok || fail "cannot share the data dir's lock for the test"
	expect 3 "compact while another process has the data dir open" -- "$PLEDGED" compact --data "$work/locked"
	contains "$work/err" "another pledged process has data dir" "compact says the dir is open"
	exec 9<&-
	echo "mine" >"$work/locked/compact.tmp"
	expect 3 "compact with a file in the way of its copy" -- "$PLEDGED" compact --data "$work/locked"
	contains "$work/err" "compact.tmp' is in the way" "compact names the file in its way"
	rm "$work/locked/compact.tmp"
	# Neither rewrites a data dir beside a rebuild: its lock held here as
	# `pledged replay` holds it.
	exec 8>>"$work/locked/rebuild.lock"
	flock -x -n 8 && ok || fail "cannot take the rebuild's lock for the test"
	for cmd in compact upgrade; do
		expect 3 "$cmd while a rebuild runs" -- "$PLEDGED" $cmd --data "$work/locked"
		contains "$work/err" "a rebuild is already running" "$cmd says a rebuild runs"
	done
	exec 8>&-
	expect 0 "compact once the dir is free" -- "$PLEDGED" compact --data "$work/locked"
	expect 0 "verify after compact" -- "$PLEDGED" verify --data "$work/locked"
else
	echo "test_cli: flock(1) missing; the data dir's lock is not checked" >&2
fi
# What an erasure overwrote is in no page of a compacted data dir, nor of a
# backup, even where LMDB's copy carried a page's stale bytes along: here a
# comment's text lay in a buffer LMDB reused for a one-page value that does
# not fill its page (the text was found past that value's end).
cat >"$work/secret.jsonl" <<'EOF'
{"v":1,"type":"campaign.opened","id":"o1","at":1578000000000,"campaign":"c1","title":"T","owner":"o","currency":"GBP"}
{"v":1,"type":"pledge.created","id":"p1","at":1578000001000,"campaign":"c1","pledge":"pl1","supporter":"zed","amount":100,"currency":"GBP","name":"ZedSecretname"}
{"v":1,"type":"comment.posted","id":"k1","at":1578000002000,"campaign":"c1","comment":"cm1","supporter":"zed","text":"SECRETXYZTEXT","name":"ZedSecretname"}
EOF
echo '{"v":1,"type":"supporter.forgotten","id":"f1","at":1578000009000,"supporter":"zed"}' >"$work/forget-zed.jsonl"
for input in secret.jsonl "$DEMO" forget-zed.jsonl; do
	case $input in /*) ;; *) input=$work/$input ;; esac
	expect 0 "import $(basename "$input") into the data dir to erase from" -- \
		"$PLEDGED" import --data "$work/erased" <"$input"
done
expect 0 "backup after the erasure" -- "$PLEDGED" backup --data "$work/erased" --to "$work/erased-backup"
expect 0 "compact after the erasure" -- "$PLEDGED" compact --data "$work/erased"
expect 0 "verify after compact" -- "$PLEDGED" verify --data "$work/erased"
for f in "$work/erased/data.mdb" "$work/erased-backup/data.mdb"; do
	for secret in SECRETXYZTEXT ZedSecretname; do
		grep -q -a "$secret" "$f" && fail "'$secret' is still in $f" || ok
	done
done

# A data dir its user may enter and write but not list: compact cannot take
# the directory's lock there, and refuses rather than rewrite it unlocked.
# As root, the user is nobody (root reads any directory).
mkdir "$work/unlisted" && chmod 0711 "$work"
"$PLEDGED" import --data "$work/unlisted/dir" <"$DEMO" >/dev/null 2>&1
as_owner=
if [ "$(id -u)" = 0 ]; then
	chown -R 65534:65534 "$work/unlisted"
	as_owner="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
chmod 0300 "$work/unlisted/dir"
cp "$work/unlisted/dir/data.mdb" "$work/unlisted.before" 2>/dev/null
expect 3 "compact of a data dir it may not list" -- $as_owner "$PLEDGED" compact --data "$work/unlisted/dir"
contains "$work/err" "not readable by this user" "compact says why it cannot lock the dir"
cmp -s "$work/unlisted/dir/data.mdb" "$work/unlisted.before" && ok || fail "compact rewrote a dir it could not lock"
chmod 0700 "$work/unlisted/dir" "$work"
# Root compacts a service user's data dir (docs/operations.md, section 9):
# the new data.mdb keeps that user's owner and mode, or serve, as that
# user, could not open its data dir again. So with the lock files root makes.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir "$work/service" && "$PLEDGED" import --data "$work/service/dir" <"$DEMO" >/dev/null 2>&1
	chmod 0711 "$work"
	chown -R 65534:65534 "$work/service"
	chmod 0600 "$work/service/dir/data.mdb"
	expect 0 "compact as root of another user's data dir" -- "$PLEDGED" compact --data "$work/service/dir"
	owner=$(stat -c %u:%g:%a "$work/service/dir/data.mdb")
	[ "$owner" = 65534:65534:600 ] && ok || fail "compact as root left data.mdb as $owner, not 65534:65534:600"
	expect 0 "verify as the owner after root's compact" -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$PLEDGED" verify --data "$work/service/dir"
	# The lock files root makes there are the owner's too (a format-1 data
	# dir had none): serve and replay open them for writing.
	rm "$work/service/dir/writer.lock" "$work/service/dir/rebuild.lock"
	expect 0 "upgrade as root of another user's data dir" -- "$PLEDGED" upgrade --data "$work/service/dir"
	expect 0 "replay as root of another user's data dir" -- "$PLEDGED" replay --data "$work/service/dir"
	for f in writer.lock rebuild.lock; do
		owner=$(stat -c %u:%g "$work/service/dir/$f")
		[ "$owner" = 65534:65534 ] && ok || fail "root's upgrade and replay left $f as $owner"
	done
	expect 0 "replay as the owner after root's" -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$PLEDGED" replay --data "$work/service/dir"
	chmod 0700 "$work"
fi
if [ "$(ls -A "$work/notes")" = "notes.txt" ]; then ok; else fail "locks left in a directory with no store: $(ls -A "$work/notes")"; fi

# Import the demo plus two bad lines: one not JSON, one rejected by the rules.
{ cat "$DEMO"; echo 'not json'; echo '{"v":1,"type":"comment.posted","id":"x1","at":1579803100000,"campaign":"jess-phillips-for-labour-leader","comment":"x","supporter":"stranger","text":"hi"}'; } >"$work/in.jsonl"
expect 1 "import reports the non-JSON line" -- "$PLEDGED" import --data "$work/d" <"$work/in.jsonl"
contains "$work/err" "line 2060 skipped" "import names the bad line"
contains "$work/err" "2059 applied, 1 rejected" "import summary"

# Scratch dirs that cannot be made:
# each says what to do.
expect 3 "verify with a scratch dir that does not exist" -- "$PLEDGED" verify --data "$work/d" --scratch "$work/nowhere/x"
contains "$work/err" "give --scratch DIR" "verify says to give --scratch"
expect 3 "a dry run with a TMPDIR that does not exist" -- env TMPDIR="$work/nowhere" "$PLEDGED" replay --data "$work/d" --dry-run
contains "$work/err" "set TMPDIR" "replay says to set TMPDIR"
expect 0 "import again: all duplicates" -- "$PLEDGED" import --data "$work/d" <"$DEMO"
contains "$work/err" "0 applied, 0 rejected, 2059 duplicates" "re-import is idempotent"
# Again with the rejected line (a rerun after a kill): it is not kept twice,
# while a line rejected for the first time is kept.
expect 1 "import the rejected line again" -- "$PLEDGED" import --data "$work/d" <"$work/in.jsonl"
contains "$work/err" "0 applied, 0 rejected, 2060 duplicates" "the rejected line counts as a duplicate"
sed 's/"id":"x1"/"id":"x2"/' "$work/in.jsonl" | tail -n 1 >"$work/x2.jsonl"
expect 0 "import a new rejected line" -- "$PLEDGED" import --data "$work/d" <"$work/x2.jsonl"
contains "$work/err" "0 applied, 1 rejected, 0 duplicates" "a new rejected line is kept"
"$PLEDGED" rejections --data "$work/d" >"$work/rejections.out" 2>/dev/null
[ "$(grep -c not_a_backer "$work/rejections.out")" = 2 ] && ok ||
	fail "two rejections kept, not $(grep -c not_a_backer "$work/rejections.out")"

# The same rejected line twice in one import is kept once, whether the two
# are in one batch, in two, or in a batch decided twice (an erasure in it
# makes ingest decide it again inside the write transaction); a rerun keeps
# nothing more. So a rerun after a kill between the two ends as one
# uninterrupted import does.
stranger=$(tail -n 1 "$work/in.jsonl" | sed 's/"id":"x1"/"id":"x3"/')
forget='{"v":1,"type":"supporter.forgotten","id":"f9","at":1579803200000,"supporter":"nobody-at-all"}'
printf '%s\n%s\n' "$stranger" "$stranger" >"$work/twice.jsonl"
printf '%s\n%s\n%s\n' "$stranger" "$stranger" "$forget" >"$work/twice-erasure.jsonl"
twice() { # what, file, batch size
	kind=$1 file=$2 opts="--batch $3"
	rm -rf "$work/t"
	expect 0 "the same rejected line twice ($kind)" -- "$PLEDGED" import --data "$work/t" $opts <"$work/$file"
	contains "$work/err" " 1 rejected, 1 duplicates" "the second is a duplicate ($kind)"
	expect 0 "the same file again ($kind)" -- "$PLEDGED" import --data "$work/t" $opts <"$work/$file"
	contains "$work/err" " 0 rejected, $(wc -l <"$work/$file") duplicates" "a rerun keeps nothing more ($kind)"
	"$PLEDGED" rejections --data "$work/t" >"$work/t.out" 2>/dev/null
	[ "$(grep -c '"reason":"unknown_campaign"' "$work/t.out")" = 1 ] && ok ||
		fail "one rejection kept ($kind): $(cat "$work/t.out")"
}
twice "one batch" twice.jsonl 1000
twice "two batches" twice.jsonl 1
twice "decided twice" twice-erasure.jsonl 1000
# Many batches' rejections merged into what is known: each one found again.
for i in $(seq 300); do echo "$stranger" | sed "s/\"id\":\"x3\"/\"id\":\"many$i\"/"; done >"$work/many.jsonl"
cat "$work/many.jsonl" "$work/many.jsonl" >"$work/many-twice.jsonl"
rm -rf "$work/t"
expect 0 "300 rejected lines twice, 7 a batch" -- "$PLEDGED" import --data "$work/t" --batch 7 <"$work/many-twice.jsonl"
contains "$work/err" " 300 rejected, 300 duplicates" "every line's second time is a duplicate"

# A damaged rejection: the newer ones are printed, and the damaged one is
# placed and the way on named (exit 3).
rm -rf "$work/rj"
for i in 1 2 3; do
	echo "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"rj$i\",\"at\":1579803100000,\"campaign\":\"none\",\"comment\":\"k$i\",\"supporter\":\"s\",\"text\":\"rejected-text-$i\"}"
done >"$work/rj.jsonl"
"$PLEDGED" import --data "$work/rj" <"$work/rj.jsonl" 2>/dev/null
off=$(grep -obUa "rejected-text-2" "$work/rj/data.mdb" | head -n 1 | cut -d: -f1)
printf 'Z' | dd of="$work/rj/data.mdb" bs=1 seek="$off" conv=notrunc 2>/dev/null
expect 3 "rejections with a damaged one" -- "$PLEDGED" rejections --data "$work/rj"
contains "$work/out" '"event_id":"rj3"' "the newer rejection is printed"
contains "$work/err" "rejection 2 is damaged (checksum mismatch)" "the damaged one is named"
contains "$work/err" "run 'pledged verify'" "and the way on named"
expect 0 "rejections up to the damaged one" -- "$PLEDGED" rejections --data "$work/rj" --limit 1

# A line rejected once stays rejected when the same file is imported
# again, though the state it was judged against has changed since (the
# comment's author backs the campaign now): applying it would put it in
# the log out of order, or bring back what an erasure removed.
c1='"campaign":"c1"'
cat >"$work/judged.jsonl" <<JSON
{"v":1,"type":"campaign.opened","id":"o1","at":1704067200000,$c1,"title":"T","owner":"O","currency":"GBP"}
{"v":1,"type":"comment.posted","id":"m1","at":1704070000000,$c1,"supporter":"s1","comment":"cm1","text":"Early-Text"}
{"v":1,"type":"comment.removed","id":"r1","at":1704071000000,$c1,"comment":"cm2"}
{"v":1,"type":"pledge.created","id":"p1","at":1704080000000,$c1,"currency":"GBP","pledge":"pl1","supporter":"s1","amount":100}
{"v":1,"type":"comment.posted","id":"m2","at":1704085000000,$c1,"supporter":"s1","comment":"cm2","text":"Later-Text"}
JSON
for erased in no yes; do
	rm -rf "$work/j"
	{ cat "$work/judged.jsonl"; [ "$erased" = yes ] &&
		echo '{"v":1,"type":"supporter.forgotten","id":"f1","at":1704090000000,"supporter":"s1"}'; } >"$work/j.jsonl"
	expect 0 "import of lines judged once (erasure: $erased)" -- "$PLEDGED" import --data "$work/j" <"$work/j.jsonl"
	expect 0 "the same lines again (erasure: $erased)" -- "$PLEDGED" import --data "$work/j" <"$work/j.jsonl"
	contains "$work/err" "0 applied, 0 rejected, $(wc -l <"$work/j.jsonl") duplicates" \
		"every line again is a duplicate (erasure: $erased)"
	"$PLEDGED" dump --data "$work/j" >"$work/j.dump" 2>/dev/null
	grep -q "Early-Text" "$work/j.dump" && fail "a rejected comment was applied on the rerun" || ok
	[ "$(wc -l <"$work/j.dump")" = "$([ "$erased" = yes ] && echo 4 || echo 3)" ] && ok ||
		fail "the rerun changed the log: $(cat "$work/j.dump")"
done

# An erasure timed before a comment it erased (a gateway's clock ahead):
# a dry run cut between the two leaves the comment out and the erasure in,
# which is no damage.
rm -rf "$work/cut"
cat >"$work/cut.jsonl" <<JSON
{"v":1,"type":"campaign.opened","id":"o1","at":1704067200000,$c1,"title":"T","owner":"O","currency":"GBP"}
{"v":1,"type":"pledge.created","id":"p1","at":1704070000000,$c1,"currency":"GBP","pledge":"pl1","supporter":"s1","amount":100}
{"v":1,"type":"comment.posted","id":"m1","at":1704090000000,$c1,"supporter":"s1","comment":"cm1","text":"hello"}
{"v":1,"type":"supporter.forgotten","id":"f1","at":1704080000000,"supporter":"s1"}
JSON
"$PLEDGED" import --data "$work/cut" <"$work/cut.jsonl" >/dev/null 2>&1
expect 0 "a dry run cut between an erasure and the later-timed comment it erased" -- \
	"$PLEDGED" replay --data "$work/cut" --dry-run --until-time 1704085000000
contains "$work/err" "left out 1 later events" "the comment is left out"
contains "$work/out" '"comments":0' "the cut's figures"

expect 0 "verify a fresh log" -- "$PLEDGED" verify --data "$work/d"
contains "$work/out" "OK: projections match the log (2059 entries, checksums intact)" "verify says OK"
expect 0 "dump" -- "$PLEDGED" dump --data "$work/d"
[ "$(wc -l <"$work/out")" = 2059 ] && ok || fail "dump prints one line per entry"
expect 0 "dump from 2059" -- "$PLEDGED" dump --data "$work/d" --from 2059 --limit 5
[ "$(wc -l <"$work/out")" = 1 ] && ok || fail "dump --from/--limit"
contains "$work/out" '"type":"campaign.closed"' "the last entry closes the campaign"
expect 0 "rejections" -- "$PLEDGED" rejections --data "$work/d" --reason not_a_backer
contains "$work/out" '"reason":"not_a_backer"' "rejection reason"
contains "$work/out" '"offset":2061' "rejection keeps the source offset"
expect 0 "rejections filtered to nothing" -- "$PLEDGED" rejections --data "$work/d" --reason bad_utf8
[ -s "$work/out" ] && fail "no bad_utf8 rejections expected" || ok
# Output that did not all arrive (a full disk, a closed stdout) is no
# success: a script would take the part it got for the whole.
for cmd in "dump --data $work/d" "rejections --data $work/d" "verify --data $work/d" \
	"replay --data $work/d --dry-run" "dump --help"; do
	expect 1 "$cmd onto a full disk" -- sh -c 'exec "$@" >/dev/full' sh "$PLEDGED" $cmd
	contains "$work/err" "pledged ${cmd%% *}: cannot write the output: No space left on device" \
		"$cmd says its output was lost"
done
expect 1 "dump with stdout closed" -- sh -c 'exec "$@" >&-' sh "$PLEDGED" dump --data "$work/d"
contains "$work/err" "pledged dump: cannot write the output: Bad file descriptor" "dump says stdout is closed"

# Event times outside the window: before 2000, and far ahead of now.
cp -r "$work/d" "$work/window"
cat >"$work/window.jsonl" <<EOF
{"v":1,"type":"comment.posted","id":"early","at":946684799999,"campaign":"jess-phillips-for-labour-leader","comment":"c-early","supporter":"sup-0001","text":"from the last century"}
{"v":1,"type":"comment.posted","id":"late","at":9000000000000000,"campaign":"jess-phillips-for-labour-leader","comment":"c-late","supporter":"sup-0001","text":"from the far future"}
EOF
expect 0 "import of events outside the time window" -- "$PLEDGED" import --data "$work/window" <"$work/window.jsonl"
contains "$work/err" "0 applied, 2 rejected" "both are rejected"
expect 0 "their rejections" -- "$PLEDGED" rejections --data "$work/window" --reason out_of_range
contains "$work/out" "field 'at' is 1999-12-31T23:59:59Z, outside 2000-01-01T00:00:00Z.." "the early one, with the window"
contains "$work/out" "field 'at' is 9000000000000000, outside" "the late one"
expect 0 "the campaign after them" -- "$PLEDGED" replay --data "$work/window" --dry-run
contains "$work/out" '"comments":10,' "no comment was added"
contains "$work/out" '"days":19' "its days are still 19"

expect 0 "point-in-time dry run" -- "$PLEDGED" replay --data "$work/d" --until-time 2020-01-14T12:00:00Z --dry-run
contains "$work/out" '"comments":2,' "two comments by noon on 14 January"
contains "$work/out" '"status":"open"' "still open then"
expect 0 "verify after a dry run: nothing was written" -- "$PLEDGED" verify --data "$work/d"
expect 0 "dry run up to the end" -- "$PLEDGED" replay --data "$work/d" --until-seq 999999 --dry-run
contains "$work/out" '"raised":5804100,"pledges":2020,"supporters":1975,"comments":10,"status":"closed"' "demo totals"
contains "$work/out" '"days":19' "19 days"

# The live projections always reflect the whole log: no rewinding them.
expect 2 "a point in time without --dry-run is refused" -- "$PLEDGED" replay --data "$work/d" --until-seq 1
contains "$work/err" "only go with --dry-run" "the refusal says why"
expect 2 "a time cut without --dry-run is refused" -- "$PLEDGED" replay --data "$work/d" --until-time 2020-01-10
expect 0 "verify: nothing changed" -- "$PLEDGED" verify --data "$work/d"
# Out of file descriptors: said so, with what to do, not "I/O error".
(ulimit -n 7 && exec "$PLEDGED" verify --data "$work/d") >"$work/out" 2>"$work/err"
[ $? = 3 ] && ok || fail "verify with 7 file descriptors: exit 3"
contains "$work/err" "too many open files" "verify names the limit of open files"
(ulimit -n 4 && exec "$PLEDGED" dump --data "$work/d") >"$work/out" 2>"$work/err"
[ $? = 3 ] && ok || fail "dump with 4 file descriptors: exit 3"
contains "$work/err" "too many open files (raise the limit of open files" "dump says what to do"

# Run with its standard descriptors closed, a command gets its files on
# their numbers (replay: lock.mdb as 1, data.mdb as 2): its messages must
# not be written into them.
cp -r "$work/d" "$work/closed"
"$PLEDGED" replay --data "$work/closed" --no-swap <&- >&- 2>&-
[ $? = 0 ] && ok || fail "replay --no-swap with stdin, stdout and stderr closed"
if grep -l "pledged replay" "$work/closed"/*; then fail "replay's messages went into its files"; else ok; fi
expect 0 "verify after a replay with no standard descriptors" -- "$PLEDGED" verify --data "$work/closed"
rm -rf "$work/closed"

# An online rebuild, stopped before the swap: the difference, then the swap.
expect 0 "rebuild without the swap" -- "$PLEDGED" replay --data "$work/d" --no-swap
contains "$work/err" "caught up with entry 2059, not swapped" "it says where it stopped"
contains "$work/err" "(2059 of them filled at once)" "a rebuild from nothing fills the log at once"
contains "$work/err" "a swap would change 0 campaigns" "nothing differs"
expect 0 "the difference again" -- "$PLEDGED" replay --data "$work/d" --diff
expect 0 "swap" -- "$PLEDGED" replay --data "$work/d"
contains "$work/err" "swapped in at entry 2059" "the swap is reported"
# Held to its first entries at once, or none: the same projections.
expect 0 "a rebuild with its first entries at once" -- "$PLEDGED" replay --data "$work/d" --at-once 100
contains "$work/err" "(100 of them filled at once); swapped in at entry 2059" "the rest entry by entry"
expect 0 "verify after it" -- "$PLEDGED" verify --data "$work/d"
expect 0 "a rebuild entry by entry" -- "$PLEDGED" replay --data "$work/d" --at-once 0
if grep -q "filled at once" "$work/err"; then fail "--at-once 0 filled at once"; else ok; fi
expect 0 "verify after it" -- "$PLEDGED" verify --data "$work/d"
expect 1 "no rebuild is under way to show" -- "$PLEDGED" replay --data "$work/d" --diff
expect 0 "a rebuild to drop" -- "$PLEDGED" replay --data "$work/d" --no-swap
expect 0 "drop it" -- "$PLEDGED" replay --data "$work/d" --abort
expect 1 "nothing left to drop" -- "$PLEDGED" replay --data "$work/d" --abort

# A paced rebuild (200 entries a second: about ten seconds for the demo),
# stopped with Ctrl-C once it shows progress: it says where it stands and
# exits as a shell says a process Ctrl-C stopped (130, not 0: it did not
# swap), and --diff says that its differences are those of part of the log.
# Starts it, sends signal $1 once it shows progress, its stderr in $2; its exit status in $status.
stop_paced_replay() {
	"$PLEDGED" replay --data "$work/d" --max-rate 200 >"$work/out" 2>"$2" &
	pid=$!
	for _ in $(seq 100); do grep -q "entries/s" "$2" && break; sleep 0.1; done
	kill "-$1" "$pid"
	wait "$pid"
	status=$?
}
stop_paced_replay INT "$work/err"
[ "$status" = 130 ] && ok || fail "a rebuild stopped by Ctrl-C exits 130, not $status: $(cat "$work/err")"
stood=$(sed -n 's/.*stopped at entry \([0-9]*\) of 2059:.*/\1/p' "$work/err")
[ -n "$stood" ] && [ "$stood" -lt 2059 ] && ok ||
	fail "a stopped rebuild says where it stands: $(cat "$work/err")"
# A hangup stops it the same way, at the next transaction.
stop_paced_replay HUP "$work/err.hup"
stood=$(sed -n 's/.*stopped at entry \([0-9]*\) of 2059:.*/\1/p' "$work/err.hup")
[ "$status" = 129 ] && [ -n "$stood" ] && [ "$stood" -lt 2059 ] && ok ||
	fail "a rebuild stopped by SIGHUP exits 129 saying where it stands, not $status: $(cat "$work/err.hup")"
expect 0 "the differences so far" -- "$PLEDGED" replay --data "$work/d" --diff
contains "$work/err" "the rebuild stands at entry $stood of 2059" "--diff says the rebuild is behind"
expect 0 "drop the stopped rebuild" -- "$PLEDGED" replay --data "$work/d" --abort
expect 0 "verify after rebuilds" -- "$PLEDGED" verify --data "$work/d"

# Interrupted (SIGTERM from a job runner, SIGINT from a terminal, SIGHUP
# from a terminal that went away) at a few
# moments, verify, a dry run, a backup and a compact leave no scratch or
# partial dir.
# A log of 40,000 pledges, so that they take long enough to be caught.
awk 'BEGIN {
	print "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"big-o\",\"at\":1700000000000,\"campaign\":\"big\",\"title\":\"Big\",\"owner\":\"o\",\"currency\":\"GBP\"}"
	for (i = 0; i < 40000; i++)
		printf "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"big-%d\",\"at\":1700000000000,\"campaign\":\"big\",\"pledge\":\"p%d\",\"supporter\":\"s%d\",\"amount\":100,\"currency\":\"GBP\"}\n", i, i, i % 5000
}' | "$PLEDGED" import --data "$work/big" >/dev/null 2>&1 && ok || fail "import of 40,000 pledges"
mkdir "$work/tmp"
cp -r "$work/big" "$work/bigc"
compact_left=
for sig in TERM INT HUP; do
	for after in 0.1 0.3 0.6; do
		timeout -s "$sig" "$after" "$PLEDGED" verify --data "$work/big" --scratch "$work/tmp" >/dev/null 2>&1
		TMPDIR="$work/tmp" timeout -s "$sig" "$after" "$PLEDGED" replay --data "$work/big" --dry-run >/dev/null 2>&1
		timeout -s "$sig" "$after" "$PLEDGED" backup --data "$work/big" --to "$work/bak-$sig-$after" >/dev/null 2>&1
	done
	# compact takes tens of milliseconds here: caught at as many moments,
	# each looked at at once (the next compact removes what one left).
	for after in 0.01 0.02 0.03 0.04 0.05 0.06 0.08 0.1 0.15 0.2; do
		timeout -s "$sig" "$after" "$PLEDGED" compact --data "$work/bigc" >/dev/null 2>&1
		[ -e "$work/bigc/compact.tmp" ] && compact_left="$compact_left $sig-$after"
	done
done
# A dry run whose reader goes away (SIGPIPE) removes its scratch dir too:
# 3,000 campaigns print more than the pipe holds.
awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"many-%d\",\"at\":1700000000000,\"campaign\":\"many-%d\",\"title\":\"Many\",\"owner\":\"o\",\"currency\":\"GBP\"}\n", i, i
}' | "$PLEDGED" import --data "$work/many" >/dev/null 2>&1 && ok || fail "import of 3,000 campaigns"
TMPDIR="$work/tmp" "$PLEDGED" replay --data "$work/many" --dry-run 2>/dev/null | head -c 1 >/dev/null
# A dump whose reader goes away stops as any tool does, by SIGPIPE (141),
# and exits 1 where SIGPIPE is ignored, as the README says.
("$PLEDGED" dump --data "$work/many" 2>/dev/null; echo $? >"$work/status") | head -c 1 >/dev/null
[ "$(cat "$work/status")" = 141 ] && ok || fail "dump into a closed pipe: $(cat "$work/status"), want 141"
(trap '' PIPE; "$PLEDGED" dump --data "$work/many" 2>"$work/err"; echo $? >"$work/status") |
	head -c 1 >/dev/null
[ "$(cat "$work/status")" = 1 ] && ok ||
	fail "dump into a closed pipe, SIGPIPE ignored: $(cat "$work/status"), want 1"
contains "$work/err" "cannot write the output" "dump says its output did not all get written"
# What a killed run left (a kill -9 cleans nothing) is swept by the next:
# only an old dir of the name holding a store's files and no process's
# store; not a fresh one (a run making it now), not one with other files.
mkdir -p "$work/sweep/pledged-verify-AAAAAA" "$work/sweep/pledged-verify-BBBBBB" \
	"$work/sweep/pledged-verify-CCCCCC" "$work/sweep/pledged-replay-DDDDDD"
for d in AAAAAA BBBBBB CCCCCC; do cp "$work/d/data.mdb" "$work/sweep/pledged-verify-$d/"; done
cp "$work/d/data.mdb" "$work/sweep/pledged-replay-DDDDDD/"
echo "mine" >"$work/sweep/pledged-verify-CCCCCC/notes.txt"
touch -d '-2 minutes' "$work/sweep/pledged-verify-AAAAAA" "$work/sweep/pledged-verify-CCCCCC" \
	"$work/sweep/pledged-replay-DDDDDD"
expect 0 "verify beside what killed runs left" -- "$PLEDGED" verify --data "$work/d" --scratch "$work/sweep"
contains "$work/err" "removed '$work/sweep/pledged-verify-AAAAAA', a scratch dir a killed run left" \
	"verify says what it swept"
[ "$(ls "$work/sweep" | tr '\n' ' ')" = "pledged-replay-DDDDDD pledged-verify-BBBBBB pledged-verify-CCCCCC " ] &&
	ok || fail "verify swept the wrong dirs: $(ls "$work/sweep")"
expect 0 "a dry run beside what a killed one left" -- env TMPDIR="$work/sweep" "$PLEDGED" replay --data "$work/d" --dry-run
[ ! -e "$work/sweep/pledged-replay-DDDDDD" ] && ok || fail "the dry run did not sweep its own kind"
# Under nohup (SIGHUP ignored from the start) a hangup changes nothing.
for after in 0.1 0.3; do
	expect 0 "verify under nohup, hung up after $after s" -- timeout --preserve-status -s HUP "$after" \
		sh -c "trap '' HUP; exec '$PLEDGED' verify --data '$work/big' --scratch '$work/tmp'"
done
left=$(ls "$work/tmp"; ls -d "$work"/bak-*.partial-* 2>/dev/null)${compact_left:+ compact.tmp after$compact_left}
[ -z "$left" ] && ok || fail "interrupted commands left: $left"
for b in "$work"/bak-*; do
	[ -e "$b" ] || continue
	"$PLEDGED" verify --data "$b" >/dev/null 2>&1 && ok || fail "a backup that was kept does not verify: $b"
done

# Change the stored total behind pledged's back: verify must fail and say where.
live=
for slot in a b; do
	mdb_dump -s "$slot.totals" "$work/d" 2>/dev/null | grep -q '^ 4490580000000000' && live=$slot
done
[ -n "$live" ] && ok || fail "the live slot's totals hold the demo's"
mdb_dump -s "$live.totals" "$work/d" | sed 's/^ 4490580000000000/ 4590580000000000/' >"$work/totals.dump"
mdb_load -s "$live.totals" -f "$work/totals.dump" "$work/d" 2>/dev/null
expect 1 "verify catches a tampered total" -- "$PLEDGED" verify --data "$work/d"
contains "$work/out" "MISMATCH: $live.totals: key 'jess-phillips-for-labour-leader' differs" "verify names the record"
expect 0 "replay repairs it" -- "$PLEDGED" replay --data "$work/d"
expect 0 "verify after replay" -- "$PLEDGED" verify --data "$work/d"

# A branch key of the log raised: a walk meets every entry in order, a seek
# for entry 19 goes astray. verify names it; dump from there says damaged.
"$PLEDGED" import --data "$work/bumped" <"$DEMO" >/dev/null 2>&1
"$DAMAGE_PAGE" "$work/bumped" log raise-key || fail "no branch key to raise in the log"
expect 1 "verify of a log that a seek misses" -- "$PLEDGED" verify --data "$work/bumped"
contains "$work/out" "DAMAGED: log entry 19 does not match its checksum, or is missing or out of its place" \
	"verify names the entry a seek misses"
expect 3 "dump from behind the raised key" -- "$PLEDGED" dump --data "$work/bumped" --from 20
contains "$work/err" "log entry 20 is damaged" "dump names the entry out of its place"
# An erasure that must rewrite entry 19 (sup-0792's pledge) finds the dir damaged.
echo '{"v":1,"type":"supporter.forgotten","id":"fx","at":1579900000000,"supporter":"sup-0792"}' >"$work/forget-19.jsonl"
expect 3 "an erasure meeting an entry a seek misses" -- "$PLEDGED" import --data "$work/bumped" <"$work/forget-19.jsonl"
contains "$work/err" "the data dir is damaged" "the erasure says the data dir is damaged"
# LMDB's compacting copy would keep the raised key: backup and compact
# seek every row before they copy, and refuse.
expect 3 "backup of a log that a seek misses" -- "$PLEDGED" backup --data "$work/bumped" --to "$work/bumped-copy"
contains "$work/err" "the data dir is damaged" "backup says the data dir is damaged"
[ -z "$(ls -d "$work"/bumped-copy* 2>/dev/null)" ] && ok || fail "the refused backup left a copy"
expect 3 "compact of a log that a seek misses" -- "$PLEDGED" compact --data "$work/bumped"
# Any table likewise: the staged history rows, keyed by log position.
"$PLEDGED" import --data "$work/staged-bumped" <"$DEMO" >/dev/null 2>&1
"$DAMAGE_PAGE" "$work/staged-bumped" a.history_staged raise-key >/dev/null ||
	fail "no branch key to raise in the staged history"
expect 1 "verify of staged rows that a seek misses" -- "$PLEDGED" verify --data "$work/staged-bumped"
contains "$work/out" "DAMAGED: LMDB's pages of table 'a.history_staged'" "verify names the table"
# The rejections likewise: 300 refused pledges, a branch key of theirs raised.
for i in $(seq 300); do
	echo "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"rj-$i\",\"at\":1579000000000,\"campaign\":\"nope\",\"pledge\":\"rjp-$i\",\"supporter\":\"s\",\"amount\":100,\"currency\":\"GBP\",\"name\":\"$(printf 'x%.0s' $(seq 200))\"}"
done >"$work/refused.jsonl"
"$PLEDGED" import --data "$work/refusals" <"$work/refused.jsonl" >/dev/null 2>&1
"$DAMAGE_PAGE" "$work/refusals" rejections raise-key >"$work/raised" || fail "no branch key to raise in the rejections"
expect 1 "verify of rejections that a seek misses" -- "$PLEDGED" verify --data "$work/refusals"
contains "$work/out" "DAMAGED: rejection $(sed -n 's/.*key \([0-9]*\) now.*/\1/p' "$work/raised")" "verify names the rejection"
expect 3 "backup of rejections that a seek misses" -- "$PLEDGED" backup --data "$work/refusals" --to "$work/refusals-copy"

# Backup and restore: the copy is a data dir with the same log and projections.
expect 2 "backup without --to" -- "$PLEDGED" backup --data "$work/d"
expect 2 "backup into the data dir itself" -- "$PLEDGED" backup --data "$work/d" --to "$work/d/copy"
contains "$work/err" "lies inside the data dir" "backup says why"
expect 2 "backup into the data dir by another path" -- "$PLEDGED" backup --data "$work/d" --to "$work/d/../d/x"
mkdir "$work/d/sub"
ln -s "$work/d/sub" "$work/link-into-d"
expect 2 "backup into the data dir through a link to an empty dir there" -- \
	"$PLEDGED" backup --data "$work/d" --to "$work/link-into-d"
[ -z "$(ls -A "$work/d/sub")" ] && ok || fail "backup wrote into the data dir through a link"
rm "$work/link-into-d"
rmdir "$work/d/sub"
expect 0 "backup" -- "$PLEDGED" backup --data "$work/d" --to "$work/backup"
# A meta page whose page size reads 0: LMDB would divide by it.
cp -r "$work/backup" "$work/psize"
printf '\0\0\0\0' | dd of="$work/psize/data.mdb" bs=1 seek=40 conv=notrunc 2>/dev/null
for cmd in verify dump compact; do
	expect 3 "$cmd of a data file whose page size reads 0" -- "$PLEDGED" $cmd --data "$work/psize"
	contains "$work/err" "damaged" "$cmd calls it damaged"
done
rm -rf "$work/psize"
# Marked as a data dir holding a store, before anything opens it: a
# restored copy whose data.mdb then goes missing is refused, not begun anew.
[ -e "$work/backup/pledged.dir" ] && ok || fail "the copy has no pledged.dir"
[ "$(stat -c %a "$work/backup/data.mdb")" = "$(stat -c %a "$work/d/data.mdb")" ] && ok ||
	fail "the copy's data.mdb is not of the original's mode"
expect 0 "backup to a new directory named with a slash" -- "$PLEDGED" backup --data "$work/d" --to "$work/backup-slash/"
[ -e "$work/backup-slash/data.mdb" ] && ok || fail "the copy named with a slash is not there"
# A name as long as a file name may be: its partial copy beside it cuts it.
long_name=$work/$(printf 'b%.0s' $(seq 255))
expect 0 "backup to a name of 255 bytes" -- "$PLEDGED" backup --data "$work/d" --to "$long_name"
expect 0 "verify the copy of the long name" -- "$PLEDGED" verify --data "$long_name"
rm -rf "$long_name"
# Another process grew the map after backup's checks, before its copy:
# the copy adopts the new size, as every transaction does.
"$PLEDGED" import --data "$work/grown" <"$DEMO" >/dev/null 2>&1
expect 0 "backup while another process grows the map" -- env BEFORE_COPY="$GROW_ENV $work/grown" \
	LD_PRELOAD="$BEFORE_COPY" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
	"$PLEDGED" backup --data "$work/grown" --to "$work/backup-grown"
expect 0 "verify the copy made across the growth" -- "$PLEDGED" verify --data "$work/backup-grown"
rm -rf "$work/grown" "$work/backup-grown"
chmod 600 "$work/d/data.mdb"
expect 0 "backup of a data file only its owner reads" -- "$PLEDGED" backup --data "$work/d" --to "$work/backup600"
[ "$(stat -c %a "$work/backup600/data.mdb")" = 600 ] && ok || fail "the copy of a 0600 data.mdb is looser"
chmod 640 "$work/d/data.mdb"
expect 2 "backup over an existing copy" -- "$PLEDGED" backup --data "$work/d" --to "$work/backup"
contains "$work/err" "'$work/backup' exists and is not an empty directory" "backup says the copy is in the way"
: >"$work/backup-file"
expect 2 "backup onto a file" -- "$PLEDGED" backup --data "$work/d" --to "$work/backup-file"
contains "$work/err" "'$work/backup-file' exists and is not a directory" "backup says a file is in the way"
ln -s "$work/unmounted/pledged" "$work/backup-link"
expect 2 "backup onto a link to nothing" -- "$PLEDGED" backup --data "$work/d" --to "$work/backup-link"
contains "$work/err" "'$work/backup-link' is a symbolic link to nothing" "backup says the link leads nowhere"
[ -z "$(ls -d "$work"/backup-link.partial-* 2>/dev/null)" ] && ok || fail "the refused backup left a partial copy"
rm "$work/backup-link"
expect 0 "verify the copy" -- "$PLEDGED" verify --data "$work/backup"
# Into an empty directory, which is kept (its mode is the operator's), or a
# mount point (which cannot be renamed onto: as root).
mkdir -m 0750 "$work/backup-empty"
expect 0 "backup into an empty directory" -- "$PLEDGED" backup --data "$work/d" --to "$work/backup-empty"
[ "$(stat -c %a "$work/backup-empty")" = 750 ] && ok || fail "the empty directory was made anew"
expect 0 "verify the copy made inside it" -- "$PLEDGED" verify --data "$work/backup-empty"
[ -z "$(ls -A "$work/backup-empty" | grep -v -x -e data.mdb -e pledged.dir -e lock.mdb)" ] && ok ||
	fail "the copy left: $(ls -A "$work/backup-empty")"
# What a backup killed outright left: removed by the next backup to the
# same place once a minute old and unlocked; else named, and left alone.
mkdir -p "$work/backup-left/.partial-AbC123"
expect 2 "backup into a directory that holds another backup's fresh partial copy" -- \
	"$PLEDGED" backup --data "$work/d" --to "$work/backup-left"
contains "$work/err" "holds '.partial-AbC123', the partial copy of another backup (under way" \
	"backup names the partial copy in the way"
cp "$work/d/data.mdb" "$work/backup-left/.partial-AbC123/"
touch -d '-2 minutes' "$work/backup-left/.partial-AbC123"
expect 0 "backup into a directory where a killed backup left its copy" -- \
	"$PLEDGED" backup --data "$work/d" --to "$work/backup-left"
contains "$work/err" "removed '$work/backup-left/.partial-AbC123', a partial copy a killed run left" \
	"backup removes the partial copy a killed backup left"
expect 0 "verify the copy made where the killed one was" -- "$PLEDGED" verify --data "$work/backup-left"
mkdir "$work/backup-beside.partial-XyZ789" "$work/backup-beside.partial-Old123" \
	"$work/backup-beside.partial-Run123"
touch -d '-2 minutes' "$work/backup-beside.partial-Old123" "$work/backup-beside.partial-Run123"
if command -v flock >/dev/null; then
	exec 9<"$work/backup-beside.partial-Run123"
	flock -s -n 9 && ok || fail "cannot lock the partial copy for the test"
fi
expect 0 "backup beside partial copies" -- \
	"$PLEDGED" backup --data "$work/d" --to "$work/backup-beside"
contains "$work/err" "backup-beside.partial-XyZ789' is the partial copy of another backup" \
	"backup names a fresh partial copy beside it"
contains "$work/err" "removed '$work/backup-beside.partial-Old123', a partial copy a killed run left" \
	"backup removes an old partial copy no backup holds"
if command -v flock >/dev/null; then
	contains "$work/err" "backup-beside.partial-Run123' is the partial copy of another backup" \
		"backup names the partial copy a running backup holds"
	[ -d "$work/backup-beside.partial-Run123" ] && ok || fail "backup removed a running backup's copy"
	exec 9<&-
fi
# A real backup held before its rename (strace delays it): the next one
# to the same place leaves its copy alone, though older than a minute.
if strace -o /dev/null true 2>/dev/null; then
	# LeakSanitizer cannot run under ptrace: it would fail the exit status.
	ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
		strace -f -o /dev/null -e trace=rename,renameat,renameat2 \
		-e inject=rename,renameat,renameat2:delay_enter=4000000 \
		"$PLEDGED" backup --data "$work/d" --to "$work/backup-two" 2>"$work/first.err" &
	first=$!
	held=
	for _ in $(seq 100); do
		held=$(ls -d "$work"/backup-two.partial-* 2>/dev/null)
		[ -n "$held" ] && [ -e "$held/lock.mdb" ] && break
		sleep 0.05
	done
	touch -d '-2 minutes' "$held"
	expect 0 "backup while another to the same place waits to rename" -- \
		"$PLEDGED" backup --data "$work/d" --to "$work/backup-two"
	contains "$work/err" "'$held' is the partial copy of another backup" \
		"backup names the copy a running backup holds"
	[ -d "$held" ] && ok || fail "backup removed the copy of a backup still running"
	wait "$first"
	[ $? = 3 ] && ok || fail "the first backup did not fail with DEST taken: $(cat "$work/first.err")"
	contains "$work/first.err" "nothing was kept" "the first backup says it kept nothing"
	[ ! -e "$held" ] && ok || fail "the first backup left its copy"
	expect 0 "verify the second backup's copy" -- "$PLEDGED" verify --data "$work/backup-two"
else
	echo "test_cli: strace cannot trace here: a backup held mid-way is not checked" >&2
fi
mkdir "$work/mnt"
if mount -t tmpfs -o size=64m pledged-test "$work/mnt" 2>/dev/null; then
	expect 0 "backup onto an empty mount point" -- "$PLEDGED" backup --data "$work/d" --to "$work/mnt"
	expect 0 "verify the copy on the mount point" -- "$PLEDGED" verify --data "$work/mnt"
	umount "$work/mnt"
else
	echo "test_cli: cannot mount a tmpfs (needs root): skipping the backup onto a mount point"
fi
contains "$work/out" "OK: projections match the log (2059 entries, checksums intact)" "the copy verifies like the original"
"$PLEDGED" dump --data "$work/d" >"$work/dump.orig" 2>/dev/null
"$PLEDGED" dump --data "$work/backup" >"$work/dump.copy" 2>/dev/null
cmp -s "$work/dump.orig" "$work/dump.copy" && ok || fail "the copy's log equals the original's"
"$PLEDGED" replay --data "$work/d" --dry-run >"$work/p.orig" 2>/dev/null
"$PLEDGED" replay --data "$work/backup" --dry-run >"$work/p.copy" 2>/dev/null
cmp -s "$work/p.orig" "$work/p.copy" && ok || fail "the copy's projections equal the original's"

# A rewind is refused, and the events that projections rewound to entry 2000
# would judge wrongly are judged against the whole log: a refund of a pledge
# made after entry 2000, a comment by a backer since entry 2056, a pledge
# after the close. Then a full rebuild agrees and verify passes.
C=jess-phillips-for-labour-leader
expect 2 "replay --until-seq 2000 (no --dry-run)" -- "$PLEDGED" replay --data "$work/backup" --until-seq 2000
cat >"$work/late.jsonl" <<EOF
{"v":1,"type":"pledge.refunded","id":"late-refund","at":1579803000000,"campaign":"$C","pledge":"pl-00406","amount":1500}
{"v":1,"type":"comment.posted","id":"late-comment","at":1579803100000,"campaign":"$C","supporter":"sup-1826","comment":"cm-late","text":"Still proud."}
{"v":1,"type":"pledge.created","id":"late-pledge","at":1579803200000,"campaign":"$C","pledge":"pl-late","supporter":"sup-late","amount":1000,"currency":"GBP"}
EOF
expect 0 "import the late events" -- "$PLEDGED" import --data "$work/backup" <"$work/late.jsonl"
contains "$work/err" "2 applied, 1 rejected" "the refund and the comment count, the pledge after the close does not"
expect 0 "rejections of the late events" -- "$PLEDGED" rejections --data "$work/backup" --reason campaign_closed
contains "$work/out" '"event_id":"late-pledge"' "the pledge after the close is kept as a rejection"
expect 0 "a full rebuild after the late events" -- "$PLEDGED" replay --data "$work/backup"
expect 0 "verify after the late events" -- "$PLEDGED" verify --data "$work/backup"
expect 0 "the figures" -- "$PLEDGED" replay --data "$work/backup" --dry-run
contains "$work/out" '"raised":5802600,"pledges":2020,"supporters":1974,"comments":11,"status":"closed"' "exact to the penny after the late events"

# One serve per data dir: a second one is refused while the first runs.
# It has a token for its operators' listener.
printf '%s\n' 0f1e2d3c4b5a69788796a5b4c3d2e1f0 >"$work/admin.token"
"$PLEDGED" serve --data "$work/locked" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
	--admin-token-file "$work/admin.token" 2>"$work/serve1.log" &
serve1=$!
for _ in $(seq 100); do [ -s "$work/locked/broker.address" ] && break; sleep 0.1; done
if command -v curl >/dev/null; then
	pub=$(serve_port "$work/serve1.log")
	adm=$(admin_port "$work/serve1.log")
	code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
	[ "$(code "http://127.0.0.1:$pub/v1/rejections")" = 404 ] && ok || fail "rejections on the public listener"
	[ "$(code "http://127.0.0.1:$pub/metrics")" = 404 ] && ok || fail "metrics on the public listener"
	[ "$(code "http://127.0.0.1:$adm/metrics")" = 401 ] && ok || fail "metrics without the token"
	[ "$(code -H "Authorization: Bearer wrong-token-0123456789" "http://127.0.0.1:$adm/metrics")" = 401 ] &&
		ok || fail "metrics with a wrong token"
	[ "$(code -H "Authorization: Bearer $(cat "$work/admin.token")" "http://127.0.0.1:$adm/metrics")" = 200 ] &&
		ok || fail "metrics with the token"
	[ "$(code "http://127.0.0.1:$pub/readyz")" = 503 ] || [ "$(code "http://127.0.0.1:$pub/readyz")" = 200 ] &&
		ok || fail "readyz on the public listener"
fi
contains "$work/serve1.log" "bearer token required" "serve says its operators' listener wants a token"
grep -q 0f1e2d3c4b5a6978 "$work/serve1.log" && fail "the token is in the log" || ok
expect 3 "a second serve on the same data dir" -- "$PLEDGED" serve --data "$work/locked" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
contains "$work/err" "is in use by another pledged serve, import or upgrade" "the refusal names the reason"
contains "$work/err" "writer.lock is locked, by process $serve1)" "and the process that holds the lock"
expect 3 "no upgrade while serve consumes" -- "$PLEDGED" upgrade --data "$work/locked"
contains "$work/err" "by process $serve1)" "the upgrade's refusal names the process too"
# Only a writer of events may be sent to another data dir.
contains "$work/err" "stop it first" "the upgrade's refusal says to stop serve"
grep -q "own --data" "$work/err" && fail "the upgrade's refusal offers another data dir" || ok
expect 3 "no import while serve consumes" -- "$PLEDGED" import --data "$work/locked" </dev/null
# The same data dir by a path of about 1,190 bytes (the OS takes up to
# 4,095): its lock file's name was once cut short there, and the import took
# another lock than serve's and wrote beside it, an event id then twice in
# the log.
steps=$(( (1190 - ${#work} - 7) / 2 ))
long=$work/$(printf './%.0s' $(seq "$steps"))locked
expect 3 "no import while serve consumes, by a path of ${#long} bytes" -- \
	"$PLEDGED" import --data "$long" </dev/null
contains "$work/err" "by process $serve1)" "the import by a long path names serve"
# A hangup (the terminal serve ran in went away) stops it as SIGTERM does:
# the batch committed, the group left at once.
kill -HUP "$serve1"
wait "$serve1" && ok || fail "the first serve stops cleanly on SIGHUP"
contains "$work/serve1.log" "stopped cleanly" "serve says it stopped cleanly after a hangup"

# The lock files get their holder's id written in: never through a link
# (into whatever it points at) nor into a pipe.
printf 'precious\n' >"$work/precious"
for lock in writer.lock rebuild.lock; do
	mv "$work/locked/$lock" "$work/$lock.kept"
	ln -s "$work/precious" "$work/locked/$lock"
	taker=import # the command that takes the lock
	[ $lock = rebuild.lock ] && taker=replay
	expect 3 "$taker through a linked $lock" -- "$PLEDGED" $taker --data "$work/locked" </dev/null
	contains "$work/err" "it is a symbolic link: remove it" "the refusal says $lock is a link"
	[ "$(cat "$work/precious")" = precious ] && ok || fail "the file $lock linked to was written"
	rm "$work/locked/$lock"
	mkfifo "$work/locked/$lock"
	expect 3 "$taker with a pipe for $lock" -- timeout 20 "$PLEDGED" $taker --data "$work/locked" </dev/null
	contains "$work/err" "$lock is not a regular file" "the refusal says $lock is no file"
	rm "$work/locked/$lock"
	mv "$work/$lock.kept" "$work/locked/$lock"
done
# The store's files likewise: LMDB writes lock.mdb for a reader too, and
# would follow a link there (made by the service's user, run as root) over
# the file it names; a marker missing is made, through a link to nothing.
for file in lock.mdb data.mdb; do
	mv "$work/locked/$file" "$work/$file.kept"
	ln -s "$work/precious" "$work/locked/$file"
	expect 3 "dump through a linked $file" -- "$PLEDGED" dump --data "$work/locked"
	contains "$work/err" "creating) is not a regular file" "the refusal says $file is no file"
	[ "$(cat "$work/precious")" = precious ] && ok || fail "the file $file linked to was written"
	rm "$work/locked/$file"
	mv "$work/$file.kept" "$work/locked/$file"
done
mv "$work/locked/pledged.dir" "$work/pledged.dir.kept"
ln -s "$work/made-by-link" "$work/locked/pledged.dir"
expect 3 "import through a linked pledged.dir" -- "$PLEDGED" import --data "$work/locked" </dev/null
contains "$work/err" "creating) is not a regular file" "the refusal says pledged.dir is no file"
[ ! -e "$work/made-by-link" ] && ok || fail "a file was made where pledged.dir linked to"
rm "$work/locked/pledged.dir"
# Nor one made after those checks (by the time LMDB opens): the missing
# marker is made after the open, never through a link.
expect 3 "import with pledged.dir linked after the checks" -- env \
	BEFORE_OPEN="ln -s '$work/made-by-link' '$work/locked/pledged.dir'" \
	LD_PRELOAD="$BEFORE_COPY" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
	"$PLEDGED" import --data "$work/locked" </dev/null
contains "$work/err" "creating) is not a regular file" "the refusal says pledged.dir is no file"
[ ! -e "$work/made-by-link" ] && ok || fail "a file was made where pledged.dir linked to after the checks"
rm "$work/locked/pledged.dir"
mv "$work/pledged.dir.kept" "$work/locked/pledged.dir"
mkdir "$work/born"
ln -s "$work/made-by-link" "$work/born/creating"
expect 3 "import into a new data dir through a linked marker" -- "$PLEDGED" import --data "$work/born" </dev/null
[ ! -e "$work/made-by-link" ] && ok || fail "a file was made where creating linked to"

# lock.mdb cut short, then overwritten, while another process has it open
# (a serve --read-only): LMDB takes it as it is, and counted readers past
# its end (a segfault, at times) or refused it as a damaged data file
# (restore a backup, said the advice). It is a lock file, made afresh once
# those processes are gone.
cp -a "$work/locked" "$work/cutlock"
"$PLEDGED" serve --read-only --data "$work/cutlock" --listen 127.0.0.1:0 \
	--admin-listen 127.0.0.1:0 2>"$work/cutlock-serve.log" &
cut_serve=$!
[ -n "$(serve_port "$work/cutlock-serve.log")" ] && ok || fail "serve --read-only on a copy starts"
truncate -s 100 "$work/cutlock/lock.mdb"
for _ in 1 2 3; do
	expect 3 "dump beside a serve whose lock.mdb was cut short" -- "$PLEDGED" dump --data "$work/cutlock"
	contains "$work/err" "lock.mdb missing or damaged while another process" "dump says lock.mdb is cut short"
done
truncate -s 0 "$work/cutlock/lock.mdb"
truncate -s 32896 "$work/cutlock/lock.mdb"
expect 3 "verify beside a serve whose lock.mdb was overwritten" -- "$PLEDGED" verify --data "$work/cutlock"
contains "$work/err" "data.mdb is not at fault" "verify does not call the data file damaged"
kill "$cut_serve"
wait "$cut_serve"
expect 0 "dump once nothing else has the data dir open" -- "$PLEDGED" dump --data "$work/cutlock" --limit 1

# publish and forget with --data send to the topic serve consumes from its
# embedded broker, which would make and keep any other topic unread.
# A link left where serve writes its broker's address first is not followed.
mkdir "$work/other"
ln -s "$work/broker-linked" "$work/other/broker.address.tmp"
"$PLEDGED" serve --data "$work/other" --topic other --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
	2>"$work/other-serve.log" &
other_serve=$!
for _ in $(seq 100); do [ -s "$work/other/broker.address" ] && break; sleep 0.1; done
[ ! -e "$work/broker-linked" ] && [ ! -L "$work/other/broker.address" ] && ok ||
	fail "serve wrote its broker's address through a link left at broker.address.tmp"
contains "$work/other/broker.topic" "other" "serve writes the topic of its embedded broker"
head -n 3 "$DEMO" >"$work/three.jsonl"
expect 0 "publish --data to serve's topic" -- "$PLEDGED" publish --data "$work/other" <"$work/three.jsonl"
contains "$work/err" "3 delivered to other" "publish names serve's topic"
expect 2 "publish --data with another topic than serve's" -- \
	"$PLEDGED" publish --data "$work/other" --topic pledges <"$work/three.jsonl"
contains "$work/err" "serve on $work/other consumes topic 'other'" "the refusal names serve's topic"
printf 'topic = pledges\n' >"$work/pledges.conf"
expect 2 "nor from a config file" -- \
	"$PLEDGED" publish --data "$work/other" --config "$work/pledges.conf" <"$work/three.jsonl"
expect 2 "forget --data with another topic than serve's" -- \
	"$PLEDGED" forget --data "$work/other" --topic pledges --supporter sup-0001
expect 0 "forget --data to serve's topic" -- "$PLEDGED" forget --data "$work/other" --supporter sup-0001
cp "$work/other/broker.topic" "$work/topic.kept"
printf 'bad topic!!\n' >"$work/other/broker.topic"
expect 3 "publish --data when broker.topic holds no topic name" -- \
	"$PLEDGED" publish --data "$work/other" <"$work/three.jsonl"
contains "$work/err" "broker.topic: topic 'bad topic!!' has a character" "the refusal quotes the file"
head -c 300 /dev/zero | tr '\0' x >"$work/other/broker.topic"
expect 3 "publish --data when broker.topic's line is too long" -- \
	"$PLEDGED" publish --data "$work/other" <"$work/three.jsonl"
contains "$work/err" "holds no topic name (empty, or a line too long)" "the refusal says why"
mv "$work/topic.kept" "$work/other/broker.topic"
applied=
for _ in $(seq 100); do
	"$PLEDGED" dump --data "$work/other" >"$work/other.dump" 2>/dev/null
	applied=$(grep -c . "$work/other.dump")
	[ "$applied" -ge 7 ] && break # 3 events and 4 partitions' erasures
	sleep 0.1
done
[ "$applied" -ge 7 ] && ok || fail "serve applied what publish and forget sent ($applied log entries)"
# The SIGTERM as the kernel may hand it to any thread that does not block
# it: here, the one of the embedded broker (a signal sent by a thread's id
# goes to that thread first). Handled there, it broke the broker's poll():
# that thread ended, and serve at times hung for ever stopping it.
broker_thread=$(grep -lx 'rdk:mock' /proc/"$other_serve"/task/*/comm | cut -d/ -f5)
kill -TERM "${broker_thread:-$other_serve}"
for _ in $(seq 200); do kill -0 "$other_serve" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$other_serve" 2>/dev/null; then
	kill -KILL "$other_serve"
	fail "serve on topic other hangs stopping on a SIGTERM its broker's thread got"
fi
wait "$other_serve" && ok || fail "serve on topic other stops cleanly"
if grep -q "Mock cluster failed to poll" "$work/other-serve.log"; then
	fail "the embedded broker's thread took serve's SIGTERM: $(grep -m1 poll "$work/other-serve.log")"
else ok; fi
[ ! -e "$work/other/broker.topic" ] && [ ! -e "$work/other/broker.address" ] && ok ||
	fail "serve removes its broker files when it stops"
# Killed, serve leaves them behind: publish and forget say at once that its
# broker is gone, rather than wait for a broker that will never answer.
serve_other_killed() { # a serve on topic other, killed once its broker is up: other_serve
	"$PLEDGED" serve --data "$work/other" --topic other --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 2>>"$work/other-serve.log" &
	other_serve=$!
	for _ in $(seq 100); do [ -s "$work/other/broker.address" ] && break; sleep 0.1; done
	kill -KILL "$other_serve"
	wait "$other_serve" 2>/dev/null
}
serve_other_killed
expect 3 "publish --data after serve was killed" -- \
	timeout 20 "$PLEDGED" publish --data "$work/other" <"$work/three.jsonl"
contains "$work/err" "(process $other_serve) is not running, so its embedded broker is gone" \
	"publish says the broker went with serve"
expect 3 "forget --data after serve was killed" -- \
	timeout 20 "$PLEDGED" forget --data "$work/other" --supporter sup-0001
# The same with another process holding the data dir since (here an
# import, whose id the lock file names now): the files name no broker.
serve_other_killed
(sleep 30 | "$PLEDGED" import --data "$work/other") &
importer=$!
for _ in $(seq 100); do [ ! -e "$work/other/broker.address" ] && break; sleep 0.1; done
expect 3 "publish --data while an import holds the dir a killed serve left" -- \
	timeout 20 "$PLEDGED" publish --data "$work/other" <"$work/three.jsonl"
contains "$work/err" "no embedded broker address" "publish says no serve runs there"
pkill -P "$importer" sleep 2>/dev/null
wait "$importer" 2>/dev/null

# A read-only mount (a snapshot, a replica's copy): every command that only
# reads works on it; those that write say they cannot.
mkdir "$work/ro"
if mount --bind "$work/backup" "$work/ro" 2>/dev/null && mount -o remount,bind,ro "$work/ro" 2>/dev/null; then
	expect 0 "verify on a read-only mount" -- "$PLEDGED" verify --data "$work/ro"
	expect 0 "dump on a read-only mount" -- "$PLEDGED" dump --data "$work/ro" --limit 1
	expect 0 "rejections on a read-only mount" -- "$PLEDGED" rejections --data "$work/ro"
	expect 0 "a dry run on a read-only mount" -- "$PLEDGED" replay --data "$work/ro" --dry-run
	contains "$work/out" '"raised":5802600' "the figures from a read-only mount"
	expect 0 "backup of a read-only mount" -- "$PLEDGED" backup --data "$work/ro" --to "$work/ro-copy"
	"$PLEDGED" serve --read-only --data "$work/ro" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/ro-serve.log" &
	ro_serve=$!
	port=$(serve_port "$work/ro-serve.log")
	curl -s "http://127.0.0.1:$port/v1/campaigns/jess-phillips-for-labour-leader" >"$work/ro.json"
	contains "$work/ro.json" '"raised":5802600' "serve --read-only answers from a read-only mount"
	admin=$(admin_port "$work/ro-serve.log")
	curl -s "http://127.0.0.1:$admin/healthz" >"$work/ro.json"
	contains "$work/ro.json" '"store_writable":false' "its health says the mount takes no writes"
	curl -s "http://127.0.0.1:$admin/metrics" >"$work/ro.json"
	contains "$work/ro.json" 'pledged_store_writable 0' "so do its metrics"
	kill -TERM "$ro_serve"
	wait "$ro_serve" && ok || fail "serve --read-only stops cleanly"
	expect 3 "a rebuild cannot write a read-only mount" -- "$PLEDGED" replay --data "$work/ro"
	contains "$work/err" "read-only file system (this command writes the data dir; on a read-only mount" \
		"the rebuild says the mount is read-only, and what runs there"
	expect 3 "nor can import" -- "$PLEDGED" import --data "$work/ro" <"$DEMO"
	umount "$work/ro"
else
	echo "test_cli: cannot make a read-only bind mount (needs root): skipping that part"
fi

# Files this user may read but not write (a copy owned by another user, a
# snapshot's permissions): LMDB cannot create or lock lock.mdb there, so
# readers go on without it. Run as nobody on a copy that has no lock.mdb.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PLEDGED" --help >/dev/null 2>&1; then
	theirs=$(mktemp -d)
	chmod 755 "$theirs"
	cp "$work/backup/data.mdb" "$theirs/"
	chmod 444 "$theirs/data.mdb"
	chmod 555 "$theirs"
	nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	as_nobody() { $nobody "$@"; }
	expect 0 "verify of files it cannot write" -- as_nobody "$PLEDGED" verify --data "$theirs"
	expect 0 "a dry run of files it cannot write" -- as_nobody "$PLEDGED" replay --data "$theirs" --dry-run
	contains "$work/out" '"raised":5802600' "the figures from files it cannot write"
	# TMPDIR set empty is unset: the scratch dir goes to /tmp, not to / (which
	# nobody may not write), and verify does not take it for a --scratch ''.
	expect 0 "a dry run with TMPDIR set empty" -- env TMPDIR= $nobody "$PLEDGED" replay --data "$theirs" --dry-run
	expect 0 "verify with TMPDIR set empty" -- env TMPDIR= $nobody "$PLEDGED" verify --data "$theirs"
	$nobody "$PLEDGED" serve --read-only --data "$theirs" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/theirs-serve.log" &
	theirs_serve=$!
	port=$(serve_port "$work/theirs-serve.log")
	curl -s "http://127.0.0.1:$port/v1/campaigns/jess-phillips-for-labour-leader" >"$work/theirs.json"
	contains "$work/theirs.json" '"raised":5802600' "serve --read-only answers from files it cannot write"
	curl -s "http://127.0.0.1:$port/readyz" >"$work/theirs.json"
	contains "$work/theirs.json" '"status":"ready","state":"read_only"' "a read-only serve is ready for readers"
	kill -TERM "$theirs_serve"
	wait "$theirs_serve" && ok || fail "serve --read-only of files it cannot write stops cleanly"
	[ ! -e "$theirs/lock.mdb" ] && ok || fail "nothing was created beside files it cannot write"
	expect 3 "a rebuild of files it cannot write" -- as_nobody "$PLEDGED" replay --data "$theirs"
	contains "$work/err" "permission denied" "the refusal says why"
	# Files it may not read, and a dir it may not enter: said so, not
	# "no pledged data here" nor "this command writes".
	chmod 755 "$theirs"
	chmod 400 "$theirs/data.mdb"
	expect 3 "dump of a file it cannot read" -- as_nobody "$PLEDGED" dump --data "$theirs"
	contains "$work/err" "permission denied (this command reads" "dump says it may not read"
	chmod 700 "$theirs"
	for cmd in verify compact upgrade; do
		expect 3 "$cmd of a dir it cannot enter" -- as_nobody "$PLEDGED" $cmd --data "$theirs"
		contains "$work/err" "permission denied" "$cmd says it may not enter"
	done
	# A data dir whose files it may write but not the dir itself: serve
	# writes the embedded broker's address there, and says it cannot.
	chmod 755 "$theirs"
	cp "$work/backup/data.mdb" "$work/backup/pledged.dir" "$theirs/"
	"$PLEDGED" dump --data "$theirs" --limit 1 >/dev/null 2>&1 # makes lock.mdb
	: >"$theirs/writer.lock"
	chmod 666 "$theirs"/*
	chmod 555 "$theirs"
	expect 3 "serve with a data dir it cannot write in" -- as_nobody timeout 20 "$PLEDGED" serve \
		--data "$theirs" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
	contains "$work/err" "which must be writable" "serve says the data dir must be writable"
	chmod 755 "$theirs"
	rm -rf "$theirs"
else
	echo "test_cli: cannot run pledged as another user (needs root, setpriv and a build nobody may run): skipping that part"
fi

finish
