#!/bin/sh
# test_docs.sh — the project's documents say what the code does and point
# only at what the repository holds.
# Usage: test_docs.sh GENERATED_EVENTS_MD SOURCE_DIR
#  - docs/events.md is exactly what the schema tables generate (a field,
#    limit or reason added in code and not in the doc fails here);
#  - every repository path that README.md and docs/*.md name exists, and
#    the README's layout table names every source file of the layers, and
#    nothing that is not there;
#  - no file names a document the repository does not contain, and no
#    source a file by a path it does not have.
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

# The README's layout table names every source file of the layers: a row's
# first path gives the folder of the names after it ("store/index.{h,c}",
# "daemon/kafka/consumer.{h,c}, consumer_internal.h"), a module's header
# comes with its .c, and a folder ("web/") covers what it holds.
grep -E '^\| [a-z]* *\| `(base|schemas|store|events|projections|daemon)/' "$src/README.md" |
	cut -d'|' -f3 | while read -r row; do
	folder=
	for item in $(printf '%s\n' "$row" | grep -oE '`[^`]+`' | tr -d '`'); do
		case $item in */*) [ -z "$folder" ] && folder=${item%/*} ;; esac
		case $item in "$folder"/*) ;; *) item=$folder/$item ;; esac
		case $item in
		*"{"*"}"*)
			pre=${item%%"{"*} rest=${item#*"{"}
			for alt in $(printf '%s\n' "${rest%%"}"*}" | tr ',' ' '); do
				echo "$pre$alt${rest#*"}"}"
			done ;;
		*) echo "$item" ;;
		esac
	done
done >"$work/named"
(cd "$src" && find base schemas store events projections daemon -name '*.[ch]') | sort >"$work/sources"
unnamed=
while read -r f; do
	covered=0
	while read -r named; do
		case $named in
		*/) case $f in "$named"*) covered=1 ;; esac ;;
		*) case $f in $named | "${named%.c}.h" | "${named%.h}.c") covered=1 ;; esac ;;
		esac
		[ "$covered" = 1 ] && break
	done <"$work/named"
	[ "$covered" = 1 ] || unnamed="$unnamed $f"
done <"$work/sources"
if [ -z "$unnamed" ]; then ok; else fail "README.md's layout table leaves out:$unnamed"; fi
# ...and names nothing that is not there (a pattern, "cmd_*.c", something).
gone=
while read -r named; do
	found=0
	for hit in "$src"/$named; do
		[ -e "$hit" ] && found=1 && break
	done
	[ "$found" = 1 ] || gone="$gone $named"
done <"$work/named"
if [ -z "$gone" ]; then ok; else fail "README.md's layout table names what is not there:$gone"; fi

# The team's contract lives outside the repository: nothing may send readers there.
(cd "$src" && git ls-files 2>/dev/null || find . -type f) | grep -v '^tests/http/node_modules/' >"$work/files"
hits=$(cd "$src" && while read -r f; do [ -f "$f" ] && grep -l 'CONTRACT\.md' "$f"; done <"$work/files" | grep -v '^tests/unit/test_docs.sh$')
if [ -z "$hits" ]; then ok; else fail "files name CONTRACT.md, which the repository does not contain: $hits"; fi

# The sources name files by their path from the top as well ("see
# daemon/http/web/meson.build"): those are there too.
gone=$(cd "$src" && grep -E '\.(c|h|sh|mjs|js|build|py|awk)$' "$work/files" | while read -r f; do
	[ -f "$f" ] && grep -ohE '(^|[^A-Za-z0-9_./-])(base|schemas|store|events|projections|daemon|tests|deploy|docs)/[A-Za-z0-9_./-]+' "$f"
done | sed -E 's/^[^a-z]//; s/[.]+$//' | grep -E '\.(c|h|md|js|mjs|sh|build|css|svg|py|service|yaml)$' | sort -u |
	while read -r path; do [ -e "$path" ] || printf ' %s' "$path"; done)
if [ -z "$gone" ]; then ok; else fail "the sources name what is not in the repository:$gone"; fi

finish
