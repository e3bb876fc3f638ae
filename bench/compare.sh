#!/usr/bin/env bash
# bench/compare.sh: throng against nginx (one worker each, pinned to CPU 0),
# in front of the throng-bench echo backend (pinned to CPU 1), driven by
# throng-bench (also on CPU 1), alternating proxies within one run:
#   1. echo, 100 sessions, 64 B, window 1
#   2. echo, 100 sessions, 4 KiB, window 1
#   3. idle, N sessions held silent, sources spread over 127.0.0.2-127.0.0.20
# Prints a markdown table and writes it to bench/results/latest.md.
# Not run in CI. Needs root or sudo to install nginx when it is missing.
#
# usage: bench/compare.sh [-d 10s] [-n 9000] [-hold 20s] [-c 100]
# env:   COMPARE_BACKEND, COMPARE_THRONG, COMPARE_NGINX override the
#        addresses 127.0.0.1:9101, :9180 and :9280.
set -euo pipefail

D=10s
N=9000
HOLD=20s
C=100
usage() { echo "usage: $0 [-d 10s] [-n 9000] [-hold 20s] [-c 100]" >&2; exit 2; }
ARGS=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
	-d) D=${2:?}; shift 2 ;;
	-n) N=${2:?}; shift 2 ;;
	-hold) HOLD=${2:?}; shift 2 ;;
	-c) C=${2:?}; shift 2 ;;
	-h|-help|--help) usage ;;
	*) usage ;;
	esac
done

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# Addresses can be moved when something else holds them.
BACKEND=${COMPARE_BACKEND:-127.0.0.1:9101}
THRONG_ADDR=${COMPARE_THRONG:-127.0.0.1:9180}
NGINX_ADDR=${COMPARE_NGINX:-127.0.0.1:9280}
PROXY_CPU=0
LOAD_CPU=1
SOURCES=127.0.0.2-127.0.0.20

log() { echo "compare: $*" >&2; }

[ "$(nproc)" -ge 2 ] || { log "needs at least 2 CPUs"; exit 1; }

log "building"
make -s build >&2

if ! command -v nginx >/dev/null; then
	log "installing nginx from Debian"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq >&2
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >&2 ||
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2
fi
command -v jq >/dev/null || { log "jq is required"; exit 1; }

TMP=$(mktemp -d -t throng-compare.XXXXXX)
PIDS=()
cleanup() {
	local status=$?
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ "$status" -eq 0 ]; then
		rm -rf "$TMP"
	else
		log "failed; logs kept in $TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port HOST:PORT waits (at most 10 s) until the address accepts.
