# bench/scripts/lib.sh: what the comparison scripts share. Sourced, not
# run; the sourcing script defines log MESSAGE.

# install PACKAGE... installs the first Debian package that installs.
install() {
	local sudo="" p
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq >&2
	for p in "$@"; do
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >&2 && return 0
	done
	return 1
}

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

# scratch makes WORK, a temporary directory, and PIDS, the processes the
# script starts; both go when the script exits, however it ends.
scratch() {
	WORK=$(mktemp -d)
	PIDS=()
	trap scratch_cleanup EXIT
}

scratch_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}

# start_echo ADDR starts the throng-bench echo backend (one loop) on ADDR,
# on CPU 1, and waits until it accepts.
start_echo() {
	taskset -c 1 bin/throng-bench serve -listen "$1" -loops 1 >/dev/null 2>&1 &
	PIDS+=($!)
	wait_port "$1"
}

# throng_toml LISTEN BACKEND [LINE...] prints a throng configuration: one
# loop on LISTEN, no access log, every request to the one backend BACKEND;
# each LINE goes into the upstream's table.
throng_toml() {
	local listen=$1 backend=$2 line
	shift 2
	printf '[server]\nlisten = ["%s"]\nloops = 1\n[log]\naccess = false\n' "$listen"
	printf '[[route]]\nupstream = "b"\n[[upstream]]\nname = "b"\n'
	for line in "$@"; do echo "$line"; done
	printf 'backends = [{ addr = "%s" }]\n' "$backend"
}
