#!/bin/sh
# test_docs.sh — the project's documents say what the code does and point
# only at what the repository holds.
# Usage: test_docs.sh GENERATED_EVENTS_MD SOURCE_DIR
#  - docs/events.md is exactly what the schema tables generate (a field,
#    limit or reason added in code and not in the doc fails here);
#  - every repository path that README.md and docs/*.md name exists;
#  - no file names a document the repository does not contain.
set -u
generated=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/testlib.sh"

if diff -u "$src/docs/events.md" "$generated" >"$work/diff"; then
	ok
else
	cat "$work/diff" >&2
	fail "docs/events.md is not what the schema tables give: run 'ninja -C BUILD docs' and commit it"
fi

# Paths in backquotes or link targets that start with a top-level folder.
for doc in "$src/README.md" "$src"/docs/*.md; do
	grep -oE '(`|\]\()(\./)?(base|schemas|store|events|projections|daemon|tests|deploy|docs|\.ci)/[A-Za-z0-9_./{},*-]*' "$doc" |
		sed -E 's/^(`|\]\()//; s/^\.\///' | sort -u >"$work/paths"
	[ -s "$work/paths" ] || [ "$(basename "$doc")" != README.md ] || fail "README.md names no path at all?"
	while read -r path; do
		# "store/store.{h,c}" names two files, "daemon/http/http_*.c" some.
		case $path in
		*"{"*"}"*)
			pre=${path%%"{"*} rest=${path#*"{"}
			alternatives=$(printf '%s\n' "${rest%%"}"*}" | tr ',' ' ')
			post=${rest#*"}"} ;;
		*) pre=$path alternatives="" post="" ;;
		esac
		missing=0
		for alt in ${alternatives:-""}; do
			# shellcheck disable=SC2086 # the glob is meant to expand
			set -- "$src"/$pre$alt$post
			[ -e "$1" ] || missing=1
		done
		if [ "$missing" = 0 ]; then ok; else fail "$(basename "$doc") names $path, which is not in the repository"; fi
	done <"$work/paths"
done

# The team's contract lives outside the repository: nothing may send readers there.
(cd "$src" && git ls-files 2>/dev/null || find . -type f) | grep -v '^tests/http/node_modules/' >"$work/files"
hits=$(cd "$src" && while read -r f; do [ -f "$f" ] && grep -l 'CONTRACT\.md' "$f"; done <"$work/files" | grep -v '^tests/unit/test_docs.sh$')
if [ -z "$hits" ]; then ok; else fail "files name CONTRACT.md, which the repository does not contain: $hits"; fi

finish
