#!/usr/bin/env bash
# bench/scripts/fanout.sh: throng's fan-out routes against nginx + nchan, the
# issue 15 benchmarks, in one run. The proxies run on CPU 0 (taskset), the
# load generator (throng-bench fanout / idle) on CPU 1. Every scenario runs
# ROUNDS alternating rounds (throng first in odd rounds, nchan first in even
# ones), each proxy started fresh for its round and stopped after it:
#   one-5k-R     5,000 subscribers of one channel, R = 2 and 20 msg/s
#   one-50k-R    50,000 subscribers of one channel, R = 2 and 20 msg/s: one
#                process holds at most 20,000 sockets here, so K throng
#                processes share the port (SO_REUSEPORT, -takeover) and one
#                Redis, nginx runs K workers (listen reuseport), the client
#                K worker processes
#   ch1000-R     1,000 channels x 10 subscribers, one publisher per channel,
#                R = 2 and 20 msg/s per channel
#   idle-10k     10,000 idle subscribers of one channel: RSS per subscriber
# throng: a route with mode = "fanout", source = "redis",
# client_messages = "publish" (a publisher's message goes to Redis and comes
# back to every throng process, which delivers it; redis-server on loopback,
# also on CPU 0, its CPU reported apart and added in the "+ Redis" column);
# nginx + nchan: an `nchan_pubsub websocket` location, memory store. Messages
# are 64 bytes with a send stamp, published open-loop. Deliveries per proxy
# CPU-second are the subscribers' intact, in-order deliveries over the CPU
# time of every proxy process (nginx: its workers; throng: every process).
#
# With -pushpin, Pushpin (Debian's 1.36) joins the one-5k and idle-10k
# scenarios: bench/scripts/pushpin/setup.sh's configuration, every
# WebSocket handed over WebSocket-over-HTTP to gripbackend.go (on CPU 1,
# the application's side, not counted), which subscribes it to one channel
# and publishes what it sends through Pushpin's publish endpoint. Its CPU
# and RSS are those of its four processes (condure, zurl, pushpin-proxy,
# pushpin-handler); it logs warnings only. Its subscribers connect at
# 100/s, not 5,000/s: faster, its zurl hop falls behind and most
# handshakes time out.
#
# Prints a markdown report and writes it to bench/results/fanout.md, the raw
# reports to bench/results/raw-fanout/. Not run in CI. Installs nginx-light,
# libnginx-mod-nchan and redis-server when missing, pushpin with -pushpin
# (root or sudo).
#
# usage: bench/scripts/fanout.sh [-rounds 3] [-d 10s] [-d-sat 4s] [-k 3] [-only NAME,...] [-quick] [-pushpin]
#   -d-sat   the measured time of one-50k-20, which saturates both proxies and
#            the client: its backlog takes minutes to drain; it runs
#            max(1, rounds - 1) rounds
#   -only    a comma-separated list of scenario names or prefixes
#            (one-5k, one-50k, ch1000, idle-10k)
#   -quick   a smoke run: one round, -d 2s, 500 / 2,000 subscribers, 50 channels
# env:   FANOUT_THRONG, FANOUT_NCHAN, FANOUT_REDIS override the addresses
#        127.0.0.99:9180, 127.0.0.99:9280 and 127.0.0.1:6390.
set -euo pipefail

usage() {
	sed -n '/^# usage:/,/^# env:/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^env:/d' >&2
	exit 2
}

ROUNDS=3
D=10s
K=3
D_SAT=4s
ONLY=""
QUICK=0
PUSHPIN=0
while [ $# -gt 0 ]; do
	case $1 in
	-rounds) ROUNDS=$2; shift 2 ;;
	-d) D=$2; shift 2 ;;
	-d-sat) D_SAT=$2; shift 2 ;;
	-k) K=$2; shift 2 ;;
	-only) ONLY=$2; shift 2 ;;
	-quick) QUICK=1; shift ;;
	-pushpin) PUSHPIN=1; shift ;;
	*) usage ;;
	esac
done

cd "$(dirname "$0")/../.."
THRONG_ADDR=${FANOUT_THRONG:-127.0.0.99:9180}
NCHAN_ADDR=${FANOUT_NCHAN:-127.0.0.99:9280}
# Fixed by bench/scripts/pushpin/setup.sh and gripbackend.go.
PUSHPIN_ADDR=127.0.0.99:9380
GRIP_ADDR=127.0.0.1:9381
REDIS_ADDR=${FANOUT_REDIS:-127.0.0.1:6390}
PROXY_CPU=0
LOAD_CPU=1
SOURCES=127.0.0.2-127.0.0.41
SUBS_5K=5000
SUBS_50K=50000
CHANNELS=1000
PER_CHANNEL=10
IDLE_N=10000
IDLE_HOLD=15s
if [ "$QUICK" -eq 1 ]; then
	ROUNDS=1 D=2s D_SAT=2s SUBS_5K=500 SUBS_50K=2000 CHANNELS=50 IDLE_N=500 IDLE_HOLD=2s
