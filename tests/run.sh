#!/bin/sh
# run.sh — build pledged with warnings as errors under AddressSanitizer and
# UBSan, run every test suite, run each libFuzzer target for FUZZ_SECONDS
# (default 30; 0 skips them), and end with "N passed, N failed" counted over
# the test programs and fuzz targets. Extra arguments go to `meson test`
# (e.g. --suite unit).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build-test}
if [ ! -d "$BUILD" ]; then
	meson setup "$BUILD" -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
		--buildtype=debugoptimized || exit 1
fi
ninja -C "$BUILD" || { echo "0 passed, 1 failed"; exit 1; }
meson test -C "$BUILD" --print-errorlogs "$@" >"$BUILD/test-output.txt" 2>&1
status=$?
cat "$BUILD/test-output.txt"
# meson's summary: "Ok: N", "Fail: N", "Timeout: N", "Unexpected Pass: N", "Skipped: N".
count() { awk -F: -v k="$1" '$1 == k { n += $2 } END { print n + 0 }' "$BUILD/test-output.txt"; }
ok=$(count "Ok")
bad=$(( $(count "Fail") + $(count "Timeout") + $(count "Unexpected Pass") ))
skipped=$(count "Skipped")
[ "$status" = 0 ] || [ "$bad" -gt 0 ] || bad=1

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
if [ "$FUZZ_SECONDS" -gt 0 ] && command -v clang >/dev/null; then
	./tests/fuzz/run.sh "$FUZZ_SECONDS" >"$BUILD/fuzz-output.txt" 2>&1
	cat "$BUILD/fuzz-output.txt"
	fuzz=$(tail -n 1 "$BUILD/fuzz-output.txt")
	ok=$((ok + ${fuzz%% passed*}))
	fuzz_failed=${fuzz#*passed, }
	bad=$((bad + ${fuzz_failed%% failed*}))
fi
echo "$ok passed, $bad failed, $skipped skipped"
[ "$bad" = 0 ]
