// Package sysstat reads what a load run needs to know about the machine
// and the processes under test from Linux's /proc: a process's resident
// memory and CPU time (/proc/PID/status, /proc/PID/stat), the TCP sockets
// it holds on an address (/proc/PID/fd, /proc/net/tcp), kernel socket
// memory (/proc/net/sockstat, /proc/slabinfo), and the machine itself.
//
// Readers allocate and are meant for the start and end of a phase, never
// for a per-message path. Parsers are split from the reads so tests and
// fuzz targets feed them bytes.
package sysstat
