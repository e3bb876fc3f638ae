package config

import (
	"strings"
	"testing"
)

func TestValidateFanout(t *testing.T) {
	fan := func(edit func(r *Route)) func(c *Config) {
		return func(c *Config) {
			c.Bus = Bus{Redis: "redis://127.0.0.1:6379/0", NATS: "nats://127.0.0.1:4222"}
			r := DefaultRoute()
			r.PathPrefix, r.Mode, r.Source = "/live/", ModeFanout, SourceRedis
			if edit != nil {
				edit(&r)
			}
			c.Routes = append(c.Routes, r)
		}
	}
	tests := []struct {
		name string
		edit func(c *Config)
		want string // "" = valid
	}{
		{"redis", fan(nil), ""},
		{"nats, query channel, publish", fan(func(r *Route) {
			r.Source, r.Channel, r.ClientMessages, r.SlowSubscriber, r.MessageType = SourceNATS, "query:room", ClientMessagesPublish, SlowSubscriberSkip, MessageBinary
		}), ""},
		{"header channel", fan(func(r *Route) { r.Channel = "header:X-Room" }), ""},
		{"no bus", func(c *Config) { fan(nil)(c); c.Bus.Redis = "" }, `route[1].source: "redis" needs bus.redis`},
		{"bad bus url", func(c *Config) { fan(nil)(c); c.Bus.NATS = "http://u:secret@h:1" }, `bus.nats: must be a nats:// URL with a host, not "http://u:xxxxx@h:1"`},
		{"bad mode", fan(func(r *Route) { r.Mode = "broadcast" }), `route[1].mode: must be proxy or fanout`},
		{"no source", fan(func(r *Route) { r.Source = "" }), `route[1].source: must be redis, nats or upstream`},
		{"upstream source", fan(func(r *Route) {
			r.Source, r.Upstream, r.ClientMessages = SourceUpstream, "echo", ClientMessagesUpstream
		}), ""},
		{"upstream source without upstream", fan(func(r *Route) { r.Source = SourceUpstream }), `route[1].upstream: is empty`},
		{"publish from upstream", fan(func(r *Route) {
			r.Source, r.Upstream, r.ClientMessages = SourceUpstream, "echo", ClientMessagesPublish
		}), `route[1].client_messages: "publish" needs a bus source`},
		{"upstream messages from a bus", fan(func(r *Route) { r.ClientMessages = ClientMessagesUpstream }), `route[1].client_messages: "upstream" needs source = "upstream"`},
		{"bad channel", fan(func(r *Route) { r.Channel = "cookie:x" }), `route[1].channel: must be path, query:NAME or header:NAME`},
		{"bad prefix", fan(func(r *Route) { r.ChannelPrefix = "a.>" }), `route[1].channel_prefix`},
		{"bad type", fan(func(r *Route) { r.MessageType = "json" }), `route[1].message_type`},
		{"bad client messages", fan(func(r *Route) { r.ClientMessages = "echo" }), `route[1].client_messages`},
		{"bad slow", fan(func(r *Route) { r.SlowSubscriber = "wait" }), `route[1].slow_subscriber`},
		{"small queue", fan(func(r *Route) { r.FanoutQueueLimit = 10 }), `route[1].fanout_queue_limit`},
		{"unused upstream", fan(func(r *Route) { r.Upstream = "echo" }), `route[1].upstream: is only for source = "upstream"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseFanoutRoute(t *testing.T) {
	c, err := Parse([]byte(`
[bus]
nats = "nats://127.0.0.1:4222"

[[route]]
upstream = "a"

[[route]]
path_prefix = "/live/"
mode = "fanout"
source = "nats"

[[upstream]]
name = "a"
backends = [{ addr = "127.0.0.1:9000" }]
`), "fanout.toml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[1]
	if r.Mode != ModeFanout || r.Channel != ChannelPath || r.MessageType != MessageText || r.ClientMessages != ClientMessagesDrop ||
		r.SlowSubscriber != SlowSubscriberClose || r.FanoutQueueLimit != MiB || c.Routes[0].Mode != ModeProxy {
		t.Fatalf("defaults not filled: %+v", r)
	}
}
