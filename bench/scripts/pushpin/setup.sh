#!/bin/bash
# Prepares a Pushpin (Debian's pushpin 1.36) for throng-bench fanout in DIR
# (default /tmp/pp): listening on 127.0.0.99:9380, every WebSocket handed
# to gripbackend.go (go run bench/scripts/pushpin/gripbackend.go, on
# 127.0.0.1:9381) over WebSocket-over-HTTP, which subscribes it to "room"
# and publishes what it sends. Then:
#   taskset -c 0 pushpin --config DIR/pushpin.conf -m &
#   bin/throng-bench fanout -url ws://127.0.0.99:9380/room -subs 5000 -rate 2 -d 10s -pid ... (condure, zurl, pushpin-proxy, pushpin-handler)
# What Debian's defaults need for that: zurl (the backend hop) is not among
# the runner's services and is pointed at /var/run/zurl; its template
# denies 127.*; message_rate and message_hwm throttle and drop.
# Connect subscribers at about 100/s (-connect-rate 100/s): at 500/s and
# more the zurl hop falls behind (a core at 100% for ~100 requests a
# second) and most handshakes time out or get 502. bench/scripts/fanout.sh
# -pushpin runs it that way.
set -eu
DIR=${1:-/tmp/pp}
mkdir -p "$DIR/run" "$DIR/log"
rm -rf "$DIR/lib" && cp -r /usr/lib/pushpin "$DIR/lib"
sed -i 's/^deny=.*/deny=/; s/^max_open_requests=.*/max_open_requests=20000/; s/^in_hwm=.*/in_hwm=50000/; s/^out_hwm=.*/out_hwm=50000/' "$DIR/lib/runner/zurl.conf.template"
sed -i "s#ipc:///var/run/zurl/zurl-in-stream#ipc://{rundir}/{ipc_prefix}zurl-in-stream#; s#ipc:///var/run/zurl/zurl-in\$#ipc://{rundir}/{ipc_prefix}zurl-in#; s#ipc:///var/run/zurl/zurl-out#ipc://{rundir}/{ipc_prefix}zurl-out#" "$DIR/lib/internal.conf"
sed -e "s#^\[global\]#[global]\nlibdir=$DIR/lib#" \
    -e "s#^rundir=.*#rundir=$DIR/run#" -e "s#^logdir=.*#logdir=$DIR/log#" \
    -e "s#^services=.*#services=condure,zurl,pushpin-proxy,pushpin-handler#" \
    -e "s#^http_port=.*#http_port=127.0.0.99:9380#" \
    -e "s#^routesfile=.*#routesfile=$DIR/routes#" \
    -e "s#^message_rate=.*#message_rate=10000000#" -e "s#^message_hwm=.*#message_hwm=100000000#" \
    /etc/pushpin/pushpin.conf > "$DIR/pushpin.conf"
echo '* 127.0.0.1:9381,over_http' > "$DIR/routes"
echo "ready: $DIR/pushpin.conf"
