#!/usr/bin/env bash
# bench/scripts/compare.sh: throng against nginx and HAProxy in one run. Each proxy
# runs one loop/worker/thread pinned to CPU 0, in front of the throng-bench
# echo and fanout backends (CPU 1), driven by throng-bench (also on CPU 1).
# Every scenario runs against all three proxies before the next one starts;
# which proxy goes first rotates from one scenario to the next:
#   1. echo, C sessions, 64 B, window 1; then the same load from a second,
#      independent client (bench/scripts/node/echo.js, Node's ws package)
#   2. echo, C sessions, 4 KiB, window 1
#   3. echo, BIG_C sessions, 4 KiB, window 16
#   4. handshake, HC workers
#   5. fanout, 1 publisher -> SUBS subscribers at RATE msg/s (under /fanout/)
#   6. idle, N sessions held silent for HOLD
#   7. scale (throng only): SCALE_K throng processes sharing one port with
#      SO_REUSEPORT (the second and later started with -share) hold
#      SCALE_N idle sessions from throng-bench idle -procs SCALE_K; sessions
#      and memory per process
# Prints a markdown report and writes it to bench/results/latest.md
# (-scale-only: bench/results/scale.md), the raw reports to
# bench/results/raw/ and SVG charts of them to bench/results/charts/.
#
# -tls runs the wss:// rows instead: each proxy terminates TLS on its address
# with one throwaway ECDSA P-256 certificate (openssl, in the run's temporary
# directory) and proxies to the same echo backend in clear; the client offers
# x25519 and P-256 only (-curves x25519,p256: the peers' OpenSSL 3.0 has no
# ML-KEM), TLS 1.2 or 1.3, and skips verifying the certificate (-insecure):
#   1. idle, N wss sessions held silent for HOLD (full handshakes)
#   2. echo, C wss sessions, 64 B, window 1
#   3. echo, C wss sessions, 4 KiB, window 1
#   4. handshake, HC workers, every TLS handshake a full one (nginx: no
#      session cache nor tickets)
#   5. handshake, HC workers, -resume: one session cache for the client's
#      connections, so handshakes resume from tickets (nginx restarted with
#      ssl_session_tickets on; HAProxy and throng issue tickets by default)
# It writes bench/results/latest-tls.md and the raw reports to
# bench/results/raw-tls/ (no charts: the chart tool draws the ws:// set).
# Not run in CI. Needs root or sudo to install nginx or HAProxy when missing.
#
# usage: bench/scripts/compare.sh [-quick] [-d 10s] [-c 100] [-big-c 1000] [-window 16]
#                         [-hc 32] [-subs 5000] [-rate 2] [-n 9000] [-hold 20s]
#                         [-scale-k 3] [-scale-n 18000] [-scale-only | -tls]
#   -quick       a smoke run: -d 2s -big-c 100 -subs 200 -n 500 -hold 2s
#                -scale-n 1500 (other flags still override it, wherever they stand)
#   -scale-only  run the scale scenario alone (no nginx or HAProxy)
#   -tls         run the wss:// rows alone (-d, -c, -hc, -n, -hold apply)
# env:   COMPARE_BACKEND, COMPARE_FANOUT, COMPARE_THRONG, COMPARE_NGINX,
#        COMPARE_HAPROXY, COMPARE_SCALE override the addresses 127.0.0.1:9101,
#        :9102, :9180, :9280, :9380 and :9480.
set -euo pipefail

usage() {
	sed -n '/^# usage:/,/^# env:/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^env:/d' >&2
	exit 2
}
ARGS=("$@")

D=10s
C=100
BIG_C=1000
WINDOW=16
HC=32
SUBS=5000
RATE=2 # 10,000 deliveries a second to 5,000 subscribers: more saturates the load generator on one CPU
N=9000
HOLD=20s
# 3 × 6,000: each throng holds two descriptors per session under the
# 20,000-descriptor limit, and the echo backend one per session.
SCALE_K=3
SCALE_N=18000
SCALE_ONLY=0
TLS=0
# The client's key exchanges in -tls: what OpenSSL 3.0 (nginx, HAProxy) and
# crypto/tls (throng) both have.
TLS_CURVES=x25519,p256
for a in "$@"; do
	if [ "$a" = -quick ]; then
		D=2s BIG_C=100 SUBS=200 N=500 HOLD=2s SCALE_N=1500
	fi
done
while [ $# -gt 0 ]; do
	case "$1" in
	-quick) shift ;;
	-d) D=${2:?}; shift 2 ;;
	-c) C=${2:?}; shift 2 ;;
	-big-c) BIG_C=${2:?}; shift 2 ;;
	-window) WINDOW=${2:?}; shift 2 ;;
	-hc) HC=${2:?}; shift 2 ;;
	-subs) SUBS=${2:?}; shift 2 ;;
	-rate) RATE=${2:?}; shift 2 ;;
	-n) N=${2:?}; shift 2 ;;
	-hold) HOLD=${2:?}; shift 2 ;;
	-scale-k) SCALE_K=${2:?}; shift 2 ;;
	-scale-n) SCALE_N=${2:?}; shift 2 ;;
	-scale-only) SCALE_ONLY=1; shift ;;
	-tls) TLS=1; shift ;;
	*) usage ;;
	esac
done
[ "$SCALE_ONLY" -eq 1 ] && [ "$TLS" -eq 1 ] && usage

cd "$(dirname "$0")/../.."
# Addresses can be moved when something else holds them.
BACKEND=${COMPARE_BACKEND:-127.0.0.1:9101}
FANOUT=${COMPARE_FANOUT:-127.0.0.1:9102}
THRONG_ADDR=${COMPARE_THRONG:-127.0.0.1:9180}
NGINX_ADDR=${COMPARE_NGINX:-127.0.0.1:9280}
HAPROXY_ADDR=${COMPARE_HAPROXY:-127.0.0.1:9380}
SCALE_ADDR=${COMPARE_SCALE:-127.0.0.1:9480}
PROXY_CPU=0
LOAD_CPU=1
SOURCES=127.0.0.2-127.0.0.20
PROXIES=(throng nginx haproxy)

