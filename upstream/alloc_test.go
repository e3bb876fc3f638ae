//go:build !race

package upstream

import (
	"strings"
	"testing"
)

func TestMatchDoesNotAllocate(t *testing.T) {
	tb := benchTable(t)
	long := []byte(strings.Repeat("x", 300) + ".example.com")
	for i := range benchHosts {
		host, target := benchHosts[i], benchTargets[i]
		if n := testing.AllocsPerRun(100, func() { tb.Match(host, target) }); n != 0 {
			t.Errorf("Match(%q, %q): %v allocs; want 0", host, target, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { tb.Match(long, benchTargets[0]) }); n != 0 {
		t.Errorf("Match(long host): %v allocs; want 0", n)
	}
}

func TestNewBalancersPickDoesNotAllocate(t *testing.T) {
	for _, kind := range allKinds {
		bs := backends(5, 3, 1, 1)
		setActive(bs, 4, 1, 0, 2)
		b := mustBalancer(t, kind, bs)
		for _, exclude := range []uint64{0, 0b10, 0b1111} {
			if n := testing.AllocsPerRun(100, func() { b.Pick(exclude, 0xdeadbeef) }); n != 0 {
				t.Errorf("%s Pick(%b): %v allocs; want 0", kind, exclude, n)
			}
		}
	}
}

func TestHashKeyDoesNotAllocate(t *testing.T) {
	ip := []byte("192.0.2.1")
	h := hdrs("Host", "example.com", "X-User", "alice", "Cookie", "a=1; sid=abc")
	target := []byte("/ws?a=1&room=42")
	for _, src := range []string{"ip", "path", "header:x-user", "header:missing", "cookie:sid", "cookie:missing", "query:room", "query:missing"} {
		ks, err := ParseKeySource(src)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { ks.HashKey(ip, h, target) }); n != 0 {
			t.Errorf("HashKey(%s): %v allocs; want 0", src, n)
		}
	}
}

func TestStickyFindAllocs(t *testing.T) {
	u := stickyTable(t, "secret", "10.0.0.1:80", "10.0.0.2:80")
	hs := cookieHeaders("a=1; " + cookieOf(t, u.Sticky.SetCookie(u.Backends[1])))
	if n := testing.AllocsPerRun(100, func() {
		if u.Sticky.Find(hs) != u.Backends[1] {
			t.Fatal("wrong backend")
		}
	}); n != 0 {
		t.Fatalf("Find allocates %v times per call", n)
	}
}
