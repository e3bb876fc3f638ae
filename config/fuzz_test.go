package config

import (
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and is deterministic: what it
// accepts once it accepts again, identically (no state survives a call).
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("[limits]\nmax_frame_bytes = \"16mb\"\n" + minimal))
	f.Add([]byte("[timeouts]\nconnect = 5\ntimeouts.close = 1.5\n" + minimal))
	f.Add([]byte("[server]\nlisten = [\":0\"]\nfoo = 1\n[[upstream]]\nbar = 2\n"))
	f.Add([]byte("timeouts = { connect = 5 }\n[server\n"))
	f.Add([]byte("[server]\nlisten = []\nlisten_tls = [\":443\"]\n[[tls.certificates]]\ncert = \"a\"\nkey = \"b\"\n" + minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			return
		}
		// Parsing the same bytes again gives the same config: nothing in
		// Parse depends on state left by an earlier call.
		c2, err := Parse(data, "fuzz.toml")
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("second Parse of accepted input: %v, equal %v", err, reflect.DeepEqual(c, c2))
		}
	})
}