fi

log() { echo "fanout: $*" >&2; }

[ "$(nproc)" -ge 2 ] || { log "needs at least 2 CPUs"; exit 1; }
command -v jq >/dev/null || { log "jq is required"; exit 1; }

# shellcheck source=bench/scripts/lib.sh
. bench/scripts/lib.sh
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
if ! command -v nginx >/dev/null || [ ! -f "$NCHAN_MODULE" ] || ! command -v redis-server >/dev/null; then
	log "installing nginx-light, libnginx-mod-nchan and redis-server from Debian"
	install nginx-light && install libnginx-mod-nchan && install redis-server
fi

log "building"
make -s build >&2

if [ "$PUSHPIN" -eq 1 ] && ! command -v pushpin >/dev/null; then
	log "installing pushpin from Debian"
	install pushpin
fi

TMP=$(mktemp -d)
OUT=bench/results
RAW=$OUT/raw-fanout
mkdir -p "$RAW"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# forget PID drops PID from the processes cleanup stops.
forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# stop PID... stops the processes this script started and waits for them.
stop() {
	local p
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		forget "$p"
	done
}

log "starting redis-server on $REDIS_ADDR (CPU $PROXY_CPU, no persistence)"
taskset -c "$PROXY_CPU" redis-server --bind "${REDIS_ADDR%:*}" --port "${REDIS_ADDR##*:}" \
	--save "" --appendonly no --daemonize no --protected-mode no \
	--client-output-buffer-limit "pubsub 0 0 0" >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_port "$REDIS_ADDR"

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

[bus]
redis = "redis://$REDIS_ADDR/0"

# The chat room: what a publisher sends goes to Redis and back to every
# subscriber of the channel on every throng process.
[[route]]
path_prefix = "/chat/"
mode = "fanout"
source = "redis"
channel = "path"
client_messages = "publish"
# throng-bench publishes binary frames (a stamp and a sequence number).
message_type = "binary"
slow_subscriber = "close"

# Listeners only (idle-10k).
[[route]]
path_prefix = "/live/"
mode = "fanout"
source = "redis"
channel = "path"
TOML

USER_DIRECTIVE=""
[ "$(id -u)" -eq 0 ] && USER_DIRECTIVE="user root;"

# nginx_conf WORKERS writes nginx + nchan's configuration for WORKERS workers.
nginx_conf() {
	cat >"$TMP/nginx.conf" <<NGINX
load_module $NCHAN_MODULE;
$USER_DIRECTIVE
worker_processes $1;
worker_rlimit_nofile 20000;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
daemon off;

events {
    worker_connections 20000;
}

http {
    access_log off;
    client_body_temp_path $TMP/nginx-body;
    # Room for 50,000 subscribers and the messages in flight.
    nchan_shared_memory_size 512m;

    server {
        # reuseport: the kernel spreads connections over the workers as it
        # does over throng's processes; without it one worker can take more
        # than its 20,000 descriptors.
        listen $NCHAN_ADDR backlog=4096 reuseport;

        location /chat/ {
            nchan_pubsub websocket;
            nchan_channel_id \$uri;
        }
        location /live/ {
            nchan_subscriber websocket;
            nchan_channel_id \$uri;
        }
    }
}
NGINX
}

# start_throng N starts N throng processes on THRONG_ADDR (the second and
# later with -takeover: SO_REUSEPORT); their PIDs in PROXY_PIDS.
start_throng() {
	local i takeover
	PROXY_PIDS=()
	for i in $(seq "$1"); do
		takeover=()
		[ "$i" -gt 1 ] && takeover=(-takeover)
		taskset -c "$PROXY_CPU" bin/throng -config "$TMP/throng.toml" "${takeover[@]}" 2>>"$TMP/throng.log" &
		PROXY_PIDS+=($!)
		PIDS+=($!)
		wait_port "$THRONG_ADDR"
	done
}

# start_nchan N starts nginx with N workers; the workers' PIDs in
# PROXY_PIDS, the master in NGINX_MASTER.
start_nchan() {
	nginx_conf "$1"
	taskset -c "$PROXY_CPU" nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
	NGINX_MASTER=$!
	PIDS+=("$NGINX_MASTER")
	wait_port "$NCHAN_ADDR"
	PROXY_PIDS=()
	for _ in $(seq 100); do
		mapfile -t PROXY_PIDS < <(pgrep -P "$NGINX_MASTER" || true)
		[ "${#PROXY_PIDS[@]}" -ge "$1" ] && return 0
		sleep 0.1
	done
	log "nginx started ${#PROXY_PIDS[@]} of $1 workers"
	exit 1
}