log() { echo "compare: $*" >&2; }

[ "$(nproc)" -ge 2 ] || { log "needs at least 2 CPUs"; exit 1; }
command -v jq >/dev/null || { log "jq is required"; exit 1; }
[ "$TLS" -eq 0 ] || command -v openssl >/dev/null || { log "-tls needs openssl (the certificate)"; exit 1; }

log "building"
make -s build >&2
if [ "$TLS" -eq 0 ] && [ "$SCALE_ONLY" -eq 0 ] && [ ! -d cmd/throng/testdata/node/node_modules/ws ]; then
	# The second client's rows (echo64node) need Node and its ws package.
	command -v node >/dev/null || { log "node is required (the second, independent client)"; exit 1; }
	make -s node-deps >&2
fi

# shellcheck source=bench/scripts/lib.sh
. bench/scripts/lib.sh
if [ "$SCALE_ONLY" -eq 0 ] && ! command -v nginx >/dev/null; then
	log "installing nginx from Debian"
	install nginx-light nginx
fi
if [ "$SCALE_ONLY" -eq 0 ] && ! command -v haproxy >/dev/null; then
	log "installing HAProxy from Debian"
	install haproxy
fi

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

# busy HOST:PORT fails when something already accepts there.
busy() {
	local host=${1%:*} port=${1##*:}
	if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
		log "$1 is already in use"
		exit 1
	fi
}
for a in "$BACKEND" "$FANOUT" "$THRONG_ADDR" "$NGINX_ADDR" "$HAPROXY_ADDR" "$SCALE_ADDR"; do
	busy "$a"
done

log "starting the echo backend on $BACKEND and the fanout backend on $FANOUT (CPU $LOAD_CPU)"
taskset -c "$LOAD_CPU" bin/throng-bench serve -listen "$BACKEND" -loops 1 2>"$TMP/serve.log" &
PIDS+=($!)
taskset -c "$LOAD_CPU" bin/throng-bench serve -listen "$FANOUT" -mode fanout 2>"$TMP/serve-fanout.log" &
PIDS+=($!)
wait_port "$BACKEND"
wait_port "$FANOUT"

# wait_listening PID HOST:PORT waits (at most 10 s) until process PID
# listens on the port: with SO_REUSEPORT another process may already accept
# there, so wait_port cannot tell.
wait_listening() {
	local port=${2##*:}
	for _ in $(seq 100); do
		if ss -Hltnp "sport = :$port" 2>/dev/null | grep -q "pid=$1,"; then
			return 0
		fi
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	log "PID $1 is not listening on $2 after 10 s"
	return 1
}

# scale_run starts SCALE_K throng processes sharing SCALE_ADDR (SO_REUSEPORT;
# the second and later with -share), holds SCALE_N idle sessions through
# them with throng-bench idle -procs SCALE_K, sampling each throng, into
# $TMP/scale.json; then stops them.
scale_run() {
	local i rc=0 pids=() args=()
	cat >"$TMP/scale.toml" <<TOML
[server]
listen = ["$SCALE_ADDR"]
loops = 1
tcp_keepalive = "0s"

[log]
level = "warn"
access = false

[[route]]
upstream = "echo"

[[upstream]]
name = "echo"
backends = [{ addr = "$BACKEND" }]
TOML
	for i in $(seq "$SCALE_K"); do
		local share=()
		[ "$i" -gt 1 ] && share=(-share)
		log "starting throng $i of $SCALE_K on $SCALE_ADDR (loops 1, CPU $PROXY_CPU${share[*]:+, -share})"
		taskset -c "$PROXY_CPU" bin/throng -config "$TMP/scale.toml" "${share[@]}" 2>"$TMP/scale-throng-$i.log" &
		pids+=($!)
		PIDS+=($!)
		wait_listening "$!" "$SCALE_ADDR"
	done
	for i in "${pids[@]}"; do
		args+=(-pid "$i")
	done
	log "run scale: throng-bench idle -procs $SCALE_K -n $SCALE_N -hold $HOLD through $SCALE_K throng processes"
	taskset -c "$LOAD_CPU" bin/throng-bench idle -url "ws://$SCALE_ADDR/" -n "$SCALE_N" -hold "$HOLD" -rate 2000/s \
		-source "$SOURCES" -procs "$SCALE_K" -loops 1 "${args[@]}" -json >"$TMP/scale.json" 2>"$TMP/scale.err" || rc=$?
	cat "$TMP/scale.err" >>"$TMP/bench.log"
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -ne 1 ] || [ ! -s "$TMP/scale.json" ]; then
			log "scale failed (exit $rc): $(tail -n3 "$TMP/scale.err")"
			exit 1
		fi
		log "scale reported an error: $(tail -n1 "$TMP/scale.err")"
		echo "- scale ended with an error: $(tail -n1 "$TMP/scale.err")" >>"$NOTES"
	fi
	for i in "${pids[@]}"; do
		kill -0 "$i" 2>/dev/null || { log "throng (PID $i) is gone after the scale run"; exit 1; }
		kill -TERM "$i"
	done
}

# scale_section prints the scale run's markdown.
scale_section() {
	local f=$TMP/scale.json
	echo "## scale: $SCALE_K throng processes on one port (SO_REUSEPORT), $SCALE_N sessions held $HOLD"
	echo
	echo "\`throng-bench idle -procs $SCALE_K\` ($SCALE_K worker processes, sources $SOURCES split between them)"
	echo "through $SCALE_K throng processes listening on $SCALE_ADDR (loops 1 each, CPU $PROXY_CPU), in front of the"
	echo "echo backend; the kernel spreads the connections over the listeners. Sessions held per process are its"
	echo "established sockets on $SCALE_ADDR once connected; RSS growth is connected minus before."
	echo
	echo "| process | sessions held | share | RSS before → connected (MiB) | RSS growth per session held (B) | CPU to connect (s) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	jq -r '(.targets | map(.sessions_held) | add) as $all | .targets | to_entries[] |
		"| throng \(.key + 1) (PID \(.value.pid)) | \(.value.sessions_held) | " +
		"\(if $all > 0 then (1000 * .value.sessions_held / $all | round / 10 | tostring) + "%" else "n/a" end) | " +
		"\(.value.before.rss_bytes / 1048576 * 10 | round / 10) → \(.value.connected.rss_bytes / 1048576 * 10 | round / 10) | " +
		"\(.value.rss_per_held_session_bytes | round) | \(.value.connect_cpu_seconds) |"' "$f"
	jq -r '(.targets | map(.sessions_held) | add) as $held |
		(.targets | map(.connected.rss_bytes - .before.rss_bytes) | add) as $grew |
		"| all | \($held) | | +\($grew / 1048576 * 10 | round / 10) | \(if $held > 0 then ($grew / $held | round) else "n/a" end) | |"' "$f"
	echo
	jq -r '"Connected \(.connected) of \(.sessions) in \(.connect_seconds * 100 | round / 100) s, " +
		"\(.alive) alive at the end of the hold; failures \(.failed | tojson). " +
		"Kernel memory per session, all four sockets of it (client, throng both sides, backend), system-wide: " +
		"slab \(.kernel_slab_per_session_bytes | round) B in the socket caches " +
		"(\(.kernel_slab_all_per_session_bytes | round) B in all caches\(if .kernel_slab_err then "; unread: " + .kernel_slab_err else "" end)), " +
		"TCP buffers (/proc/net/sockstat) \(.kernel_bytes_per_session | round) B."' "$f"
	echo
	jq -r 'select(.connected > 0) | .connected as $n | "Slab growth by cache, per session: " +
		((.kernel_slab_growth // {}) | to_entries | sort_by(-.value) | map("\(.key) \(.value / $n | round) B") |
		join(", ")) + "."' "$f"
	echo
}

# scale_summary prints the scale row of the summary table.
scale_summary() {
	jq -r --arg k "$SCALE_K" '"| scale: \($k) throng processes, one port: sessions held, total (per process) | " +
		"\(.targets | map(.sessions_held) | add) (\(.targets | map(.sessions_held | tostring) | join(" / "))) | n/a | n/a | | |"' \
		"$TMP/scale.json"
	jq -r --arg k "$SCALE_K" '"| scale: RSS growth per session held, per process (B) | " +
		"\(.targets | map(.rss_per_held_session_bytes | round | tostring) | join(" / ")) | n/a | n/a | | |"' "$TMP/scale.json"
}

NOTES=$TMP/notes.md
: >"$NOTES"

if [ "$SCALE_ONLY" -eq 1 ]; then
	scale_run
	OUT=$TMP/scale.md
	{
		echo "# throng: several processes on one port"
		echo
		echo "- command: \`bench/scripts/compare.sh${ARGS[*]:+ ${ARGS[*]}}\`"
		echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)," \
			"descriptor limit $(ulimit -n)"
		echo "- versions: throng $(git describe --tags --always --dirty 2>/dev/null || echo dev), $(jq -r .machine.go_version "$TMP/scale.json")"
		echo
		if [ -s "$NOTES" ]; then
			cat "$NOTES"
			echo
		fi
		scale_section
	} >"$OUT"
	mkdir -p bench/results
	cp "$OUT" bench/results/scale.md
	cat "$OUT"
	exit 0
fi

declare -A PID ADDR
ADDR[throng]=$THRONG_ADDR
ADDR[nginx]=$NGINX_ADDR
ADDR[haproxy]=$HAPROXY_ADDR

# tls_cert makes the throwaway certificate of a -tls run: an ECDSA P-256 key
# and a self-signed certificate for the proxies' IP addresses ($TMP/tls.key,
# $TMP/tls.crt), and both in one file for HAProxy ($TMP/tls.pem).
tls_cert() {
	local sans="" a
	for a in "$THRONG_ADDR" "$NGINX_ADDR" "$HAPROXY_ADDR"; do
		case ",$sans," in
		*",IP:${a%:*},"*) ;;
		*) sans+="${sans:+,}IP:${a%:*}" ;;
		esac
	done
	log "making a throwaway ECDSA P-256 certificate for $sans"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=throng-compare \
		-addext "subjectAltName=$sans" -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>"$TMP/openssl.log"
	cat "$TMP/tls.crt" "$TMP/tls.key" >"$TMP/tls.pem"
}

