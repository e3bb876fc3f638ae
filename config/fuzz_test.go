package config

import "testing"

// FuzzParse checks that Parse never panics and that what it accepts
// validates.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("[limits]\nmax_frame_bytes = \"16mb\"\n" + minimal))
	f.Add([]byte("[timeouts]\nconnect = 5\ntimeouts.close = 1.5\n" + minimal))
	f.Add([]byte("[server]\nlisten = [\":0\"]\nfoo = 1\n[[upstream]]\nbar = 2\n"))
	f.Add([]byte("timeouts = { connect = 5 }\n[server\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
