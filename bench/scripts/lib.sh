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
