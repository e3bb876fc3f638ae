package policy

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestOrigins(t *testing.T) {
	o, err := ParseOrigins([]string{"https://app.example.com", "https://*.Example.org", "http://localhost:3000", "https://[2001:db8::1]"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"HTTPS://APP.EXAMPLE.COM", true},
		{"https://app.example.com:443", true}, // default port
		{"https://app.example.com:8443", false},
		{"http://app.example.com", false}, // scheme differs
		{"https://evil-app.example.com", false},
		{"https://app.example.com.evil.net", false},
		{"https://chat.example.org", true},
		{"https://a.b.example.org", true},
		{"https://example.org", false}, // the wildcard wants a subdomain
		{"https://xexample.org", false},
		{"http://chat.example.org", false},
		{"http://localhost:3000", true},
		{"http://localhost", false},
		{"https://[2001:db8::1]", true},
		{"https://[2001:db8::1]:443", true},
		{"null", false},
		{"", false},
		{"https://", false},
		{"https://app.example.com/path", false},
		{"https://user@app.example.com", false},
	}
	for _, tt := range tests {
		if got := o.Allowed([]byte(tt.origin)); got != tt.want {
			t.Errorf("Allowed(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
	if !(&Origins{}).Allowed([]byte("https://anything")) {
		t.Error("an empty list must admit any origin")
	}
}

func TestParseOriginsRefuses(t *testing.T) {
	for _, p := range []string{"", "example.com", "https://", "https://*", "https://*.", "https://a..b", "https://a.com:0",
		"https://a.com:99999", "https://a.com/x", "https://exa mple.com", "1http://a.com", "https://a.*.com"} {
		if _, err := ParseOrigins([]string{p}); err == nil {
			t.Errorf("ParseOrigins(%q) = nil error, want one", p)
		}
	}
}

func TestOriginsAllowedDoesNotAllocate(t *testing.T) {
	o, _ := ParseOrigins([]string{"https://*.example.com"})
	origin := []byte("https://Chat.Example.com")
	if n := testing.AllocsPerRun(100, func() { o.Allowed(origin) }); n != 0 {
		t.Errorf("Allowed allocates %v times", n)
	}
}

func TestPrefixes(t *testing.T) {
	allow, err := ParsePrefixes([]string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	deny, _ := ParsePrefixes([]string{"10.9.0.0/16"})
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true},
		{"10.9.1.1", false}, // deny wins
		{"11.0.0.1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"2001:db8:1::1", true},
		{"2001:db9::1", false},
		{"198.51.100.20", true}, // a mapped prefix is unmapped
	}
	for _, tt := range tests {
		if got := Admits(allow, deny, netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Admits(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if !Admits(Prefixes{}, deny, netip.MustParseAddr("1.1.1.1")) {
		t.Error("an empty allow list must admit what deny does not refuse")
	}
	for _, bad := range []string{"", "10.0.0.0/33", "10.0.0", "fe80::1%eth0", "host.example"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) = nil error", bad)
		}
	}
}

func TestGroupKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
	}
	for _, tt := range tests {
		if got := GroupKey(netip.MustParseAddr(tt.ip), 64); got.String() != tt.want {
			t.Errorf("GroupKey(%s) = %s, want %s", tt.ip, got, tt.want)
		}
	}
}

func TestBucket(t *testing.T) {
	spec := NewBucketSpec(10, time.Second, 3) // 10/s, burst 3
	var b Bucket
	now := int64(time.Hour)
	for i := range 3 {
		if ok, _ := b.Take(&spec, now, 1); !ok {
			t.Fatalf("take %d of a full bucket of 3 refused", i)
		}
	}
	ok, wait := b.Take(&spec, now, 1)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("4th take = %v, wait %v; want refused, a token within 100ms", ok, wait)
	}
	if ok, _ := b.Take(&spec, now+int64(wait), 1); !ok {
		t.Fatal("take after the wait refused")
	}
	if b.Full(now + int64(wait)) {
		t.Fatal("a drained bucket reports full")
	}
	if !b.Full(now + int64(time.Second)) {
		t.Fatal("a bucket left for a second is not full")
	}
	// A cost above the burst needs a full bucket and leaves it in debt.
	var big Bucket
	if ok, _ := big.Take(&spec, now, 30); !ok {
		t.Fatal("a full bucket refused a take larger than its size")
	}
	if ok, _ := big.Take(&spec, now+int64(time.Second), 1); ok {
		t.Fatal("a bucket 2 s in debt admitted after 1 s")
	}
	if ok, _ := big.Take(&spec, now+int64(3*time.Second), 1); !ok {
		t.Fatal("a bucket whose debt is paid refused")
	}
	// Default burst: a second's worth.
	def := NewBucketSpec(20, time.Second, 0)
	var d Bucket
	n := 0
	for {
		if ok, _ := d.Take(&def, now, 1); !ok {
			break
		}
		n++
	}
	if n != 20 {
		t.Errorf("default burst of 20/s = %d, want 20", n)
	}
}

func TestIPTableRate(t *testing.T) {
	spec := NewBucketSpec(2, time.Second, 2)
	tb := NewIPTable(0, &spec, 1024)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	now := int64(time.Hour)
	for range 2 {
		if _, v, _ := tb.Admit(a, now); v != Admitted {
			t.Fatalf("a: %v", v)
		}
	}
	if _, v, wait := tb.Admit(a, now); v != RateLimited || wait <= 0 {
		t.Fatalf("a's 3rd = %v (wait %v), want rate limited", v, wait)
	}
	if _, v, _ := tb.Admit(b, now); v != Admitted {
		t.Fatal("b is limited by a's bucket")
	}
	tb.Sweep(now)
	if tb.Len() != 2 {
		t.Fatalf("sweep forgot entries in debt: %d left", tb.Len())
	}
	tb.Sweep(now + int64(2*time.Second))
	if tb.Len() != 0 {
		t.Fatalf("sweep kept %d full entries", tb.Len())
	}
}

func TestIPTableSessions(t *testing.T) {
	tb := NewIPTable(2, nil, 1024)
	a := netip.MustParseAddr("2001:db8::1")
	e1, v1, _ := tb.Admit(a, 0)
	e2, v2, _ := tb.Admit(a, 0)
	if v1 != Admitted || v2 != Admitted || e1 == nil || e1 != e2 {
		t.Fatalf("first two: %v %v", v1, v2)
	}
	if _, v, _ := tb.Admit(a, 0); v != TooManySessions {
		t.Fatalf("third = %v, want too many sessions", v)
	}
	tb.Sweep(1)
	if tb.Len() != 1 {
		t.Fatal("sweep forgot an address holding sessions")
	}
	tb.Release(e1)
	if _, v, _ := tb.Admit(a, 0); v != Admitted {
		t.Fatalf("after a release = %v", v)
	}
}

// TestIPTableBounded floods the table with new addresses: it stays within
// its size, and an address in debt keeps its bucket (the flood cannot reset
// it by evicting it).
func TestIPTableBounded(t *testing.T) {
	spec := NewBucketSpec(1, time.Second, 1)
	tb := NewIPTable(0, &spec, 1024)
	heavy := netip.MustParseAddr("198.51.100.1")
	now := int64(time.Hour)
	if _, v, _ := tb.Admit(heavy, now); v != Admitted {
		t.Fatal(v)
	}
	for i := range 200000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tb.Admit(a, now+int64(i)) // i ns later: nobody's bucket refills
	}
	if n := tb.Len(); n > 1024+ipShards {
		t.Fatalf("table holds %d addresses, want at most about 1024", n)
	}
	if _, v, _ := tb.Admit(heavy, now+200000); v != RateLimited {
		t.Fatalf("heavy user's bucket was reset by the flood: %v", v)
	}
}

func TestIPTableConcurrent(t *testing.T) {
	tb := NewIPTable(50, nil, 1024)
	a := netip.MustParseAddr("192.0.2.9")
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if e, v, _ := tb.Admit(a, 0); v == Admitted {
					mu.Lock()
					admitted++
					mu.Unlock()
					_ = e
				}
			}
		})
	}
	wg.Wait()
	if admitted != 50 {
		t.Fatalf("admitted %d sessions of one address, want exactly the cap of 50", admitted)
	}
}
