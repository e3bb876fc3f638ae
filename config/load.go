package config

import (
	"bytes"
	"errors"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the file at path, decodes it strictly onto Default() and
// validates it. It returns every problem at once (errors.Join of *Error,
// each naming path and, where known, the line). It is what -check-config
// and SIGHUP reload run.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes data (a file called name, used in errors) strictly onto
// Default(), fills array elements' omitted keys from DefaultRoute,
// DefaultUpstream and DefaultBackend, stores route hosts lowercase ("" as
// "*"), and validates. An unknown key is an error giving its line:
// `throng.toml:12: unknown key "limits.max_frame_byte"`.
func Parse(data []byte, name string) (*Config, error) {
	if errs := checkDurationTypes(data); len(errs) > 0 {
		return nil, joinErrors(errs, name)
	}
	c := Default()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeErrors(err, name)
	}
	// Decode again, generically, to learn which keys array elements set:
	// their defaults cannot be laid out before the element count is known.
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return nil, decodeErrors(err, name)
	}
	fillElements(c, raw)
	if srv, _ := raw["server"].(map[string]any); srv != nil {
		if _, tlsSet := srv["listen_tls"]; tlsSet {
			if _, plainSet := srv["listen"]; !plainSet {
				// A file that names TLS listeners only wants those: the
				// default plain listener is not added behind its back.
				c.Server.Listen = nil
			}
		}
	}
	for i := range c.Routes {
		c.Routes[i].Host = strings.ToLower(c.Routes[i].Host)
		if c.Routes[i].Host == "" {
			c.Routes[i].Host = "*"
		}
	}
	if errs := c.validate(); len(errs) > 0 {
		return nil, joinErrors(errs, name)
	}
	return c, nil
}

// joinErrors sets File on each of errs and joins them.
func joinErrors(errs []*Error, file string) error {
	joined := make([]error, len(errs))
	for i, e := range errs {
		e.File = file
		joined[i] = e
	}
	return errors.Join(joined...)
}

// decodeErrors turns go-toml's errors into *Error values with positions.
func decodeErrors(err error, name string) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		errs := make([]error, len(sm.Errors))
		for i := range sm.Errors {
			line, _ := sm.Errors[i].Position()
			errs[i] = &Error{File: name, Line: line, Key: strings.Join(sm.Errors[i].Key(), "."), Err: ErrUnknownKey}
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		werr := ErrSyntax
		// A Duration or Size error arrives formatted, with its "config: ".
		if m, ok := strings.CutPrefix(msg, "config: "); ok {
			msg, werr = m, ErrInvalid
		}
		return &Error{File: name, Line: line, Key: strings.Join(de.Key(), "."), Msg: msg, Err: werr}
	}
	// A value handed to UnmarshalText from a non-string TOML value (such as
	// a Duration written as an integer) comes back without a position.
	var ve *valueError
	if errors.As(err, &ve) {
		return &Error{File: name, Msg: ve.msg, Err: ErrInvalid}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: ErrSyntax}
}

