package codec

import (
	"crypto/sha1"
	"encoding/base64"
	"testing"
)

func TestAppendAcceptKey(t *testing.T) {
	tests := []struct {
		name, dst, key, want string
	}{
		{"rfc 6455 example", "", testKey, testAccept},
		{"appends", "Sec-WebSocket-Accept: ", testKey, "Sec-WebSocket-Accept: " + testAccept},
		{"other key", "", "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
		{"empty key", "", "", acceptReference("")},
		{"long key", "", string(make([]byte, 200)), acceptReference(string(make([]byte, 200)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendAcceptKey([]byte(tc.dst), []byte(tc.key))); got != tc.want {
				t.Errorf("AppendAcceptKey(%q, %q) = %q, want %q", tc.dst, tc.key, got, tc.want)
			}
		})
	}
}

// acceptReference computes the accept key the plain way.
func acceptReference(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}