# start_pushpin starts Pushpin (its runner in PUSHPIN_RUNNER, its four
# processes in PROXY_PIDS) and, once, the GRIP backend.
start_pushpin() {
	if [ -z "${GRIP_PID:-}" ]; then
		bash bench/scripts/pushpin/setup.sh "$TMP/pushpin" >&2
		go build -o "$TMP/gripbackend" bench/scripts/pushpin/gripbackend.go
		taskset -c "$LOAD_CPU" "$TMP/gripbackend" 2>>"$TMP/grip.log" &
		GRIP_PID=$!
		PIDS+=("$GRIP_PID")
		wait_port "$GRIP_ADDR"
	fi
	taskset -c "$PROXY_CPU" pushpin --config "$TMP/pushpin/pushpin.conf" --loglevel=1 -m >>"$TMP/pushpin.log" 2>&1 &
	PUSHPIN_RUNNER=$!
	PIDS+=("$PUSHPIN_RUNNER")
	wait_port "$PUSHPIN_ADDR"
	wait_port 127.0.0.1:5561 # the handler's publish endpoint
	PROXY_PIDS=()
	for _ in $(seq 100); do
		mapfile -t PROXY_PIDS < <(pgrep -P "$PUSHPIN_RUNNER" || true)
		[ "${#PROXY_PIDS[@]}" -ge 4 ] && return 0
		sleep 0.1
	done
	log "pushpin started ${#PROXY_PIDS[@]} of its 4 processes"
	exit 1
}

stop_proxy() {
	if [ "$1" = nchan ]; then
		stop "$NGINX_MASTER"
	elif [ "$1" = pushpin ]; then
		stop "$PUSHPIN_RUNNER"
	else
		stop "${PROXY_PIDS[@]}"
	fi
}

# addr PROXY prints PROXY's address.
addr() {
	case $1 in
	nchan) echo "$NCHAN_ADDR" ;;
	pushpin) echo "$PUSHPIN_ADDR" ;;
	*) echo "$THRONG_ADDR" ;;
	esac
}

# order ROUND [PUSHPIN] prints the proxies in the order they run in ROUND,
# Pushpin among them when PUSHPIN is 1: the first rotates round by round.
order() {
	local all=(throng nchan) n i
	[ "${2:-0}" -eq 1 ] && all+=(pushpin)
	n=${#all[@]}
	for i in $(seq 0 $((n - 1))); do
		echo "${all[$(((i + $1 - 1) % n))]}"
	done
}

# with_pushpin NAME says whether Pushpin runs in scenario NAME.
with_pushpin() { [ "$PUSHPIN" -eq 1 ] && case $1 in one-5k-* | idle-*) true ;; *) false ;; esac; }

# connect_rate PROXY prints the rate subscribers connect to PROXY at.
connect_rate() { if [ "$1" = pushpin ]; then echo 100/s; else echo 5000/s; fi; }

selected() {
	[ -z "$ONLY" ] && return 0
	local want
	for want in ${ONLY//,/ }; do
		case $1 in "$want"*) return 0 ;; esac
	done
	return 1
}

# fanout_scenario NAME SUBS CHANNELS RATE PROCS [D [ROUNDS]] runs one fan-out
# scenario: PROCS proxy processes (throng) or workers (nginx), PROCS client
# processes, D measured (default -d), ROUNDS rounds (default -rounds).
fanout_scenario() {
	local name=$1 subs=$2 channels=$3 rate=$4 procs=$5 d=${6:-$D} rounds=${7:-$ROUNDS} r p args out rc
	selected "$name" || return 0
	for r in $(seq "$rounds"); do
		for p in $(order "$r" "$(with_pushpin "$name" && echo 1 || echo 0)"); do
			"start_$p" "$procs"
			args=()
			for pid in "${PROXY_PIDS[@]}"; do args+=(-pid "$pid"); done
			[ "$p" = throng ] && args+=(-pid "$REDIS_PID")
			out=$RAW/$name-$p-$r.json
			log "$name round $r: $p ($procs process(es)), $subs subscribers over $channels channel(s), $rate msg/s"
			rc=0
			taskset -c "$LOAD_CPU" bin/throng-bench fanout -url "ws://$(addr "$p")/chat/room" \
				-subs "$subs" -channels "$channels" -rate "$rate" -d "$d" -warmup 2s -drain-timeout 180s \
				-connect-rate "$(connect_rate "$p")" -source "$SOURCES" -procs "$procs" "${args[@]}" -json \
				>"$out" 2>>"$TMP/bench.log" || rc=$?
			[ "$rc" -le 1 ] && [ -s "$out" ] || { log "$name: throng-bench failed (exit $rc): $(tail -n3 "$TMP/bench.log")"; exit 1; }
			stop_proxy "$p"
		done
	done
}