# start_throng writes throng's config and starts it on THRONG_ADDR, plain
# (listen) or, in -tls, terminating TLS with the run's certificate
# (listen_tls alone; tls.session_tickets at its default, on).
start_throng() {
	local listen="listen = [\"$THRONG_ADDR\"]" certs=""
	if [ "$TLS" -eq 1 ]; then
		listen="listen = []
listen_tls = [\"$THRONG_ADDR\"]"
		certs="
[[tls.certificates]]
cert = \"$TMP/tls.crt\"
key = \"$TMP/tls.key\""
	fi
	cat >"$TMP/throng.toml" <<TOML
[server]
$listen
loops = 1
# nginx and HAProxy set no keepalive on their sockets either.
tcp_keepalive = "0s"

[log]
level = "warn"
# nginx runs with access_log off, HAProxy with no log target.
access = false

[[route]]
upstream = "echo"

[[route]]
path_prefix = "/fanout/"
upstream = "fanout"

[[upstream]]
name = "echo"
backends = [{ addr = "$BACKEND" }]

[[upstream]]
name = "fanout"
backends = [{ addr = "$FANOUT" }]
$certs
TOML
	log "starting throng on $THRONG_ADDR (loops 1, CPU $PROXY_CPU${certs:+, TLS})"
	taskset -c "$PROXY_CPU" bin/throng -config "$TMP/throng.toml" 2>"$TMP/throng.log" &
	PID[throng]=$!
	PIDS+=("${PID[throng]}")
	wait_port "$THRONG_ADDR"
}

USER_DIRECTIVE=""
[ "$(id -u)" -eq 0 ] && USER_DIRECTIVE="user root;"

# start_nginx [SSL] starts nginx on NGINX_ADDR (its master NGINX_MASTER, its
# worker PID[nginx]): plain, or with SSL, the ssl_* directives of its server,
# terminating TLS.
start_nginx() {
	local ssl=${1:-} listen_ssl=""
	[ -z "$ssl" ] || listen_ssl=" ssl"
	sed -e "s|@USER@|$USER_DIRECTIVE|" -e "s|@TMP@|$TMP|g" -e "s|@LISTEN@|$NGINX_ADDR|" \
		-e "s|@LISTEN_SSL@|$listen_ssl|" -e "s|@SSL@|$ssl|" \
		-e "s|@BACKEND@|$BACKEND|" -e "s|@FANOUT@|$FANOUT|" bench/scripts/peers/nginx.conf >"$TMP/nginx.conf"
	log "starting nginx on $NGINX_ADDR (1 worker, CPU $PROXY_CPU${ssl:+, TLS: $ssl})"
	taskset -c "$PROXY_CPU" nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
	NGINX_MASTER=$!
	PIDS+=("$NGINX_MASTER")
	wait_port "$NGINX_ADDR"
	PID[nginx]=""
	for _ in $(seq 100); do
		PID[nginx]=$(pgrep -P "$NGINX_MASTER" | head -n1 || true)
		[ -n "${PID[nginx]}" ] && break
		sleep 0.1
	done
	[ -n "${PID[nginx]}" ] || { log "no nginx worker"; exit 1; }
}

# stop_nginx stops nginx (a fast shutdown: the master ends its worker) and
# waits for it.
stop_nginx() {
	kill -TERM "$NGINX_MASTER"
	wait "$NGINX_MASTER" || true
}

# start_haproxy [SSL] starts HAProxy on HAPROXY_ADDR (PID[haproxy]): plain,
# or with SSL, the bind options that make it terminate TLS.
start_haproxy() {
	local ssl=${1:-}
	sed -e "s|@TMP@|$TMP|g" -e "s|@LISTEN@|$HAPROXY_ADDR|" -e "s|@BIND_SSL@|${ssl:+ $ssl}|" \
		-e "s|@BACKEND@|$BACKEND|" -e "s|@FANOUT@|$FANOUT|" bench/scripts/peers/haproxy.cfg >"$TMP/haproxy.cfg"
	log "starting HAProxy on $HAPROXY_ADDR (1 thread, CPU $PROXY_CPU${ssl:+, TLS: $ssl})"
	# -db: foreground, no master process; the PID started is the one proxying.
	taskset -c "$PROXY_CPU" haproxy -db -f "$TMP/haproxy.cfg" 2>"$TMP/haproxy.log" &
	PID[haproxy]=$!
	PIDS+=("${PID[haproxy]}")
	wait_port "$HAPROXY_ADDR"
}

# bench NAME PROXY ARGS... runs throng-bench pinned to the load CPU against
# PROXY's process (-pid), JSON into $TMP/NAME-PROXY.json, and keeps the
# command in CMD[NAME] (PROXY standing for the proxy's address). A run that
# reports and fails (exit 1: e.g. sessions lost) is kept and noted; anything
# else stops the comparison.
bench() {
	local name=$1 proxy=$2 rc=0
	shift 2
	log "run $name against $proxy: throng-bench $*"
	CMD[$name]="taskset -c $LOAD_CPU throng-bench ${*//${ADDR[$proxy]}/PROXY} -pid PROXY_PID -loops 1 -json"
	taskset -c "$LOAD_CPU" bin/throng-bench "$@" -pid "${PID[$proxy]}" -loops 1 -json \
		>"$TMP/$name-$proxy.json" 2>"$TMP/$name-$proxy.err" || rc=$?
	cat "$TMP/$name-$proxy.err" >>"$TMP/bench.log"
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -ne 1 ]; then
			log "$name against $proxy failed (exit $rc): $(tail -n3 "$TMP/$name-$proxy.err")"
			exit 1
		fi
		log "$name against $proxy reported an error: $(tail -n1 "$TMP/$name-$proxy.err")"
		echo "- $name against $proxy ended with an error: $(tail -n1 "$TMP/$name-$proxy.err")" >>"$NOTES"
	fi
	if ! kill -0 "${PID[$proxy]}" 2>/dev/null; then
		log "$proxy (PID ${PID[$proxy]}) is gone after $name"
		exit 1
	fi
	[ -s "$TMP/$name-$proxy.json" ] || echo null >"$TMP/$name-$proxy.json"
	ORDER[$name]+="${ORDER[$name]:+, }$proxy"
}
declare -A ORDER CMD

