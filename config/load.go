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
		m := elem(routes, i)
		def := DefaultRoute()
		if _, ok := m["host"]; !ok {
			c.Routes[i].Host = def.Host
		}
		if _, ok := m["path_prefix"]; !ok {
			c.Routes[i].PathPrefix = def.PathPrefix
		}
		if _, ok := m["upstream"]; !ok {
			c.Routes[i].Upstream = def.Upstream
		}
	}
	ups, _ := raw["upstream"].([]any)
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		m := elem(ups, i)
		def := DefaultUpstream()
		if _, ok := m["name"]; !ok {
			u.Name = def.Name
		}
		if _, ok := m["balance"]; !ok {
			u.Balance = def.Balance
		}
		if _, ok := m["hash_key"]; !ok {
			u.HashKey = def.HashKey
		}
		if _, ok := m["hash_load_factor"]; !ok {
			u.HashLoadFactor = def.HashLoadFactor
		}
		if _, ok := m["max_fails"]; !ok {
			u.MaxFails = def.MaxFails
		}
		if _, ok := m["fail_window"]; !ok {
			u.FailWindow = def.FailWindow
		}
		if _, ok := m["eject_time"]; !ok {
			u.EjectTime = def.EjectTime
		}
		if _, ok := m["retries"]; !ok {
			u.Retries = def.Retries
		}
		if _, ok := m["retry_backoff"]; !ok {
			u.RetryBackoff = def.RetryBackoff
		}
		if _, ok := m["retry_backoff_max"]; !ok {
			u.RetryBackoffMax = def.RetryBackoffMax
		}
		if _, ok := m["warm_max_idle"]; !ok {
			u.WarmMaxIdle = def.WarmMaxIdle
		}
		fillHealth(&u.Health, m)
		bs, _ := m["backends"].([]any)
		for j := range u.Backends {
			bm := elem(bs, j)
			bdef := DefaultBackend()
			if _, ok := bm["addr"]; !ok {
				u.Backends[j].Addr = bdef.Addr
			}
			if _, ok := bm["weight"]; !ok {
				u.Backends[j].Weight = bdef.Weight
			}
		}
	}
}

// fillHealth sets the keys of an upstream element's health table that m
// (the element, decoded generically) lacks to their defaults.
func fillHealth(h *HealthCheck, m map[string]any) {
	hm, _ := m["health"].(map[string]any)
	def := DefaultHealthCheck()
	if _, ok := hm["path"]; !ok {
		h.Path = def.Path
	}
	if _, ok := hm["expect_status"]; !ok {
		h.ExpectStatus = def.ExpectStatus
	}
	if _, ok := hm["interval"]; !ok {
		h.Interval = def.Interval
	}
	if _, ok := hm["timeout"]; !ok {
		h.Timeout = def.Timeout
	}
	if _, ok := hm["rise"]; !ok {
		h.Rise = def.Rise
	}
	if _, ok := hm["fall"]; !ok {
		h.Fall = def.Fall
	}
}

func elem(s []any, i int) map[string]any {
	if i < len(s) {
		m, _ := s[i].(map[string]any)
		return m
	}
	return nil
}
