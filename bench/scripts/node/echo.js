// bench/scripts/node/echo.js: an echo load generator that is not throng-bench,
// for compare.sh's second-client rows (issue 11 item 4). Node's `ws` package,
// one process, one event loop: SESSIONS WebSockets each keep one binary
// message of SIZE bytes in flight (window 1), against the echo backend
// through a proxy. After one second of warm-up it counts for DURATION
// seconds the echoes that came back whole, their round trips, and the CPU
// the proxy process PID used meanwhile (/proc/PID/stat, utime + stime).
// It prints one JSON report in the shape of throng-bench echo -json's
// fields that compare.sh reads:
//
//	{"connected", "msgs_per_sec", "latency": {"p50_us", "p99_us"},
//	 "targets": [{"msgs_per_cpu_second", "cpu_seconds", "rss_bytes"}],
//	 "errors"}
//
// usage: node echo.js URL SESSIONS SIZE DURATION_S PID CLK_TCK
// ws is found through NODE_PATH (compare.sh points it at the test kit's
// node_modules, installed by make node-deps).
'use strict';
const fs = require('fs');
const WebSocket = require('ws');

const [url, sessions, size, duration, pid, clkTck] = process.argv.slice(2);
const n = Number(sessions), seconds = Number(duration), tick = Number(clkTck || 100);
if (!url || !(n > 0) || !(Number(size) > 0) || !(seconds > 0) || !(Number(pid) > 0)) {
  console.error('usage: node echo.js URL SESSIONS SIZE DURATION_S PID CLK_TCK');
  process.exit(2);
}
const payload = Buffer.alloc(Number(size), 0x61);

// cpu is the proxy's user plus system time in seconds.
function cpu() {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / tick; // fields 14 and 15
}
function rss() {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : null;
}

let connected = 0, errors = 0, measuring = false, done = false, count = 0;
const rtts = []; // µs, measured window only
const socks = [];

function start(ws) {
  let sent = 0n;
  const send = () => { sent = process.hrtime.bigint(); ws.send(payload); };
  ws.on('message', (data) => {
    if (done) return;
    if (data.length !== payload.length) {
      errors++;
    } else if (measuring) {
      count++;
      rtts.push(Number(process.hrtime.bigint() - sent) / 1000);
    }
    send();
  });
  send();
}

for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  socks.push(ws);
  ws.on('open', () => {
    connected++;
    start(ws);
    if (connected === n) measure();
  });
  ws.on('error', () => { errors++; });
  ws.on('close', () => { if (!done) errors++; });
}
// A proxy that does not take every session within 10 s is reported as it is.
const slow = setTimeout(measure, 10000);

let began = false;
function measure() {
  if (began) return;
  began = true;
  clearTimeout(slow);
  setTimeout(() => {
    measuring = true;
    const t0 = process.hrtime.bigint(), c0 = cpu();
    setTimeout(() => {
      measuring = false;
      done = true;
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9, used = cpu() - c0;
      rtts.sort((a, b) => a - b);
      const q = (p) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * p))] : null);
      process.stdout.write(JSON.stringify({
        client: `node ${process.version}, ws ${require('ws/package.json').version}`,
        connected,
        msgs_per_sec: count / elapsed,
        latency: { p50_us: q(0.5), p99_us: q(0.99) },
        targets: [{ msgs_per_cpu_second: used > 0 ? count / used : null, cpu_seconds: used, rss_bytes: rss() }],
        errors,
      }) + '\n');
      for (const ws of socks) ws.terminate();
      process.exit(0);
    }, seconds * 1000);
  }, 1000);
}