# idle_scenario NAME N holds N idle subscribers on each proxy.
idle_scenario() {
	local name=$1 n=$2 r p out rc
	selected "$name" || return 0
	for r in $(seq "$ROUNDS"); do
		for p in $(order "$r" "$(with_pushpin "$name" && echo 1 || echo 0)"); do
			"start_$p" 1
			args=()
			for pid in "${PROXY_PIDS[@]}"; do args+=(-pid "$pid"); done
			out=$RAW/$name-$p-$r.json
			log "$name round $r: $p, $n idle subscribers for $IDLE_HOLD"
			rc=0
			taskset -c "$LOAD_CPU" bin/throng-bench idle -url "ws://$(addr "$p")/live/room" -n "$n" \
				-hold "$IDLE_HOLD" -rate "$(connect_rate "$p")" -source "$SOURCES" "${args[@]}" -json \
				>"$out" 2>>"$TMP/bench.log" || rc=$?
			[ "$rc" -le 1 ] && [ -s "$out" ] || { log "$name: throng-bench failed (exit $rc): $(tail -n3 "$TMP/bench.log")"; exit 1; }
			stop_proxy "$p"
		done
	done
}

fanout_scenario one-5k-2 "$SUBS_5K" 1 2 1
fanout_scenario one-5k-20 "$SUBS_5K" 1 20 1
fanout_scenario one-50k-2 "$SUBS_50K" 1 2 "$K"
fanout_scenario one-50k-20 "$SUBS_50K" 1 20 "$K" "$D_SAT" $((ROUNDS > 1 ? ROUNDS - 1 : 1))
fanout_scenario ch1000-2 $((CHANNELS * PER_CHANNEL)) "$CHANNELS" 2 1
fanout_scenario ch1000-20 $((CHANNELS * PER_CHANNEL)) "$CHANNELS" 20 1
idle_scenario idle-10k "$IDLE_N"

# The report: one row per round and proxy.
{
	echo "# Fan-out: throng vs nginx + nchan$([ "$PUSHPIN" -eq 1 ] && echo " and Pushpin") ($(date -u +%F), throng $(git rev-parse --short HEAD))"
	echo
	echo "Proxy on CPU $PROXY_CPU, client on CPU $LOAD_CPU, $ROUNDS alternating rounds of $D, 64-byte messages."
	echo "Delivered: the measured messages each subscriber got, of those published (a publisher hears its own: over 100%)."
	echo "Per CPU-s: every message received, over the proxy processes' CPU from the first publish to the last delivery;"
	echo "\"+ Redis\" adds redis-server's CPU (throng only)."
	echo
	echo "| scenario | proxy | round | subscribers | delivered | p50 / p99 (ms) | proxy CPU-s | deliveries per proxy CPU-s | + Redis | client CPU-bound |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for f in "$RAW"/*.json; do
		base=$(basename "$f" .json)
		[[ $base == idle-* ]] && continue
		jq -r --arg name "$base" --argjson redis "$REDIS_PID" '
			($name | split("-")) as $n |
			([.targets[] | select(.pid != $redis) | .cpu_seconds] | add) as $cpu |
			([.targets[] | select(.pid == $redis) | .cpu_seconds] | add // 0) as $rcpu |
			([.targets[] | select(.pid == $redis)] | length > 0) as $hasredis |
			"| \($n[0:-2] | join("-")) | \($n[-2]) | \($n[-1]) | \(.connected) | \(.delivered_ratio * 10000 | round / 100)% | " +
			"\(.latency.p50_us / 1000 * 10 | round / 10) / \(.latency.p99_us / 1000 * 10 | round / 10) | " +
			"\($cpu * 100 | round / 100) | \(if $cpu > 0 then (.received / $cpu | round | tostring) else "" end) | " +
			"\(if $hasredis then (.received / ($cpu + $rcpu) | round | tostring) else "" end) | \(.client_cpu_bound) |"' "$f"
	done
	echo
	echo "RSS per subscriber: the growth of every proxy process's RSS (Pushpin: its four) over the subscribers held."
	echo
	echo "| idle | proxy | round | subscribers held | RSS per subscriber (B) |"
	echo "| --- | --- | ---: | ---: | ---: |"
	for f in "$RAW"/idle-*.json; do
		[ -e "$f" ] || continue
		base=$(basename "$f" .json)
		jq -r --arg name "$base" '($name | split("-")) as $n |
			([.targets[].sessions_held] | max) as $held |
			([.targets[] | .connected.rss_bytes - .before.rss_bytes] | add) as $rss |
			"| \($n[0:-2] | join("-")) | \($n[-2]) | \($n[-1]) | \($held) | \(if $held > 0 then ($rss / $held | round | tostring) else "" end) |"' "$f"
	done
} | tee "$OUT/fanout.md"