wait_port() {
	local host=${1%:*} port=${1##*:}
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$1 is not accepting after 10 s"
	return 1
}

# busy HOST:PORT fails when something already accepts there.
busy() {
	local host=${1%:*} port=${1##*:}
	if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
		log "$1 is already in use"
		exit 1
	fi
}
busy "$BACKEND"
busy "$THRONG_ADDR"
busy "$NGINX_ADDR"

log "starting the echo backend on $BACKEND (CPU $LOAD_CPU)"
taskset -c "$LOAD_CPU" bin/throng-bench serve -listen "$BACKEND" -loops 1 2>"$TMP/serve.log" &
PIDS+=($!)
wait_port "$BACKEND"

cat >"$TMP/throng.toml" <<TOML
[server]
listen = ["$THRONG_ADDR"]
loops = 1
# nginx sets no keepalive on its sockets either.
tcp_keepalive = "0s"

[log]
level = "warn"
# nginx runs with access_log off.
access = false

[[route]]
upstream = "echo"

[[upstream]]
name = "echo"
backends = [{ addr = "$BACKEND" }]
TOML
log "starting throng on $THRONG_ADDR (loops 1, CPU $PROXY_CPU)"
taskset -c "$PROXY_CPU" bin/throng -config "$TMP/throng.toml" 2>"$TMP/throng.log" &
THRONG_PID=$!
PIDS+=("$THRONG_PID")
wait_port "$THRONG_ADDR"

USER_DIRECTIVE=""
[ "$(id -u)" -eq 0 ] && USER_DIRECTIVE="user root;"
sed -e "s|@USER@|$USER_DIRECTIVE|" -e "s|@TMP@|$TMP|g" -e "s|@LISTEN@|$NGINX_ADDR|" -e "s|@BACKEND@|$BACKEND|" \
	bench/peers/nginx.conf >"$TMP/nginx.conf"
log "starting nginx on $NGINX_ADDR (1 worker, CPU $PROXY_CPU)"
taskset -c "$PROXY_CPU" nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
NGINX_MASTER=$!
PIDS+=("$NGINX_MASTER")
wait_port "$NGINX_ADDR"
NGINX_PID=""
for _ in $(seq 100); do
	NGINX_PID=$(pgrep -P "$NGINX_MASTER" | head -n1 || true)
	[ -n "$NGINX_PID" ] && break
	sleep 0.1
done
[ -n "$NGINX_PID" ] || { log "no nginx worker"; exit 1; }

# bench NAME ARGS... runs throng-bench pinned to the load CPU, JSON into $TMP/NAME.json.
bench() {
	local name=$1
	shift
	log "run $name: throng-bench $*"
	taskset -c "$LOAD_CPU" bin/throng-bench "$@" -loops 1 -json >"$TMP/$name.json" 2>>"$TMP/bench.log" || {
		log "$name failed: $(tail -n3 "$TMP/bench.log")"
		exit 1
	}
}

# Alternate proxies in every scenario: throng first, then nginx.
for size in 64 4096; do
	bench "echo$size-throng" echo -url "ws://$THRONG_ADDR/" -c "$C" -size "$size" -window 1 -d "$D" -pid "$THRONG_PID"
	bench "echo$size-nginx" echo -url "ws://$NGINX_ADDR/" -c "$C" -size "$size" -window 1 -d "$D" -pid "$NGINX_PID"
done
bench idle-throng idle -url "ws://$THRONG_ADDR/" -n "$N" -hold "$HOLD" -rate 2000/s -source "$SOURCES" -pid "$THRONG_PID"
bench idle-nginx idle -url "ws://$NGINX_ADDR/" -n "$N" -hold "$HOLD" -rate 2000/s -source "$SOURCES" -pid "$NGINX_PID"

# j NAME FILTER reads a value from a run's JSON.
j() { jq -r "$2" "$TMP/$1.json"; }
# row LABEL THRONG NGINX [DIGITS]: a table row with the ratio throng/nginx.
row() {
	awk -v l="$1" -v a="$2" -v b="$3" -v d="${4:-0}" 'BEGIN {
		r = (b + 0 != 0) ? sprintf("%.2f", a / b) : "n/a"
		printf "| %s | %.*f | %.*f | %s |\n", l, d, a, d, b, r
	}'
}

OUT=$TMP/latest.md
{
	echo "# throng vs nginx"
	echo
	echo "- command: \`bench/compare.sh${ARGS[*]:+ ${ARGS[*]}}\`"
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
	echo "- versions: throng $(git describe --tags --always --dirty 2>/dev/null || echo dev), $(nginx -v 2>&1 | sed 's|.*: ||'), $(j echo64-throng .machine.go_version)"
	echo "- addresses: backend $BACKEND, throng $THRONG_ADDR, nginx $NGINX_ADDR"
	echo "- pinning: each proxy one loop/worker on CPU $PROXY_CPU; echo backend and load generator on CPU $LOAD_CPU"
	echo "- proxy CPU is utime+stime of the proxy process (nginx: its worker) over the measured time"
	echo
	for size in 64 4096; do
		t=echo$size-throng
		n=echo$size-nginx
		echo "## echo: $C sessions, $size B, window 1, $D (after 1 s warm-up)"
		echo
		echo "| metric | throng | nginx | throng/nginx |"
		echo "| --- | ---: | ---: | ---: |"
		row "msgs/s" "$(j $t .msgs_per_sec)" "$(j $n .msgs_per_sec)"
		row "msgs per proxy CPU-second" "$(j $t '.targets[0].msgs_per_cpu_second')" "$(j $n '.targets[0].msgs_per_cpu_second')"
		row "proxy CPU seconds" "$(j $t '.targets[0].cpu_seconds')" "$(j $n '.targets[0].cpu_seconds')" 2
		row "p50 latency (µs)" "$(j $t .latency.p50_us)" "$(j $n .latency.p50_us)" 1
		row "p99 latency (µs)" "$(j $t .latency.p99_us)" "$(j $n .latency.p99_us)" 1
		row "errors" "$(j $t '.errors + ([.failed[]] | add // 0)')" "$(j $n '.errors + ([.failed[]] | add // 0)')"
		echo
	done
	echo "## idle: $N sessions held $HOLD (rate 2000/s, sources $SOURCES)"
	echo
	echo "| metric | throng | nginx | throng/nginx |"
	echo "| --- | ---: | ---: | ---: |"
	row "connected" "$(j idle-throng .connected)" "$(j idle-nginx .connected)"
	row "alive at end" "$(j idle-throng .alive)" "$(j idle-nginx .alive)"
	row "proxy RSS growth per session (B)" "$(j idle-throng '.targets[0].rss_per_session_bytes')" "$(j idle-nginx '.targets[0].rss_per_session_bytes')"
	row "proxy CPU seconds during hold" "$(j idle-throng '.targets[0].idle_cpu_seconds')" "$(j idle-nginx '.targets[0].idle_cpu_seconds')" 2
	row "proxy CPU seconds to connect" "$(j idle-throng '.targets[0].connect_cpu_seconds')" "$(j idle-nginx '.targets[0].connect_cpu_seconds')" 2
	row "kernel TCP memory per session, all sockets (B)" "$(j idle-throng .kernel_bytes_per_session)" "$(j idle-nginx .kernel_bytes_per_session)"
	echo
	echo "Failures by kind (idle): throng $(jq -c .failed "$TMP/idle-throng.json"), nginx $(jq -c .failed "$TMP/idle-nginx.json")."
} >"$OUT"

mkdir -p bench/results
cp "$OUT" bench/results/latest.md
cat "$OUT"