# node_bench NAME PROXY URL SESSIONS SIZE runs bench/scripts/node/echo.js
# (window 1, for D after a second of warm-up) pinned to the load CPU
# against PROXY, JSON into $TMP/NAME-PROXY.json, like bench.
node_bench() {
	local name=$1 proxy=$2 url=$3 sessions=$4 size=$5 rc=0
	log "run $name against $proxy: node bench/scripts/node/echo.js $url $sessions $size $(seconds "$D")"
	CMD[$name]="taskset -c $LOAD_CPU node bench/scripts/node/echo.js ${url//${ADDR[$proxy]}/PROXY} $sessions $size $(seconds "$D") PROXY_PID $(getconf CLK_TCK)"
	NODE_PATH=$PWD/cmd/throng/testdata/node/node_modules taskset -c "$LOAD_CPU" \
		node bench/scripts/node/echo.js "$url" "$sessions" "$size" "$(seconds "$D")" "${PID[$proxy]}" "$(getconf CLK_TCK)" \
		>"$TMP/$name-$proxy.json" 2>"$TMP/$name-$proxy.err" || rc=$?
	cat "$TMP/$name-$proxy.err" >>"$TMP/bench.log"
	if [ "$rc" -ne 0 ]; then
		log "$name against $proxy failed (exit $rc): $(tail -n3 "$TMP/$name-$proxy.err")"
		exit 1
	fi
	[ -s "$TMP/$name-$proxy.json" ] || echo null >"$TMP/$name-$proxy.json"
	ORDER[$name]+="${ORDER[$name]:+, }$proxy"
}

