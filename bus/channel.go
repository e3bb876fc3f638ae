package bus

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxChannelLen is the longest channel name ValidateChannel accepts, in
// bytes. Both servers take far longer names; the bound keeps a client-chosen
// name from costing much memory on the servers and in every throng process.
const MaxChannelLen = 256

// maxPrefixLen bounds Options.Prefix, which comes from configuration.
const maxPrefixLen = 64

// ValidateChannel reports whether name may be subscribed to or published
// on, with an error wrapping ErrBadChannel if not. The rules are the same
// for both buses, so that a route works on either:
//
//   - 1 to MaxChannelLen bytes of UTF-8;
//   - no white space and no control characters (NATS splits its protocol
//     lines on white space, and neither belongs in a name);
//   - no '*' or '>' anywhere: those are NATS wildcards, and a client must
//     never be able to subscribe to many channels at once (with Redis the
//     package uses SUBSCRIBE, never PSUBSCRIBE, so they would be literal,
//     but a name must mean the same thing on both buses);
//   - no empty '.'-separated token (no leading or trailing '.', no ".."),
//     which NATS refuses.
func ValidateChannel(name string) error {
	if reason := channelProblem(name); reason != "" {
		return fmt.Errorf("%w: %.64q: %s", ErrBadChannel, name, reason)
	}
	return nil
}

// channelProblem is why name is not a valid channel, or "".
func channelProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxChannelLen:
		return fmt.Sprintf("longer than %d bytes", MaxChannelLen)
	case !utf8.ValidString(name):
		return "not UTF-8"
	}
	for _, r := range name {
		switch {
		case r == '*' || r == '>':
			return "wildcard character"
		case unicode.IsSpace(r):
			return "white space"
		case unicode.IsControl(r):
			return "control character"
		}
	}
	if name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return "empty token"
	}
	return ""
}

// validatePrefix checks Options.Prefix: empty, or a valid channel name that
// may end in one '.', so that prefix+channel is valid whenever channel is.
func validatePrefix(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > maxPrefixLen {
		return fmt.Errorf("%w: prefix longer than %d bytes", ErrBadChannel, maxPrefixLen)
	}
	if reason := channelProblem(strings.TrimSuffix(p, ".")); reason != "" {
		return fmt.Errorf("%w: prefix %q: %s", ErrBadChannel, p, reason)
	}
	return nil
}