// fillElements sets the keys raw lacks in array elements to their
// defaults. raw is the same document decoded into maps; c was decoded
// from it, so element indexes agree.
func fillElements(c *Config, raw map[string]any) {
	routes, _ := raw["route"].([]any)
	for i := range c.Routes {
		r, m, def := &c.Routes[i], elem(routes, i), DefaultRoute()
		fillKey(m, "host", &r.Host, def.Host)
		fillKey(m, "path_prefix", &r.PathPrefix, def.PathPrefix)
		fillKey(m, "upstream", &r.Upstream, def.Upstream)
		fillKey(m, "forward_auth_timeout", &r.ForwardAuthTimeout, def.ForwardAuthTimeout)
		fillKey(m, "allow_origins", &r.AllowOrigins, def.AllowOrigins)
		fillKey(m, "allow_cidrs", &r.AllowCIDRs, def.AllowCIDRs)
		fillKey(m, "deny_cidrs", &r.DenyCIDRs, def.DenyCIDRs)
		fillKey(m, "forward_auth_headers", &r.ForwardAuthHeaders, def.ForwardAuthHeaders)
		fillKey(m, "mode", &r.Mode, def.Mode)
		fillKey(m, "channel", &r.Channel, def.Channel)
		fillKey(m, "message_type", &r.MessageType, def.MessageType)
		fillKey(m, "client_messages", &r.ClientMessages, def.ClientMessages)
		fillKey(m, "slow_subscriber", &r.SlowSubscriber, def.SlowSubscriber)
		fillKey(m, "fanout_queue_limit", &r.FanoutQueueLimit, def.FanoutQueueLimit)
		if r.JWT != nil {
			jm, _ := m["jwt"].(map[string]any)
			jdef := DefaultJWT()
			fillKey(jm, "token_from", &r.JWT.TokenFrom, jdef.TokenFrom)
			fillKey(jm, "leeway", &r.JWT.Leeway, jdef.Leeway)
		}
	}
	ups, _ := raw["upstream"].([]any)
	for i := range c.Upstreams {
		u, m, def := &c.Upstreams[i], elem(ups, i), DefaultUpstream()
		fillKey(m, "name", &u.Name, def.Name)
		fillKey(m, "balance", &u.Balance, def.Balance)
		fillKey(m, "hash_key", &u.HashKey, def.HashKey)
		fillKey(m, "hash_load_factor", &u.HashLoadFactor, def.HashLoadFactor)
		fillKey(m, "max_fails", &u.MaxFails, def.MaxFails)
		fillKey(m, "fail_window", &u.FailWindow, def.FailWindow)
		fillKey(m, "eject_time", &u.EjectTime, def.EjectTime)
		fillKey(m, "retries", &u.Retries, def.Retries)
		fillKey(m, "retry_backoff", &u.RetryBackoff, def.RetryBackoff)
		fillKey(m, "retry_backoff_max", &u.RetryBackoffMax, def.RetryBackoffMax)
		fillKey(m, "warm_max_idle", &u.WarmMaxIdle, def.WarmMaxIdle)
		fillKey(m, "send_proxy_protocol", &u.SendProxyProtocol, def.SendProxyProtocol)
		fillHealth(&u.Health, m)
		bs, _ := m["backends"].([]any)
		for j := range u.Backends {
			b, bm, bdef := &u.Backends[j], elem(bs, j), DefaultBackend()
			fillKey(bm, "addr", &b.Addr, bdef.Addr)
			fillKey(bm, "weight", &b.Weight, bdef.Weight)
			fillKey(bm, "tls", &b.TLS, bdef.TLS)
			fillKey(bm, "server_name", &b.ServerName, bdef.ServerName)
			fillKey(bm, "ca", &b.CA, bdef.CA)
		}
	}
}

// fillHealth sets the keys of an upstream element's health table that m
// (the element, decoded generically) lacks to their defaults.
func fillHealth(h *HealthCheck, m map[string]any) {
	hm, _ := m["health"].(map[string]any)
	def := DefaultHealthCheck()
	fillKey(hm, "path", &h.Path, def.Path)
	fillKey(hm, "expect_status", &h.ExpectStatus, def.ExpectStatus)
	fillKey(hm, "interval", &h.Interval, def.Interval)
	fillKey(hm, "timeout", &h.Timeout, def.Timeout)
	fillKey(hm, "rise", &h.Rise, def.Rise)
	fillKey(hm, "fall", &h.Fall, def.Fall)
}

// fillKey sets *field to def when m, an element decoded generically, has
// no key: array elements decode onto zero values, not onto the defaults.
func fillKey[T any](m map[string]any, key string, field *T, def T) {
	if _, ok := m[key]; !ok {
		*field = def
	}
}

// elem returns element i of s as a table, or nil when there is none.
func elem(s []any, i int) map[string]any {
	if i < len(s) {
		m, _ := s[i].(map[string]any)
		return m
	}
	return nil
}
