package config

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/throngproxy/throng/codec"
)

// Where a fan-out route takes its channel from (route.channel).
const (
	ChannelPath         = "path"    // what follows path_prefix
	ChannelQueryPrefix  = "query:"  // query:NAME, the first NAME=value of the query
	ChannelHeaderPrefix = "header:" // header:NAME, the first NAME header
)

// ParseChannelKey splits a route.channel value into its kind
// (ChannelPath, ChannelQueryPrefix or ChannelHeaderPrefix) and name; ok
// is false for anything else, or a name that is not a token.
func ParseChannelKey(s string) (kind, name string, ok bool) {
	if s == ChannelPath {
		return s, "", true
	}
	for _, p := range [...]string{ChannelQueryPrefix, ChannelHeaderPrefix} {
		if name, found := strings.CutPrefix(s, p); found {
			return p, name, codec.IsToken(name)
		}
	}
	return "", "", false
}

// validateBus checks [bus].
func (c *Config) validateBus(v *validator) {
	for _, b := range []struct {
		key, url string
		schemes  []string
	}{
		{"bus.redis", c.Bus.Redis, []string{"redis", "rediss"}},
		{"bus.nats", c.Bus.NATS, []string{"nats"}},
	} {
		if b.url == "" {
			continue
		}
		u, err := url.Parse(b.url)
		ok := err == nil && u.Host != ""
		if ok {
			ok = false
			for _, s := range b.schemes {
				ok = ok || u.Scheme == s
			}
		}
		if !ok {
			v.add(b.key, "must be a "+strings.Join(b.schemes, ":// or ")+":// URL with a host, not "+strconv.Quote(redact(b.url)))
		}
	}
}

// redact drops a URL's password for an error message.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return s
}

// validateFanout checks a route's mode and fan-out keys; it reports
// whether the route is a fan-out one (which needs no upstream unless its
// source is one).
func (c *Config) validateFanout(v *validator, key string, r *Route) (fanout bool) {
	switch r.Mode {
	case ModeProxy, "": // "": a Route built in Go without its defaults
		return false
	case ModeFanout:
	default:
		v.add(key+".mode", "must be proxy or fanout, not "+strconv.Quote(r.Mode))
		return false
	}
	switch r.Source {
	case SourceRedis:
		if c.Bus.Redis == "" {
			v.add(key+".source", `"redis" needs bus.redis`)
		}
	case SourceNATS:
		if c.Bus.NATS == "" {
			v.add(key+".source", `"nats" needs bus.nats`)
		}
	case SourceUpstream:
		// route.upstream is checked as for a proxy route.
	default:
		v.add(key+".source", "must be redis, nats or upstream, not "+strconv.Quote(r.Source))
	}
	if _, _, ok := ParseChannelKey(r.Channel); !ok {
		v.add(key+".channel", "must be path, query:NAME or header:NAME (NAME a token), not "+strconv.Quote(r.Channel))
	}
	if r.ChannelPrefix != "" && strings.ContainsAny(r.ChannelPrefix, " \t\r\n*>") {
		v.add(key+".channel_prefix", "must not hold whitespace, * or >, not "+strconv.Quote(r.ChannelPrefix))
	}
	switch r.MessageType {
	case MessageText, MessageBinary:
	default:
		v.add(key+".message_type", "must be text or binary, not "+strconv.Quote(r.MessageType))
	}
	switch r.ClientMessages {
	case ClientMessagesDrop:
	case ClientMessagesPublish:
		if r.Source == SourceUpstream {
			v.add(key+".client_messages", `"publish" needs a bus source (redis or nats); with source = "upstream" use "upstream"`)
		}
	case ClientMessagesUpstream:
		if r.Source != SourceUpstream {
			v.add(key+".client_messages", `"upstream" needs source = "upstream"`)
		}
	default:
		v.add(key+".client_messages", "must be drop, upstream or publish, not "+strconv.Quote(r.ClientMessages))
	}
	switch r.SlowSubscriber {
	case SlowSubscriberClose, SlowSubscriberSkip:
	default:
		v.add(key+".slow_subscriber", "must be close or skip, not "+strconv.Quote(r.SlowSubscriber))
	}
	v.sizeRange(key+".fanout_queue_limit", r.FanoutQueueLimit, 4*KiB, 1<<30)
	if r.Subprotocol != "" && !codec.IsToken(r.Subprotocol) {
		v.add(key+".subprotocol", strconv.Quote(r.Subprotocol)+" is not a token")
	}
	if r.Upstream != "" && r.Source != SourceUpstream {
		// An upstream named on a bus route would be silently unused.
		v.add(key+".upstream", `is only for source = "upstream" on a fan-out route`)
	}
	return true
}
