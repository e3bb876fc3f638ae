package engine

import (
	"testing"
	"time"

	"github.com/throngproxy/throng/upstream"
)

// TestBackoffFullJitter checks that the wait before retry n is below
// min(retry_backoff_max, retry_backoff × 2^(n-1)) and spreads over that
// range, not clustering at its top or bottom.
func TestBackoffFullJitter(t *testing.T) {
	sh := newShard(&Engine{}, nil, 1)
	u := &upstream.Upstream{RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: time.Second}
	s := &session{sh: sh, hs: &handshake{up: u}}
	tests := []struct {
		attempts uint8
		ceil     time.Duration
	}{
		{1, 50 * time.Millisecond},
		{2, 100 * time.Millisecond},
		{3, 200 * time.Millisecond},
		{5, 800 * time.Millisecond},
		{6, time.Second}, // 1.6 s capped
		{30, time.Second},
	}
	for _, tt := range tests {
		s.hs.attempts = tt.attempts
		var lo, hi time.Duration = tt.ceil, 0
		for range 2000 {
			d := s.backoff()
			if d < 0 || d >= tt.ceil {
				t.Fatalf("attempts %d: backoff %v outside [0, %v)", tt.attempts, d, tt.ceil)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > tt.ceil/20 || hi < tt.ceil*19/20 {
			t.Errorf("attempts %d: 2000 backoffs span [%v, %v]; want nearly all of [0, %v)", tt.attempts, lo, hi, tt.ceil)
		}
	}
	u.RetryBackoff = 0
	if d := s.backoff(); d != 0 {
		t.Fatalf("retry_backoff = 0: backoff %v; want 0", d)
	}
}
