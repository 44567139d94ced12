#!/bin/sh
# demo.sh — build pledged, start it on its embedded Kafka broker, publish the
# demo campaign through Kafka, and leave it serving on http://127.0.0.1:8080/
# until Ctrl-C. Usage: deploy/demo.sh [DATA_DIR] (default: demo-data, wiped).
set -eu
cd "$(dirname "$0")/.."
DATA=${1:-demo-data}
LISTEN=${LISTEN:-127.0.0.1:8080}
[ -d build ] || meson setup build >/dev/null
ninja -C build pledged >/dev/null
rm -rf "$DATA"

./build/pledged serve --data "$DATA" --listen "$LISTEN" &
serve=$!
trap 'kill $serve 2>/dev/null; wait $serve 2>/dev/null' EXIT INT TERM
# The embedded broker writes its address once it listens.
for _ in $(seq 100); do
	[ -s "$DATA/broker.address" ] && break
	kill -0 $serve || exit 1
	sleep 0.1
done
./build/pledged publish --data "$DATA" < tests/demo/campaign.jsonl
echo "demo published: open http://$LISTEN/ (Ctrl-C stops pledged)"
wait $serve
