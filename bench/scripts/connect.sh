#!/usr/bin/env bash
# bench/scripts/connect.sh: what a session set-up costs throng and nginx, in one run.
# One throng (loops = 1) and one nginx (1 worker), both pinned to CPU 0, take
# turns in front of one throng-bench echo backend (CPU 1) under
# `throng-bench handshake -c C` (CPU 1), ROUNDS rounds, the first rotating.
# For each run it prints the handshakes per proxy CPU-second and the context
# switches per handshake of the proxy process (voluntary plus involuntary,
# summed over /proc/PID/task/*/status before and after). -gomaxprocs sets
# throng's GOMAXPROCS (default: the runtime's, 1 on one CPU). Not run in CI.
#
# usage: bench/scripts/connect.sh [-rounds 3] [-d 4s] [-c 32] [-gomaxprocs N]
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=3
D=4s
C=32
PROCS=()
while [ $# -gt 0 ]; do
	case "$1" in
	-rounds) ROUNDS=${2:?}; shift 2 ;;
	-d) D=${2:?}; shift 2 ;;
	-c) C=${2:?}; shift 2 ;;
	-gomaxprocs) PROCS=("GOMAXPROCS=${2:?}"); shift 2 ;;
	*) sed -n 's/^# usage: //p' "$0" >&2; exit 2 ;;
	esac
done

log() { echo "connect: $*" >&2; }
# shellcheck source=bench/scripts/lib.sh
. bench/scripts/lib.sh
command -v jq >/dev/null || install jq
command -v nginx >/dev/null || install nginx-light
make -s build
scratch
work=$WORK

BACKEND=127.0.0.1:9501
THRONG=127.0.0.1:9510
NGINX=127.0.0.1:9511
start_echo "$BACKEND"
throng_toml "$THRONG" "$BACKEND" >"$work/throng.toml"
env "${PROCS[@]}" taskset -c 0 bin/throng -config "$work/throng.toml" >/dev/null 2>"$work/throng.log" &
T=$!
PIDS+=("$T")
user=""
[ "$(id -u)" -eq 0 ] && user="user root;"
sed -e "s|@USER@|$user|" -e "s|@TMP@|$work|g" -e "s|@LISTEN@|$NGINX|" -e "s|@LISTEN_SSL@||" -e "s|@SSL@||" \
	-e "s|@BACKEND@|$BACKEND|" -e "s|@FANOUT@|$BACKEND|" bench/scripts/peers/nginx.conf >"$work/nginx.conf"
taskset -c 0 nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" &
PIDS+=($!)
wait_port "$THRONG"
wait_port "$NGINX"
N=$(pgrep -P "${PIDS[-1]}" | head -n1 || true)
[ -n "$N" ] || { log "no nginx worker"; exit 1; }

# switches PID: the context switches of every thread of PID so far.
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
echo "| round | proxy | handshakes per proxy CPU-s | context switches per handshake |"
echo "| ---: | --- | ---: | ---: |"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order="throng nginx"; else order="nginx throng"; fi
	for p in $order; do
		if [ "$p" = throng ]; then pid=$T addr=$THRONG; else pid=$N addr=$NGINX; fi
		before=$(switches "$pid")
		taskset -c 1 bin/throng-bench handshake -url "ws://$addr/" -pid "$pid" -d "$D" -c "$C" -loops 1 \
			-source 127.0.0.2-127.0.0.20 -json >"$work/run.json"
		after=$(switches "$pid")
		jq -r --arg r "$r" --arg p "$p" --argjson s $((after - before)) \
			'"| \($r) | \($p) | \(.targets[0].handshakes_per_cpu_second | floor) | \($s / .handshakes * 100 | floor / 100) |"' "$work/run.json"
	done
done
