//go:build !race

package tlslayer

import "testing"

// TestZeroAllocs: Seal into a buffer with room and Open of application data
// must not allocate, for every suite and record size.
func TestZeroAllocs(t *testing.T) {
	for _, fs := range fixedSuites {
		for _, n := range []int{0, 64, 4 << 10, 16 << 10, 40 << 10} {
			c, s := fixedPair(t, fs.version, fs.suite)
			msg := pattern(n, 1)
			sealed := c.Seal(nil, msg) // from sequence number 0
			dst := make([]byte, 0, c.SealedLen(n))
			if got := testing.AllocsPerRun(100, func() { c.Seal(dst, msg) }); got != 0 {
				t.Errorf("%s: Seal of %d bytes: %v allocs, want 0", fs.name, n, got)
			}
			buf := make([]byte, len(sealed))
			reply := make([]byte, 0, 64)
			if got := testing.AllocsPerRun(100, func() {
				copy(buf, sealed)
				s.in.seq, s.useless = 0, 0 // open the same records again
				if _, _, _, err := s.Open(buf, reply); err != nil {
					t.Fatal(err)
				}
			}); got != 0 {
				t.Errorf("%s: Open of %d bytes: %v allocs, want 0", fs.name, n, got)
			}
		}
	}
}
