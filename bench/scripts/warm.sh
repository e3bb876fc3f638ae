#!/usr/bin/env bash
# bench/scripts/warm.sh: handshake latency and cost with and without the warm pool,
# in one run. Two throng processes, identical but for upstream.warm (0 and
# WARM), take turns in front of one throng-bench echo backend; throng is
# pinned to CPU 0, the backend and the load generator to CPU 1. Each round
# runs two loads against both, alternating which goes first:
#   paced:  -rate RATE/s with 8 workers: the latency of one handshake
#   flat:   -c 32 unbounded: handshakes per proxy CPU-second
# Prints a markdown table (medians over ROUNDS rounds) and writes it to
# bench/results/warm.md. Not run in CI.
#
# usage: bench/scripts/warm.sh [-rounds 3] [-d 5s] [-rate 500] [-warm 8]
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=3
D=5s
RATE=500
WARM=8
while [ $# -gt 0 ]; do
	case "$1" in
	-rounds) ROUNDS=${2:?}; shift 2 ;;
	-d) D=${2:?}; shift 2 ;;
	-rate) RATE=${2:?}; shift 2 ;;
	-warm) WARM=${2:?}; shift 2 ;;
	*) sed -n 's/^# usage: //p' "$0" >&2; exit 2 ;;
	esac
done

log() { echo "warm: $*" >&2; }
# shellcheck source=bench/scripts/lib.sh
. bench/scripts/lib.sh
command -v jq >/dev/null || install jq
make -s build
scratch
work=$WORK

BACKEND=127.0.0.1:9401
start_echo "$BACKEND"

# start_throng WARM PORT: starts throng with that pool size; prints its PID.
start_throng() {
	throng_toml "127.0.0.1:$2" "$BACKEND" "warm = $1" >"$work/throng-$1.toml"
	taskset -c 0 bin/throng -config "$work/throng-$1.toml" >/dev/null 2>"$work/throng-$1.log" &
	echo $!
}
P0=$(start_throng 0 9410)
PIDS+=("$P0")
PW=$(start_throng "$WARM" 9411)
PIDS+=("$PW")
for port in 9410 9411; do wait_port "127.0.0.1:$port"; done

# run LABEL PID PORT ARGS...: one handshake run, its JSON kept as LABEL-n.json.
run() {
	local label=$1 pid=$2 port=$3
	shift 3
	taskset -c 1 bin/throng-bench handshake -url "ws://127.0.0.1:$port/" -pid "$pid" -d "$D" -json "$@" >"$work/$label.json"
}
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order="0 w"; else order="w 0"; fi
	for which in $order; do
		if [ "$which" = 0 ]; then pid=$P0 port=9410; else pid=$PW port=9411; fi
		run "paced-$which-$r" "$pid" "$port" -c 8 -rate "$RATE/s"
		run "flat-$which-$r" "$pid" "$port" -c 32
	done
done

# median LOAD WHICH JQ: the median over rounds of a figure.
median() {
	for r in $(seq "$ROUNDS"); do jq -r "$3" "$work/$1-$2-$r.json"; done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
row() {
	local which=$1 name=$2
	printf '| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n' "$name" \
		"$(median paced "$which" .latency.p50_us)" "$(median paced "$which" .latency.p99_us)" \
		"$(median flat "$which" .handshakes_per_sec)" "$(median flat "$which" .latency.p50_us)" \
		"$(median flat "$which" '.targets[0].handshakes_per_cpu_second')"
}
mkdir -p bench/results
{
	echo "Warm pool: \`bench/scripts/warm.sh -rounds $ROUNDS -d $D -rate $RATE -warm $WARM\`, $(nproc) CPUs, $(uname -r), $(go env GOVERSION); medians of $ROUNDS rounds."
	echo
	echo "| throng | paced $RATE/s p50 µs | paced p99 µs | flat -c 32 handshakes/s | flat p50 µs | handshakes per proxy CPU-s |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	row 0 "warm = 0"
	row w "warm = $WARM"
	echo
	# The pool's counters: ask for a stats line and wait (up to 5 s) for it.
	before=$(grep -c '"msg":"stats"' "$work/throng-$WARM.log" || true)
	kill -USR1 "$PW"
	for _ in $(seq 50); do
		[ "$(grep -c '"msg":"stats"' "$work/throng-$WARM.log" || true)" -gt "$before" ] && break
		sleep 0.1
	done
	grep '"msg":"stats"' "$work/throng-$WARM.log" | tail -1 | grep -o '"\(dials\|warm_used\|warm_stale\|warm_dials\)":[0-9]*' | tr '\n' ' '
	echo
} | tee bench/results/warm.md