# seconds DURATION prints a duration such as 10s or 2m in seconds.
seconds() {
	case "$1" in
	*ms) echo "0.${1%ms}" ;;
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	*) echo "$1" ;;
	esac
}

# Each scenario against every proxy in turn, before the next one; the first
# proxy rotates from one scenario to the next so that none always goes first.
# order K prints the proxies in the order of scenario K (from 0).
order() {
	local i
	for i in 0 1 2; do
		echo "${PROXIES[$((($1 + i) % 3))]}"
	done
}

# j NAME PROXY FILTER reads a value from a run's JSON.
j() { jq -r "$3" "$TMP/$1-$2.json"; }

# SECTION names the table being written; row records where throng is behind
# under it in $TMP/behind.
SECTION=""
: >"$TMP/behind"

# row NAME FILTER LABEL DIR [DIGITS]: a table row for run NAME with FILTER
# read from each proxy's JSON and the ratios throng/nginx and
# throng/haproxy. DIR says which way is better: hi, lo, or - (no verdict).
# When throng is worse than a peer, a line goes into $TMP/behind.
row() {
	local name=$1 filter=$2
	awk -v l="$3" -v dir="$4" -v d="${5:-0}" -v s="$SECTION" -v out="$TMP/behind" \
		-v t="$(j "$name" throng "$filter")" -v n="$(j "$name" nginx "$filter")" \
		-v h="$(j "$name" haproxy "$filter")" '
	function isnum(x) { return x ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ }
	function fmt(x) { return isnum(x) ? sprintf("%.*f", d, x) : "n/a" }
	function ratio(a, b) { return (isnum(a) && isnum(b) && b + 0 != 0) ? sprintf("%.2f", a / b) : "n/a" }
	# behind compares the values as shown; negative values (a system-wide
	# figure that shrank under other load) are shown but not judged.
	function behind(peer, a, b,   r) {
		if (!isnum(a) || !isnum(b) || dir == "-" || a < 0 || b < 0) return
		a = fmt(a); b = fmt(b)
		if ((dir == "hi" && a + 0 < b + 0) || (dir == "lo" && a + 0 > b + 0)) {
			r = ratio(a, b)
			printf "%s|%s: behind %s (%s vs %s%s)\n", s, l, peer, fmt(a), fmt(b),
				r == "n/a" ? "" : ", ratio " r >> out
		}
	}
	BEGIN {
		printf "| %s | %s | %s | %s | %s | %s |\n", l, fmt(t), fmt(n), fmt(h), ratio(t, n), ratio(t, h)
		behind("nginx", t, n)
		behind("HAProxy", t, h)
	}'
}

# verdict prints the line saying where throng is not ahead in SECTION.
verdict() {
	local lines
	lines=$(awk -F'|' -v s="$SECTION" '$1 == s { print $2 }' "$TMP/behind" | paste -sd ';' - | sed 's/;/; /g')
	if [ -n "$lines" ]; then
		echo "**throng is not ahead:** $lines."
	else
		echo "throng is ahead of (or level with) both peers on every figure above."
	fi
	echo
}

# behind_list DETAILS REGEX prints, for each section of DETAILS whose
# heading matches REGEX, where throng is not ahead.
behind_list() {
	local s lines
	while IFS= read -r s; do
		lines=$(awk -F'|' -v s="$s" '$1 == s { print $2 }' "$TMP/behind" | paste -sd ';' - | sed 's/;/; /g')
		echo "- $s: ${lines:-ahead of (or level with) both peers on every figure}"
	done < <(grep -E "^## ($2)" "$1" | sed 's/^## //')
}

header() {
	echo "| metric | throng | nginx | haproxy | throng/nginx | throng/haproxy |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
}

# fails NAME PROXY: the run's errors plus failures of every kind.
FAILS='(.errors // 0) + ([(.failed // {})[]] | add // 0)'

