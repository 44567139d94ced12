#!/bin/sh
# test_page.sh — the campaign page in headless Chromium.
#
# Usage: test_page.sh SERVE_FIXTURE PLEDGED DEMO_JSONL HOSTILE_JSONL OUT_DIR
#
# Loads the demo campaign plus hostile input (a comment, and a campaign whose
# title, owner and location are markup) into a temporary data dir, serves it
# with serve_fixture, and checks the DOM Chromium builds: totals "£58,041
# with 1975 supporters in 19 days", "Tom W" first, the page script ran, and
# every hostile text is text, on the campaign page, in its <title> and in
# the list of campaigns (no script of theirs ran, no element of theirs was
# made); a per cent of the target past 2^63 is shown exactly. Saves
# OUT_DIR/page.png. Exit 77 (skip) when chromium is not installed.
#
# No --virtual-time-budget: the page keeps an EventSource open, and virtual
# time never advances while a fetch is pending, so Chromium would wait for
# ever. The DOM is dumped after the load event, when deferred scripts ran.
set -eu

fixture=$1 pledged=$2 demo=$3 hostile=$4 out=$5

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
	echo "chromium not installed: skipping"
	exit 77
fi

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

"$pledged" import --data "$work/data" < "$demo" > /dev/null
"$pledged" import --data "$work/data" < "$hostile" > /dev/null
# A target of 1p and 92,234 pledges of £10bn: raised * 100 passes 2^63.
awk 'BEGIN {
	print "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"big-0\",\"at\":1578100000000,\"campaign\":\"big\",\"title\":\"Big\",\"owner\":\"Owner\",\"currency\":\"GBP\",\"target\":1}"
	for (i = 1; i <= 92234; i++)
		printf "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"big-%d\",\"at\":1578100000001,\"campaign\":\"big\",\"pledge\":\"big-%d\",\"supporter\":\"big-%d\",\"amount\":1000000000000,\"currency\":\"GBP\"}\n", i, i, i
}' | "$pledged" import --data "$work/data" > /dev/null

: > "$work/port" # exists before the fixture's own redirection, which its fork may do later
"$fixture" "$work/data" > "$work/port" 2> "$work/fixture.log" &
pid=$!
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's/^port //p' "$work/port")
	[ -n "$port" ] && break
	sleep 0.05
done
if [ -z "$port" ]; then
	echo "serve_fixture did not start:"; cat "$work/fixture.log"; exit 1
fi
base="http://127.0.0.1:$port"
url="$base/c/jess-phillips-for-labour-leader"

browse() {
	timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-dev-shm-usage --user-data-dir="$work/profile" "$@" 2> "$work/chromium.log"
}

dump() { # dump URL FILE
	browse --dump-dom "$1" > "$2" || { echo "chromium failed on $1:"; tail -20 "$work/chromium.log"; exit 1; }
}
dump "$url" "$work/dom.html"
dump "$base/c/hostile-camp" "$work/hostile.html"
dump "$base/" "$work/list.html"
# The server's own HTML: the script, once live, would write the per cent anew.
curl -sf "$base/c/big" > "$work/big.html"

failed=0
check() { # description, then a command that must succeed
	what=$1; shift
	if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failed=$((failed + 1)); fi
}
text=$(sed -e 's/<[^>]*>//g' "$work/dom.html" | tr -s ' \n' '  ')
has_text() { printf '%s' "$text" | grep -qF -- "$1"; }
has_dom() { grep -qF -- "$1" "$work/dom.html"; }
first_name=$(grep -o '<h3 class="name">[^<]*</h3>' "$work/dom.html" | head -1 | sed 's/<[^>]*>//g')

check "totals read 'raised £58,041 with 1975 supporters in 19 days'" \
	has_text "raised £58,041 with 1975 supporters in 19 days"
check "owner and location" has_text "by Jess Phillips for Labour Leader in Birmingham, England, United Kingdom"
check "newest comment first is Tom W (got '$first_name')" test "$first_name" = "Tom W"
check "comment date" has_text "Tom W 15th January 2020"
check "only backers may comment" has_text "Only backers may comment"
check "the page script ran" has_dom '<html lang="en" class="js">'
check "hostile comment shown as text" has_dom "&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x"
check "hostile name shown as text" has_dom "&lt;b&gt;Mallory&lt;/b&gt;"
check "no injected element" sh -c "! grep -q '<img src=\"x\"\|<b>Mallory' '$work/dom.html'"
check "hostile script did not run (title)" has_dom "<title>Jess Phillips for Labour Leader campaign</title>"

# The hostile campaign: its title, owner and location are markup.
in_file() { grep -qF -- "$2" "$1"; }
escaped_title="&lt;script&gt;document.title='pwned'&lt;/script&gt;Roof &amp; \"Gutter\""
check "hostile title escaped in <title>" in_file "$work/hostile.html" "<title>$escaped_title</title>"
check "hostile title escaped in the heading" in_file "$work/hostile.html" ">$escaped_title</h1>"
check "hostile owner shown as text" in_file "$work/hostile.html" "&lt;b&gt;Eve&lt;/b&gt;"
check "hostile location shown as text" in_file "$work/hostile.html" "&lt;img src=x onerror=\"document.title='pwned'\"&gt;"
check "no element of the hostile campaign's" sh -c "! grep -q '<img src=\"x\"\|<b>Eve\|pwned</title>' '$work/hostile.html' '$work/list.html'"
check "hostile title escaped in the list" in_file "$work/list.html" "$escaped_title</a>"
check "the list links every campaign" sh -c "grep -c 'href=\"/c/' '$work/list.html' | grep -qx 3"

# 9,223,400,000,000,000,000 per cent: more than an int64 holds, shown exactly.
check "a per cent past 2^63 on the page" in_file "$work/big.html" '<span id="percent">9223400000000000000</span>'
check "a per cent past 2^63 in the list" in_file "$work/list.html" '<span class="percent">9223400000000000000%</span>'

mkdir -p "$out"
rm -f "$out/page.png"
browse --screenshot="$out/page.png" --window-size=1200,1600 --hide-scrollbars "$url" > /dev/null || true
check "screenshot saved to $out/page.png" test -s "$out/page.png"

kill "$pid"
wait "$pid" && status=0 || status=$?
pid=
check "fixture stopped cleanly" test "$status" -eq 0

echo "$failed failed"
[ "$failed" -eq 0 ]
