#!/bin/sh
# test_layers.sh — the folder tree is the architecture: check that the code
# keeps to it. Usage: test_layers.sh BUILD_DIR SOURCE_DIR
#
# The build already refuses an #include of a higher layer's header (each
# layer's include path shows only the layers below). This test checks what
# the compiler cannot see:
#  - calls: every symbol an object file uses comes from its own layer or
#    one it may use (from the objects' symbol tables, with nm);
#  - cycles: no two source files call each other, directly or around a loop;
#  - paths: no #include names a path ("../x.h"), which would step around the
#    include path.
# The table below is the README's layout table; a layer may use those
# listed after its name.
set -u
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/testlib.sh"

cat >"$work/layers" <<'EOF'
base
schemas base
store base
events schemas store base
projections schemas store base
pipeline events projections schemas store base
report pipeline events projections schemas store base
kafka report pipeline events projections schemas store base
http report pipeline events projections schemas store base
cli kafka http report pipeline events projections schemas store base
EOF

# Every defined and undefined global symbol of each layer's objects, as
# "layer file D|U symbol".
while read -r layer _; do
	lib=$(find "$build" -name "libpl_$layer.a" | head -n 1)
	if [ -z "$lib" ]; then
		fail "no library for layer $layer under $build"
		continue
	fi
	nm -A -g "$lib" | awk -v layer="$layer" '{
		file = $1; sub(/\.o:.*/, "", file); n = split(file, parts, "/"); file = parts[n]
		if ($2 == "U") print layer, file, "U", $3
		else if (NF == 3) print layer, file, "D", $3
	}'
done <"$work/layers" >"$work/symbols"
[ -s "$work/symbols" ] && ok || fail "no symbols read from the libraries"

# Edges "from-layer from-file to-layer to-file", one per use of another file.
awk '$3 == "D" { where[$4] = $1 " " $2 }
     $3 == "U" { use[++n] = $1 " " $2 " " $4 }
     END { for (i = 1; i <= n; i++) { split(use[i], u, " ")
		if (u[3] in where) { split(where[u[3]], d, " ")
			if (d[2] != u[2]) print u[1], u[2], d[1], d[2], u[3] } } }' \
	"$work/symbols" | sort -u >"$work/edges"
[ -s "$work/edges" ] && ok || fail "no calls between files found"

# Calls go only to the same layer or one it may use.
awk 'NR == FNR { for (i = 2; i <= NF; i++) allowed[$1 " " $i] = 1; next }
     $1 != $3 && !(($1 " " $3) in allowed) {
	print "FAIL: " $1 "/" $2 " uses " $5 " from " $3 "/" $4 ", a layer it may not use" }' \
	"$work/layers" "$work/edges" >"$work/up"
if [ -s "$work/up" ]; then cat "$work/up" >&2; fail "calls that go up or sideways"; else ok; fi

# No loops between files: tsort reports any.
awk '{ print $1 "/" $2, $3 "/" $4 }' "$work/edges" | sort -u | tsort >/dev/null 2>"$work/loops"
if [ -s "$work/loops" ]; then cat "$work/loops" >&2; fail "files that call each other"; else ok; fi

# No include by path.
grep -rnE '#include "[^"]*/' "$src/base" "$src/schemas" "$src/store" "$src/events" \
	"$src/projections" "$src/daemon" --include='*.c' --include='*.h' >"$work/paths"
if [ -s "$work/paths" ]; then cat "$work/paths" >&2; fail "includes by path"; else ok; fi

finish