# tls_notes NAME prints, in -tls, run NAME's command and what its TLS
# handshakes were (the client's count: all phases); nothing otherwise.
tls_notes() {
	local p
	[ "$TLS" -eq 1 ] || return 0
	echo "Command, against each proxy: \`${CMD[$1]}\`"
	echo
	echo "TLS handshakes (client side, all phases):"
	for p in "${PROXIES[@]}"; do
		j "$1" "$p" '"\(.tls.handshakes // "n/a"), \(.tls.resumed // "n/a") resumed, key exchange " +
			((.tls.key_exchanges // {}) | to_entries | map("\(.key) \(.value)") | join(", "))' |
			sed "s/^/$p /"
	done | paste -sd ';' - | sed 's/;/; /g; s/$/./'
	echo
}

# echo_section NAME TITLE
echo_section() {
	local name=$1
	SECTION=$2
	echo "## $SECTION"
	echo
	tls_notes "$name"
	header
	row "$name" .connected "sessions connected" hi
	row "$name" .msgs_per_sec "msgs/s" hi
	row "$name" '.targets[0].msgs_per_cpu_second' "msgs per proxy CPU-second" hi
	row "$name" '.targets[0].cpu_seconds' "proxy CPU seconds" - 2
	row "$name" .latency.p50_us "p50 latency (µs)" lo 1
	row "$name" .latency.p99_us "p99 latency (µs)" lo 1
	row "$name" '.targets[0].rss_bytes' "proxy RSS at the end (B)" lo
	row "$name" "$FAILS" "errors and failures" lo
	echo
	verdict
}

# handshake_rows NAME: the table rows of a handshake run.
handshake_rows() {
	row "$1" .handshakes_per_sec "handshakes/s" hi
	row "$1" '.targets[0].handshakes_per_cpu_second' "handshakes per proxy CPU-second" hi
	row "$1" '.targets[0].cpu_seconds' "proxy CPU seconds" - 2
	row "$1" .latency.p50_us "p50 handshake latency (µs)" lo 1
	row "$1" .latency.p99_us "p99 handshake latency (µs)" lo 1
	row "$1" "$FAILS" "failures" lo
}

# idle_rows NAME: the table rows of an idle run.
idle_rows() {
	row "$1" .connected "connected" hi
	row "$1" .alive "alive at the end" hi
	row "$1" '.targets[0].rss_per_session_bytes' "proxy RSS growth per session (B)" lo
	row "$1" '.targets[0].idle_cpu_seconds' "proxy CPU seconds during the hold" lo 2
	row "$1" '.targets[0].connect_cpu_seconds' "proxy CPU seconds to connect" lo 2
	row "$1" .kernel_bytes_per_session "kernel TCP memory per session, all sockets (B)" lo
	row "$1" .kernel_slab_per_session_bytes "kernel slab per session, socket caches, all sockets (B)" -
}

# report_head TITLE NAME prints the head of a report: the command, date,
# machine and versions (Go's from run NAME's throng report).
report_head() {
	local openssl=""
	[ "$TLS" -eq 0 ] || openssl=", $(openssl version | awk '{ print "OpenSSL " $2 }') (nginx's and HAProxy's libssl)"
	echo "# $1"
	echo
	echo "- command: \`bench/scripts/compare.sh${ARGS[*]:+ ${ARGS[*]}}\`"
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
	echo "- versions: throng $(git describe --tags --always --dirty 2>/dev/null || echo dev)," \
		"$(nginx -v 2>&1 | sed 's|.*: ||')," \
		"$(haproxy -v | head -n1 | awk '{ print "haproxy/" $3 }')," \
		"$(j "$2" throng .machine.go_version)$openssl"
	echo "- addresses: echo backend $BACKEND, fanout backend $FANOUT, throng $THRONG_ADDR, nginx $NGINX_ADDR, haproxy $HAPROXY_ADDR"
}

# In -tls the client offers TLS_CURVES and does not verify the throwaway
# certificate; nginx's full-handshake rows run without session cache or
# tickets (NumTickets 0: else OpenSSL still sends one TLS 1.3 ticket after
# each handshake), its resumption row with tickets. HAProxy keeps its
# defaults throughout (cache and tickets on); throng too (crypto/tls sends
# no ticket to a client that offers no psk_key_exchange_modes, as
# throng-bench without -resume).
TLS_FLAGS=(-insecure -curves "$TLS_CURVES")
NGINX_SSL="ssl_certificate $TMP/tls.crt; ssl_certificate_key $TMP/tls.key; ssl_protocols TLSv1.2 TLSv1.3;"
NGINX_SSL_FULL="$NGINX_SSL ssl_session_cache off; ssl_session_tickets off; ssl_conf_command NumTickets 0;"
NGINX_SSL_RESUME="$NGINX_SSL ssl_session_tickets on;"
HAPROXY_SSL="ssl crt $TMP/tls.pem ssl-min-ver TLSv1.2 alpn http/1.1 prefer-client-ciphers"

# tls_run runs the -tls rows, then writes their report.
tls_run() {
	local p
	tls_cert
	start_throng
	start_nginx "$NGINX_SSL_FULL"
	start_haproxy "$HAPROXY_SSL"
	# Idle first, while every proxy is fresh (as for ws).
	for p in $(order 0); do
		bench idle "$p" idle -url "wss://${ADDR[$p]}/" -n "$N" -hold "$HOLD" -rate 2000/s -source "$SOURCES" "${TLS_FLAGS[@]}"
	done
	for p in $(order 1); do
		bench echo64 "$p" echo -url "wss://${ADDR[$p]}/" -c "$C" -size 64 -window 1 -d "$D" -source "$SOURCES" "${TLS_FLAGS[@]}"
	done
	for p in $(order 2); do
		bench echo4k "$p" echo -url "wss://${ADDR[$p]}/" -c "$C" -size 4096 -window 1 -d "$D" -source "$SOURCES" "${TLS_FLAGS[@]}"
	done
	for p in $(order 3); do
		bench handshake "$p" handshake -url "wss://${ADDR[$p]}/" -c "$HC" -d "$D" -source "$SOURCES" "${TLS_FLAGS[@]}"
	done
	log "restarting nginx with session tickets on, for the resumption row"
	stop_nginx
	start_nginx "$NGINX_SSL_RESUME"
	for p in $(order 4); do
		bench resume "$p" handshake -url "wss://${ADDR[$p]}/" -c "$HC" -d "$D" -source "$SOURCES" "${TLS_FLAGS[@]}" -resume
	done
	tls_report
}

# RESUMED is the share of a run's TLS handshakes that resumed.
RESUMED='if (.tls.handshakes // 0) > 0 then .tls.resumed / .tls.handshakes else null end'

# tls_report writes the -tls report: bench/results/latest-tls.md, and the
# raw reports in bench/results/raw-tls/.
tls_report() {
	local details=$TMP/details-tls.md out=$TMP/latest-tls.md
	{
		SECTION="wss idle: $N sessions held $HOLD (rate 2000/s, sources $SOURCES)"
		echo "## $SECTION"
		echo
		echo "Every session makes a full TLS handshake, then the upgrade; memory per session is the proxy's RSS"
		echo "growth from before connecting to connected, divided by the sessions connected."
		echo
		tls_notes idle
		header
		idle_rows idle
		echo
		verdict
		echo_section echo64 "wss echo: $C sessions, 64 B, window 1, $D (after 1 s warm-up)"
		echo_section echo4k "wss echo: $C sessions, 4 KiB, window 1, $D (after 1 s warm-up)"

		SECTION="wss handshake, full: $HC workers, $D (after 1 s warm-up)"
		echo "## $SECTION"
		echo
		echo "Connect, TLS handshake (a full one: the client keeps no session), upgrade, close; each proxy"
		echo "dials the echo backend in clear for every handshake. nginx: no session cache nor tickets"
		echo "(ssl_session_cache off, ssl_session_tickets off, NumTickets 0). HAProxy keeps its defaults, cache"
		echo "and tickets on, so OpenSSL still sends its TLS 1.3 tickets after each handshake (HAProxy 2.6 has no"
		echo "setting for how many); throng sends none to a client that does not offer to resume."
		echo
		tls_notes handshake
		header
		handshake_rows handshake
		echo
		verdict

		SECTION="wss handshake, resumed: $HC workers, -resume, $D (after 1 s warm-up)"
		echo "## $SECTION"
		echo
		echo "As above, but the client's connections share one session cache: a handshake resumes from the"
		echo "last ticket the proxy sent (TLS 1.3 PSK with (EC)DHE: no certificate, no signature). nginx"
		echo "restarted with ssl_session_tickets on; HAProxy and throng issue tickets by default."
		echo
		tls_notes resume
		header
		handshake_rows resume
		row resume "$RESUMED" "share of TLS handshakes resumed" hi 3
		echo
		verdict
	} >"$details"
	{
		report_head "throng vs nginx vs HAProxy over TLS (wss://)" echo64
		echo "- TLS: each proxy terminates TLS on its address with one throwaway ECDSA P-256 certificate"
		echo "  (openssl req, self-signed) and proxies in clear to the echo backend; the client (throng-bench,"
		echo "  crypto/tls, one goroutine per connection) offers \`-curves $TLS_CURVES\`, TLS 1.2 to 1.3, ALPN"
		echo "  http/1.1, and does not verify the certificate (-insecure); the cipher suite is the client's choice"
		echo "  on nginx (ssl_prefer_server_ciphers off, its default) and HAProxy (bind ... prefer-client-ciphers)"
		echo "- pinning: each proxy one loop/worker/thread on CPU $PROXY_CPU; backend and load generator on CPU $LOAD_CPU;"
		echo "  the scenarios run one after another, each against all three proxies, the first rotating:"
		echo "  idle ${ORDER[idle]}; echo64 ${ORDER[echo64]}; echo4k ${ORDER[echo4k]};"
		echo "  handshake ${ORDER[handshake]}; resume ${ORDER[resume]}"
		echo "- proxy CPU is utime+stime of the proxy process (nginx: its worker) over the measured time"
		echo "- ratios are throng/peer: above 1 is better for rates, below 1 for latency, memory, CPU seconds and failures"
		echo
		echo "## Summary"
		echo
		header
		SECTION=summary
		row idle '.targets[0].rss_per_session_bytes' "wss idle $N: proxy RSS per session (B)" -
		row handshake '.targets[0].handshakes_per_cpu_second' "full handshakes per proxy CPU-second" -
		row handshake .latency.p50_us "full handshake p50 (µs)" - 1
		row handshake .latency.p99_us "full handshake p99 (µs)" - 1
		row resume '.targets[0].handshakes_per_cpu_second' "resumed handshakes per proxy CPU-second" -
		row resume .latency.p50_us "resumed handshake p50 (µs)" - 1
		row resume .latency.p99_us "resumed handshake p99 (µs)" - 1
		row resume "$RESUMED" "share of TLS handshakes resumed (-resume)" - 3
		row echo64 '.targets[0].msgs_per_cpu_second' "wss echo $C × 64 B, window 1: msgs per proxy CPU-second" -
		row echo4k '.targets[0].msgs_per_cpu_second' "wss echo $C × 4 KiB, window 1: msgs per proxy CPU-second" -
		echo
		echo "Where throng is not ahead, scenario by scenario:"
		echo
		behind_list "$details" "wss "
		echo
		if [ -s "$NOTES" ]; then
			echo "Runs that ended with an error (their figures are still shown):"
			echo
			cat "$NOTES"
			echo
		fi
		cat "$details"
	} >"$out"
	mkdir -p bench/results
	cp "$out" bench/results/latest-tls.md
	rm -rf bench/results/raw-tls
	mkdir -p bench/results/raw-tls
	cp "$TMP"/*-throng.json "$TMP"/*-nginx.json "$TMP"/*-haproxy.json bench/results/raw-tls/ 2>/dev/null || true
	cat "$out"
}

if [ "$TLS" -eq 1 ]; then
	tls_run
	exit 0
fi

start_throng
start_nginx
start_haproxy

# Idle first, while every proxy is fresh: memory a proxy grew for earlier
# scenarios would be reused by the idle sessions and hide their cost.
for p in $(order 5); do
	bench idle "$p" idle -url "ws://${ADDR[$p]}/" -n "$N" -hold "$HOLD" -rate 2000/s -source "$SOURCES"
done
for p in $(order 0); do
	bench echo64 "$p" echo -url "ws://${ADDR[$p]}/" -c "$C" -size 64 -window 1 -d "$D" -source "$SOURCES"
done
for p in $(order 1); do
	node_bench echo64node "$p" "ws://${ADDR[$p]}/" "$C" 64
done
for p in $(order 1); do
	bench echo4k "$p" echo -url "ws://${ADDR[$p]}/" -c "$C" -size 4096 -window 1 -d "$D" -source "$SOURCES"
done
for p in $(order 2); do
	bench echo4kw "$p" echo -url "ws://${ADDR[$p]}/" -c "$BIG_C" -size 4096 -window "$WINDOW" -d "$D" \
		-rate 2000/s -source "$SOURCES"
done
for p in $(order 3); do
	bench handshake "$p" handshake -url "ws://${ADDR[$p]}/" -c "$HC" -d "$D" -source "$SOURCES"
done
for p in $(order 4); do
	bench fanout "$p" fanout -url "ws://${ADDR[$p]}/fanout/room-$p" -subs "$SUBS" -rate "$RATE" -d "$D" \
		-connect-rate 2000/s -source "$SOURCES"
done
scale_run

DETAILS=$TMP/details.md
{
	echo_section echo64 "echo: $C sessions, 64 B, window 1, $D (after 1 s warm-up)"
	echo_section echo64node "echo, Node ws client: $C sessions, 64 B, window 1, $D (after 1 s warm-up)"
	echo "The same load from bench/scripts/node/echo.js ($(j echo64node throng .client)), not throng-bench:"
	echo "\`${CMD[echo64node]}\`."
	echo
	echo_section echo4k "echo: $C sessions, 4 KiB, window 1, $D (after 1 s warm-up)"
	echo_section echo4kw "echo: $BIG_C sessions, 4 KiB, window $WINDOW, $D (after 1 s warm-up)"

	SECTION="handshake: $HC workers, $D (after 1 s warm-up)"
	echo "## $SECTION"
	echo
	echo "Connect, upgrade, close; each proxy dials the echo backend for every handshake."
	echo
	header
	handshake_rows handshake
	echo
	verdict

	SECTION="fanout: 1 publisher → $SUBS subscribers, $RATE msg/s of 64 B, $D (after 1 s warm-up)"
	echo "## $SECTION"
	echo
	echo "The backend (serve -mode fanout) relays each message to every other session of its path;"
	echo "the proxy carries one publisher and $SUBS subscribers, $((SUBS + 1)) backend connections."
	echo
	header
	row fanout .connected "subscribers connected" hi
	row fanout .delivered_ratio "delivered / expected" hi 4
	row fanout .msgs_per_sec "deliveries/s" hi
	row fanout .latency.p50_us "p50 delivery latency (µs)" lo 1
	row fanout .latency.p99_us "p99 delivery latency (µs)" lo 1
	row fanout '.targets[0].cpu_seconds' "proxy CPU seconds" lo 2
	row fanout '.targets[0].rss_bytes' "proxy RSS at the end (B)" lo
	row fanout "$FAILS" "errors and failures" lo
	echo
	verdict

	SECTION="idle: $N sessions held $HOLD (rate 2000/s, sources $SOURCES)"
	echo "## $SECTION"
	echo
	header
	idle_rows idle
	echo
	echo "Kernel TCP memory is system-wide (/proc/net/sockstat, pages of all TCP sockets: client, proxy"
	echo "and backend sides) before and after connecting, so other load on the host moves it; a negative"
	echo "figure means it shrank meanwhile and is not judged. Kernel slab is the growth of the socket slab"
	echo "caches (/proc/slabinfo: TCP, sock_inode_cache, dentry, filp, eventpoll_epi...), system-wide too,"
	echo "for the four sockets of each session (client, proxy both sides, backend): the same count behind"
	echo "every proxy, so it is shown, not judged."
	echo
	verdict
	echo "Failures by kind (idle): throng $(jq -c .failed "$TMP/idle-throng.json"),"
	echo "nginx $(jq -c .failed "$TMP/idle-nginx.json"), haproxy $(jq -c .failed "$TMP/idle-haproxy.json")."
	echo
	scale_section
} >"$DETAILS"

OUT=$TMP/latest.md
{
	report_head "throng vs nginx vs HAProxy" echo64
	echo "- pinning: each proxy one loop/worker/thread on CPU $PROXY_CPU; backends and load generator on CPU $LOAD_CPU;"
	echo "  the scenarios run one after another, each against all three proxies, the first rotating:"
	echo "  echo64 ${ORDER[echo64]}; echo64node ${ORDER[echo64node]}; echo4k ${ORDER[echo4k]}; echo4kw ${ORDER[echo4kw]};"
	echo "  handshake ${ORDER[handshake]}; fanout ${ORDER[fanout]}; idle ${ORDER[idle]}; then scale, throng only"
	echo "- load generator: throng-bench for every scenario but echo64node, which is bench/scripts/node/echo.js (Node's ws)"
	echo "- proxy CPU is utime+stime of the proxy process (nginx: its worker) over the measured time"
	echo "- ratios are throng/peer: above 1 is better for rates, below 1 for latency, memory, CPU seconds and failures"
	echo
	echo "## Summary"
	echo
	header
	SECTION=summary
	row echo64 .msgs_per_sec "echo $C × 64 B, window 1: msgs/s" -
	row echo64 '.targets[0].msgs_per_cpu_second' "echo $C × 64 B, window 1: msgs per proxy CPU-second" -
	row echo64node '.targets[0].msgs_per_cpu_second' "echo $C × 64 B, window 1, Node ws client: msgs per proxy CPU-second" -
	row echo4k .msgs_per_sec "echo $C × 4 KiB, window 1: msgs/s" -
	row echo4kw .msgs_per_sec "echo $BIG_C × 4 KiB, window $WINDOW: msgs/s" -
	row handshake .handshakes_per_sec "handshake, $HC workers: handshakes/s" -
	row fanout .latency.p99_us "fanout 1 → $SUBS: delivery p99 (µs)" - 1
	row idle '.targets[0].rss_per_session_bytes' "idle $N: proxy RSS per session (B)" -
	scale_summary
	echo
	echo "Where throng is not ahead, scenario by scenario:"
	echo
	behind_list "$DETAILS" "echo|handshake|fanout|idle"
	echo
	if [ -s "$NOTES" ]; then
		echo "Runs that ended with an error (their figures are still shown):"
		echo
		cat "$NOTES"
		echo
	fi
	cat "$DETAILS"
} >"$OUT"

mkdir -p bench/results
cp "$OUT" bench/results/latest.md
# The raw reports, and the charts drawn from them (BENCHMARKS.md shows a
# committed copy: throng-bench chart -in bench/results/raw -out charts).
rm -rf bench/results/raw
mkdir -p bench/results/raw
cp "$TMP"/*-throng.json "$TMP"/*-nginx.json "$TMP"/*-haproxy.json bench/results/raw/ 2>/dev/null || true
bin/throng-bench chart -in bench/results/raw -out bench/results/charts || log "charts not drawn"
cat "$OUT"
