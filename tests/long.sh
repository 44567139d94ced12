#!/bin/sh
# long.sh — the long versions of the reliability tests (issue: nothing lost,
# nothing doubled). Not run in CI; run before a release or after touching
# the consumer, the store or the decoders:
#
#   tests/long.sh [KILLS] [FUZZ_SECONDS_PER_TARGET]
#
# Defaults: 100 SIGKILLs of serve (during batches, partition assignment and
# map growth), then each libFuzzer target for 4 hours. Prints
# "N passed, N failed" at the end.
set -u
cd "$(dirname "$0")/.."
KILLS=${1:-100}
FUZZ_SECONDS=${2:-14400}
BUILD=build-long
[ -d "$BUILD" ] || meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C "$BUILD" >/dev/null || exit 1
passed=0
failed=0
if ./tests/kafka/kill9.sh "$BUILD/pledged" "$BUILD/tests/kafka/mock_broker" \
	"$BUILD/tests/kafka/stream_gen" "$KILLS"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
if ./tests/fuzz/run.sh "$FUZZ_SECONDS"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
