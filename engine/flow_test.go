package engine

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOutQueue pushes and consumes in steps that straddle chunk boundaries
// and checks that what comes out is what went in, in order, and that the
// chunks go back to the shard.
func TestOutQueue(t *testing.T) {
	type step struct {
		push    int // bytes pushed (from the running pattern)
		consume int // then bytes consumed
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"small", []step{{10, 3}, {5, 12}}},
		{"exactly one chunk", []step{{chunkSize, chunkSize}}},
		{"across chunks", []step{{chunkSize + 1, 1}, {chunkSize - 1, chunkSize}, {3, chunkSize + 2}}},
		{"many chunks, consumed in odd steps", []step{{5*chunkSize + 17, 7777}, {0, 3 * chunkSize}, {100, 2*chunkSize + 17 - 7777 + 100}}},
		{"push after emptied", []step{{40, 40}, {70000, 69999}, {1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := &shard{}
			var q outQueue
			var want []byte
			next := byte(0)
			for i, st := range tt.steps {
				p := make([]byte, st.push)
				for j := range p {
					p[j] = next
					next = next*7 + 3
				}
				q.push(sh, p)
				want = append(want, p...)
				got := bytes.Join(q.chunks, nil)[q.off:]
				if q.n != len(want) || !bytes.Equal(got, want) {
					t.Fatalf("step %d: queue holds %d bytes (n %d), want %d", i, len(got), q.n, len(want))
				}
				q.consume(sh, st.consume)
				want = want[st.consume:]
			}
			if q.n != 0 || len(q.chunks) != 0 {
				t.Fatalf("queue not empty at the end: n %d, %d chunks", q.n, len(q.chunks))
			}
			if len(sh.chunks) == 0 {
				t.Error("no chunk went back to the shard")
			}
		})
	}
}

// TestOutQueueReset drops a queue of several chunks and keeps at most
// maxFreeChunks of them.
func TestOutQueueReset(t *testing.T) {
	sh := &shard{}
	var q outQueue
	q.push(sh, make([]byte, (maxFreeChunks+3)*chunkSize))
	q.reset(sh)
	if q.n != 0 || len(q.chunks) != 0 || q.off != 0 {
		t.Fatalf("reset left n %d, %d chunks, off %d", q.n, len(q.chunks), q.off)
	}
	if len(sh.chunks) != maxFreeChunks {
		t.Errorf("shard keeps %d free chunks, want %d", len(sh.chunks), maxFreeChunks)
	}
}

// TestSendQueue sends a queue of several chunks over a socket pair with
// sendmsg and reads back the same bytes.
func TestSendQueue(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	sh := &shard{}
	var q outQueue
	want := bytes.Repeat([]byte("0123456789abcdef"), (3*chunkSize+100)/16)
	q.push(sh, want)
	q.consume(sh, 5) // the head chunk is partly sent
	want = want[5:]
	var got []byte
	buf := make([]byte, 64<<10)
	for q.n > 0 {
		n, errno := sh.sendQueue(fds[0], &q)
		if errno != 0 {
			t.Fatalf("sendmsg: %v", errno)
		}
		q.consume(sh, n)
		for len(got) < len(want)-q.n {
			m, err := unix.Read(fds[1], buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:m]...)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes back, want the %d queued", len(got), len(want))
	}
	if sh.iovs[0].Base != nil || sh.msg.Iov != nil {
		t.Error("the shard's iovecs still point at sent bytes")
	}
}
