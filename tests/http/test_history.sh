#!/bin/sh
# test_history.sh — history, as_of and platform totals over HTTP, against
# a point-in-time replay of the same log.
# Usage: test_history.sh PLEDGED DEMO_JSONL
#
# Besides the demo, a campaign whose events arrive out of time order: a
# pledge timed before one logged earlier, a refund timed before its
# pledge, a removal timed before its comment, a supporter who pledges
# twice and one whose only pledge is refunded. And erasures out of time
# order: in erased-c, a comment its author's erasure hides after an
# earlier-logged, later-timed erasure had, and one removed in the log
# before an earlier-timed erasure of its author (a comment counts as
# removed from the time of what removed it in the log; an erasure of a
# removed comment changes nothing); in later-c, opened after its first
# pledge and comment were timed, their author forgotten in between. At every instant checked,
# /v1/campaigns/{id}?as_of=T must give the figures `replay --dry-run
# --until-time T` gives; the history's buckets must add up to them.
set -u
PLEDGED=$1 DEMO=$2
work=$(mktemp -d)
serve=
trap '[ -n "$serve" ] && kill "$serve" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/../unit/testlib.sh"
command -v curl >/dev/null || { echo "test_history: curl missing: skipped"; exit 77; }

H=3600000
T0=1577836800000 # 2020-01-01T00:00:00Z
at() { echo $((T0 + $1)); }
ev() { # ev ID TYPE AT_OFFSET FIELDS…
	printf '{"v":1,"id":"%s","type":"%s","at":%s,"campaign":"late-c"%s}\n' "$1" "$2" "$(at "$3")" "$4"
}
{
	cat "$DEMO"
	ev l01 campaign.opened 0 ',"title":"Late","owner":"O","currency":"GBP"'
	ev l02 pledge.created $((5 * H)) ',"pledge":"p1","supporter":"s1","amount":1000,"currency":"GBP"'
	ev l03 pledge.created $((1 * H)) ',"pledge":"p2","supporter":"s2","amount":500,"currency":"GBP"'
	ev l04 pledge.refunded $((3 * H)) ',"pledge":"p1","amount":1000'
	ev l05 pledge.created $((2 * H)) ',"pledge":"p3","supporter":"s1","amount":200,"currency":"GBP"'
	ev l06 comment.posted $((4 * H)) ',"comment":"c1","supporter":"s2","text":"first"'
	ev l07 comment.posted $((6 * H)) ',"comment":"c2","supporter":"s1","text":"second"'
	ev l08 comment.removed $((3 * H)) ',"comment":"c1"'
	ev l09 pledge.created $((7 * H)) ',"pledge":"p4","supporter":"s3","amount":300,"currency":"GBP"'
	ev l10 pledge.refunded $((8 * H)) ',"pledge":"p4","amount":300'
	ee() { printf '{"v":1,"id":"%s","type":"%s","at":%s%s}\n' "$1" "$2" "$(at "$3")" "$4"; }
	ee x01 campaign.opened 0 ',"campaign":"erased-c","title":"Erased","owner":"O","currency":"GBP"'
	ee x02 pledge.created 1 ',"campaign":"erased-c","pledge":"q2","supporter":"u2","amount":100,"currency":"GBP"'
	ee x03 comment.posted $((1 * H)) ',"campaign":"erased-c","comment":"d2","supporter":"u2","text":"twice"'
	ee x04 supporter.forgotten $((9 * H)) ',"supporter":"u2"'
	ee x05 supporter.forgotten $((3 * H)) ',"supporter":"u2"'
	ee x06 pledge.created 1 ',"campaign":"erased-c","pledge":"q3","supporter":"u3","amount":100,"currency":"GBP"'
	ee x07 comment.posted $((1 * H)) ',"campaign":"erased-c","comment":"d3","supporter":"u3","text":"removed"'
	ee x08 comment.removed $((8 * H)) ',"campaign":"erased-c","comment":"d3"'
	ee x09 supporter.forgotten $((4 * H)) ',"supporter":"u3"'
	ee y01 campaign.opened $((5 * H)) ',"campaign":"later-c","title":"Later","owner":"O","currency":"GBP"'
	ee y02 pledge.created $((1 * H)) ',"campaign":"later-c","pledge":"q1","supporter":"u1","amount":100,"currency":"GBP"'
	ee y03 comment.posted $((1 * H)) ',"campaign":"later-c","comment":"d1","supporter":"u1","text":"early"'
	ee y04 supporter.forgotten $((2 * H)) ',"supporter":"u1"'
	# The demo's first commenter asks to be forgotten, a week after it closed.
	printf '{"v":1,"id":"l11","type":"supporter.forgotten","at":1580400000000,"supporter":"sup-0010"}\n'
} >"$work/events.jsonl"
expect 0 "import" -- "$PLEDGED" import --data "$work/d" <"$work/events.jsonl"
contains "$work/err" "2083 applied, 0 rejected" "every event applied"

