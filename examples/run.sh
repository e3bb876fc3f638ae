#!/usr/bin/env bash
# Starts the bundled echo backend and throng in front of it (make run).
# Ctrl-C stops both.
set -euo pipefail
bin=${1:-bin}
cfg=${2:-examples/throng.toml}
"$bin/throng-bench" serve -listen 127.0.0.1:9001 &
backend=$!
"$bin/throng" -config "$cfg" &
proxy=$!
trap 'kill -TERM $proxy $backend 2>/dev/null; wait $proxy $backend 2>/dev/null; exit 0' INT TERM
sleep 0.3
echo
echo "throng is proxying ws://127.0.0.1:8080/ to the echo backend on 127.0.0.1:9001"
echo "try:  websocat ws://127.0.0.1:8080/   (or: npx wscat -c ws://127.0.0.1:8080/)"
echo "Ctrl-C stops both."
wait -n $proxy $backend || true
kill -TERM $proxy $backend 2>/dev/null || true
wait 2>/dev/null || true
