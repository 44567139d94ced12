#!/bin/sh
# test_http_doc.sh — docs/http.md says what the server does.
# Usage: test_http_doc.sh PLEDGED DEMO_JSONL SOURCE_DIR
#  - every `curl … localhost:8080/PATH` (the public listener) or
#    `localhost:8081/PATH` (the operators') followed by a ```json block is
#    sent to a server holding the demo campaign and one refused comment, and
#    the answer must equal the block (but for the time a rejection was made);
#  - every cursor README.md says a page of comments ends with is its "next";
#  - every route of the router (HTTP_ROUTES in http_internal.h) heads a
#    section, every header the server sets and every status it answers with
#    appears in the document, and so does every query parameter it takes.
# Skipped (77) without curl or jq.
set -u
pledged=$1
demo=$2
src=$3
doc="$src/docs/http.md"
command -v curl >/dev/null && command -v jq >/dev/null || { echo "curl or jq missing: skipped"; exit 77; }
work=$(mktemp -d)
serve=
trap '[ -n "$serve" ] && kill "$serve" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/../unit/testlib.sh"

data="$work/data"
"$pledged" import --data "$data" <"$demo" 2>/dev/null || fail "importing the demo"
echo '{"v":1,"type":"comment.posted","id":"late-2","at":1579900000000,"campaign":"jess-phillips-for-labour-leader","supporter":"s-unknown","comment":"c-99","text":"Hello"}' |
	"$pledged" import --data "$data" 2>/dev/null
"$pledged" serve --read-only --data "$data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/log" &
serve=$!
port=$(serve_port "$work/log")
admin=$(admin_port "$work/log")
[ -n "$port" ] && [ -n "$admin" ] || { cat "$work/log"; fail "serve did not start"; finish; exit 1; }

# The examples: "PORT<TAB>PATH<TAB>expected JSON" for each json block after a curl line.
awk '/^    curl / { url = ""; for (i = 1; i <= NF; i++) if ($i ~ /localhost:808[01]\//) url = $i
		gsub(/\047/, "", url); sub(/.*localhost:/, "", url); next }
     /^```json$/ { injson = 1; body = ""; next }
     /^```$/ && injson { injson = 0; if (url != "") print substr(url, 1, 4) "\t" substr(url, 5) "\t" body; url = ""; next }
     injson { body = body $0 }' "$doc" >"$work/examples"
[ "$(wc -l <"$work/examples")" -ge 6 ] && ok || fail "fewer examples in docs/http.md than expected"
# Rejections are stamped with the time they were made: leave that out.
normal='if type == "object" and has("rejections") then .rejections |= map(del(.at)) else . end'
while IFS="$(printf '\t')" read -r listener path expected; do
	to=$port
	[ "$listener" = 8081 ] && to=$admin
	actual=$(curl -s "http://127.0.0.1:$to$path")
	a=$(printf '%s' "$actual" | jq -S -c "$normal" 2>/dev/null)
	e=$(printf '%s' "$expected" | jq -S -c "$normal" 2>/dev/null)
	if [ -n "$e" ] && [ "$a" = "$e" ]; then
		ok
	else
		fail "GET $path answers $actual, docs/http.md shows $expected"
	fi
done <"$work/examples"

# Every conditional request shown (here and in the README) is answered as its comment says.
for file in "$doc" "$src/README.md"; do
	awk '/\\$/ { sub(/\\$/, ""); line = line $0; next } { print line $0; line = "" }' "$file" |
		grep "^ *curl .*If-None-Match" >"$work/conditional"
	[ -s "$work/conditional" ] && ok || fail "no conditional request shown in $file"
	while read -r line; do
		tag=$(echo "$line" | sed -n "s/.*If-None-Match: \(\"[^\"]*\"\).*/\1/p")
		path=$(echo "$line" | sed -n 's/.*localhost:8080\([^ ]*\).*/\1/p')
		want=$(echo "$line" | sed -n 's/.*# *\([0-9][0-9][0-9]\).*/\1/p')
		got=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $tag" "http://127.0.0.1:$port$path")
		[ "$got" = "$want" ] && ok || fail "$file: If-None-Match $tag on $path answers $got, it says $want"
	done <"$work/conditional"
done

# Every cursor the README says a page ends with is the one it ends with.
awk '/^ *curl / { url = ""; for (i = 1; i <= NF; i++) if ($i ~ /localhost:8080\//) url = $i
		gsub(/\047/, "", url); sub(/.*localhost:8080/, "", url); next }
     /# ends with "next":"/ && url != "" { n = $0; sub(/.*"next":"/, "", n); sub(/".*/, "", n)
		print url "\t" n; url = "" }' "$src/README.md" >"$work/cursors"
[ -s "$work/cursors" ] && ok || fail "no page's cursor shown in README.md"
while IFS="$(printf '\t')" read -r path want; do
	got=$(curl -s "http://127.0.0.1:$port$path" | jq -r .next)
	[ "$got" = "$want" ] && ok || fail "README.md: GET $path ends with \"next\":\"$got\", it says $want"
done <"$work/cursors"

# Every route heads a section ("### GET /v1/campaigns/{id}").
sed -n 's/^[[:space:]]*X([A-Z_]*, "[a-z]*", "\(\/[^"]*\)",.*/\1/p' \
	"$src/daemon/http/http_internal.h" >"$work/routes"
[ "$(wc -l <"$work/routes")" -ge 8 ] && ok || fail "could not read the routes from http_internal.h"
while read -r route; do
	if grep -E '^### ' "$doc" | grep -qF "GET $route"; then ok; else fail "route $route has no section in docs/http.md"; fi
done <"$work/routes"

# Every header the server sets, every status it answers with, every parameter.
grep -ohE 'evhttp_add_header\([^,]+, "[A-Za-z-]+"' "$src"/daemon/http/*.c |
	sed 's/.*"\(.*\)"/\1/' | grep -vx 'Content-Type\|Content-Length' | sort -u >"$work/headers"
while read -r h; do
	if grep -qF "\`$h\`" "$doc"; then ok; else fail "header $h is not in docs/http.md"; fi
done <"$work/headers"
grep -ohE '(http_reply_error|http_reply_json|evhttp_send_reply)\(r(->req)?, [0-9]{3}|\? 200 : [0-9]{3}' \
	"$src"/daemon/http/*.c | grep -oE '[0-9]{3}$' | sort -u >"$work/statuses"
while read -r status; do
	if grep -qF "\`$status\`" "$doc" || grep -qF "$status " "$doc"; then ok; else fail "status $status is not in docs/http.md"; fi
done <"$work/statuses"
sed -n '/^static const char \*const names\[\]/,/};/p' "$src/daemon/http/http_query.c" |
	grep -oE '"[a-z_]+"' | tr -d '"' >"$work/params"
[ -s "$work/params" ] && ok || fail "could not read the parameters from http_query.c"
while read -r p; do
	if grep -qF "\`$p\`" "$doc"; then ok; else fail "parameter $p is not in docs/http.md"; fi
done <"$work/params"
grep -ohE '# TYPE pledged_[a-z_]+' "$src/daemon/report/metrics.c" | sed 's/# TYPE //' | sort -u >"$work/metrics"
[ "$(wc -l <"$work/metrics")" -ge 10 ] && ok || fail "could not read the metrics from metrics.c"
while read -r m; do
	if grep -qF "| \`$m\` |" "$doc"; then ok; else fail "metric $m is not in the table of docs/http.md"; fi
done <"$work/metrics"

finish