"$PLEDGED" serve --read-only --data "$work/d" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/serve.log" &
serve=$!
port=$(serve_port "$work/serve.log")
[ -n "$port" ] && ok || fail "serve did not start: $(cat "$work/serve.log")"
get() { curl -s -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$port$1"; }
figures() { sed -n 's/.*"raised":\(-*[0-9]*\),"pledges":\([0-9]*\),"supporters":\([0-9]*\),"comments":\([0-9]*\),"status":"\([a-z]*\)".*/\1 \2 \3 \4 \5/p'; }

# as_of against the dry run, for both campaigns, at instants around every
# event of late-c and on each day of the demo.
DEMO_ID=jess-phillips-for-labour-leader
instants=""
for half in $(seq 0 19); do instants="$instants $(at $((half * H / 2)))"; done
for day in 04 05 09 13 14 17 23 24; do instants="$instants 2020-01-${day}T12:00:00Z"; done
instants="$instants 2020-01-24 2020-02-01"
for t in $instants; do
	"$PLEDGED" replay --data "$work/d" --dry-run --until-time "$t" >"$work/replay" 2>/dev/null
	for c in late-c erased-c later-c $DEMO_ID; do
		want=$(grep "\"id\":\"$c\"" "$work/replay" | figures)
		code=$(get "/v1/campaigns/$c?as_of=$t")
		got=$(figures <"$work/body")
		if [ -z "$want" ]; then
			[ "$code" = 404 ] && ok || fail "$c as of $t: $code, but it had not opened"
		else
			[ "$code" = 200 ] && [ "$got" = "$want" ] && ok ||
				fail "$c as of $t: $code '$got', the replay says '$want'"
		fi
	done
done

# The history: each bucket's totals are the as_of of its last millisecond,
# and the changes add up to them.
get "/v1/campaigns/late-c/history?interval=hour&from=$T0&to=$(at $((9 * H)))" >/dev/null
[ "$(grep -o '"start":' "$work/body" | wc -l)" = 10 ] && ok || fail "ten hourly buckets: $(cat "$work/body")"
cp "$work/body" "$work/history"
for i in 0 3 5 7 9; do
	end=$(at $(((i + 1) * H)))
	get "/v1/campaigns/late-c?as_of=$((end - 1))" >/dev/null
	want=$(figures <"$work/body" | cut -d' ' -f1-4)
	bucket=$(sed 's/},{"start"/\n/g' "$work/history" | sed -n "$((i + 1))p")
	got=$(echo "$bucket" | sed -n 's/.*"end":[0-9]*,"raised":\(-*[0-9]*\),"pledges":\([0-9]*\),"supporters":\([0-9]*\),"comments":\([0-9]*\),"change".*/\1 \2 \3 \4/p')
	[ "$got" = "$want" ] && ok || fail "hour $i of the history: '$got', as_of says '$want'"
done
sums=$(sed 's/"change":{"raised":\(-*[0-9]*\),"pledges":\(-*[0-9]*\)/\nCHANGE \1 \2\n/g' "$work/history" |
	awk '$1 == "CHANGE" { r += $2; p += $3 } END { print r, p }')
[ "$sums" = "700 4" ] && ok || fail "the changes add up to 700 raised in 4 pledges: $sums"
get "/v1/campaigns/$DEMO_ID/history?interval=day" >/dev/null
contains "$work/body" '"interval":"day","from":1578132000000,"to":1579802400000' "the demo's days, by default from opening to closing"
contains "$work/body" '"raised":5804100,"pledges":2020,"supporters":1975,"comments":10,"change"' "the last day ends at the final figures"

# The list as of a time: only what had opened, with its figures then.
get "/v1/campaigns?as_of=$(at $H)" >/dev/null
contains "$work/body" '"campaigns":[{"id":"erased-c",' "before the demo opened, erased-c"
contains "$work/body" '},{"id":"late-c",' "and late-c"
[ "$(grep -o '"id":' "$work/body" | wc -l)" = 2 ] && ok || fail "two campaigns listed: $(cat "$work/body")"
contains "$work/body" '"raised":500,"pledges":1,"supporters":1,"comments":0,"status":"open"' "late-c's figures then"
contains "$work/body" "\"as_of\":$(at $H)" "the list says when"
get "/v1/campaigns/$DEMO_ID?as_of=2020-01-10" >/dev/null
want=$(figures <"$work/body")
get "/v1/campaigns?as_of=2020-01-10&status=open" >/dev/null
[ "$(grep -o '"id":' "$work/body" | wc -l)" = 4 ] && ok || fail "all four open on the 10th: $(cat "$work/body")"
[ "$(sed 's/},{/}\n{/g' "$work/body" | grep "\"id\":\"$DEMO_ID\"" | figures)" = "$want" ] && ok ||
	fail "the list as of the 10th gives the demo as its own answer does"
get "/v1/campaigns?as_of=2020-01-10&status=closed" >/dev/null
contains "$work/body" '"campaigns":[]' "nothing was closed on the 10th"

# The feed as of a time: posted by then, not removed by then; an erased
# comment never again, though it still counts in the figures of before.
get "/v1/campaigns/late-c/comments?as_of=$(at $((5 * H)))" >/dev/null
contains "$work/body" '{"comments":[],"next":null}' "c1 was removed from the time it was posted"
get "/v1/campaigns/late-c/comments?as_of=$(at $((7 * H)))" >/dev/null
contains "$work/body" '"id":"c2"' "c2 by its time"
[ "$(get "/v1/campaigns/late-c/comments?as_of=2019-12-31")" = 404 ] && ok || fail "no feed before the opening"
get "/v1/campaigns/$DEMO_ID?as_of=2020-01-20" >/dev/null
contains "$work/body" '"comments":10,' "ten comments then, the erased one included"
cursor= seen=0
while :; do
	get "/v1/campaigns/$DEMO_ID/comments?as_of=2020-01-20&limit=3${cursor:+&before=$cursor}" >/dev/null
	seen=$((seen + $(grep -o '"id":"c-' "$work/body" | wc -l)))
	grep -q 'Jo Miller\|c-01' "$work/body" && fail "the erased comment shows as of the 20th"
	cursor=$(sed -n 's/.*"next":"\([0-9a-f-]*\)".*/\1/p' "$work/body")
	[ -z "$cursor" ] && break
done
[ "$seen" = 9 ] && ok || fail "nine comments paged through as of the 20th, not $seen"

# Platform totals: all campaigns in GBP; s1 and s2 back late-c, s3 no longer does;
# u1, u2 and u3 back the erased ones.
[ "$(get /v1/totals)" = 200 ] && ok || fail "totals"
contains "$work/body" '{"currencies":[{"currency":"GBP","raised":5805100,"pledges":2027,"campaigns":{"open":3,"closed":1},"supporters":1980}]}' "platform totals"

# Parameters are checked.
for q in "as_of=yesterday" "as_of=" "as_of=1&as_of=2" "bogus=1" "as_of=2020-02-31" \
	"as_of=2021-02-29" "as_of=2020-01-10T12:30:60Z" "as_of=2020-1-10" "as_of=1%00x" \
	"as_of=9223372036854775807"; do
	[ "$(get "/v1/campaigns/late-c?$q")" = 400 ] && ok || fail "?$q is not refused"
done
for q in "interval=minute" "interval=hour&from=0" "from=$(at $H)&to=$T0" \
	"interval=week&from=0&to=9223372036854775807" "interval=week&from=0&to=9999-12-31" \
	"interval=hour&from=9223372036854775000&to=9223372036854775807" "interval=day%00x" "as_of=1"; do
	[ "$(get "/v1/campaigns/late-c/history?$q")" = 400 ] && ok || fail "history?$q is not refused"
done
contains "$work/body" "unknown parameter; this path takes interval, from and to" "history says what it takes"
# A to before the opening, with no from: from is the opening, which it names.
[ "$(get "/v1/campaigns/late-c/history?to=0")" = 400 ] && ok || fail "history?to=0 is not refused"
contains "$work/body" "to must not be before the campaign opened" "history names the from it took"
[ "$(get "/v1/campaigns/nosuch/history")" = 404 ] && ok || fail "history of no campaign"
[ "$(get "/v1/totals?limit=1")" = 400 ] && ok || fail "totals takes no parameters"
kill "$serve" && wait "$serve" 2>/dev/null

# A gateway's clock behind: comments and the close timed before the
# opening. The history counts them from the opening; the live figures,
# as_of and a dry run agree, the feed as of a time orders the comments by
# their own times as the live feed does, and the history's defaults still
# make a span.
{
	printf '{"v":1,"id":"s1","type":"campaign.opened","at":%s,"campaign":"skew","title":"S","owner":"O","currency":"GBP"}\n' "$(at $((10 * H)))"
	printf '{"v":1,"id":"s2","type":"pledge.created","at":%s,"campaign":"skew","pledge":"sp","supporter":"ss","amount":100,"currency":"GBP"}\n' "$(at $((12 * H)))"
	printf '{"v":1,"id":"s5","type":"comment.posted","at":%s,"campaign":"skew","comment":"sc2","supporter":"ss","text":"earlier, logged first"}\n' "$(at $((2 * H)))"
	printf '{"v":1,"id":"s3","type":"comment.posted","at":%s,"campaign":"skew","comment":"sc","supporter":"ss","text":"early"}\n' "$(at H)"
	printf '{"v":1,"id":"s4","type":"campaign.closed","at":%s,"campaign":"skew"}\n' "$(at $((5 * H)))"
} >"$work/skew.jsonl"
expect 0 "import of events timed before their campaign's opening" -- \
	"$PLEDGED" import --data "$work/skew" <"$work/skew.jsonl"
"$PLEDGED" serve --read-only --data "$work/skew" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
	2>"$work/serve2.log" &
serve=$!
port=$(serve_port "$work/serve2.log")
closed() { sed -n 's/.*"closed_at":\([0-9]*\).*/\1/p' "$1"; }
get /v1/campaigns/skew >/dev/null
cp "$work/body" "$work/live"
[ "$(closed "$work/live")" = "$(at $((10 * H)))" ] && ok ||
	fail "the close counts from the opening: $(cat "$work/live")"
get "/v1/campaigns/skew?as_of=2030-01-01" >/dev/null
[ "$(closed "$work/body")" = "$(closed "$work/live")" ] && ok ||
	fail "as_of's closed_at differs from the live one: $(cat "$work/body")"
"$PLEDGED" replay --data "$work/skew" --dry-run >"$work/replay" 2>/dev/null
[ "$(closed "$work/replay")" = "$(closed "$work/live")" ] && ok || fail "the dry run's closed_at differs"
[ "$(get /v1/campaigns/skew/history)" = 200 ] && ok || fail "the history by default: $(cat "$work/body")"
get /v1/campaigns/skew/comments >/dev/null
cp "$work/body" "$work/feed"
get "/v1/campaigns/skew/comments?as_of=2030-01-01" >/dev/null
cmp -s "$work/feed" "$work/body" && ok || fail "the feed as of now differs: $(cat "$work/feed") $(cat "$work/body")"
contains "$work/body" "\"at\":$(at H)" "a comment keeps its own time in the feed"
contains "$work/body" '"id":"sc2"' "both early comments in the feed"
get "/v1/campaigns/skew/comments?as_of=2030-01-01&limit=1" >/dev/null
contains "$work/body" '"id":"sc2"' "the newest by its own time first, as of a time too"
finish
