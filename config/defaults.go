package config

import "time"

// Default returns a Config holding every default: the file is decoded onto
// it. It has no routes and no upstreams, so it does not validate alone.
// Array elements ([[route]], [[upstream]], backends) get the defaults of
// DefaultRoute, DefaultUpstream and DefaultBackend for keys the file omits.
// It allocates a new Config on each call.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen:         []string{"127.0.0.1:8080"},
			ListenTLS:      []string{},
			ProxyProtocol:  ProxyProtocolOff,
			Loops:          0,
			TCPKeepalive:   DurationOf(60 * time.Second),
			TrustedProxies: []string{},
			DialWorkers:    16,
			MaxSessions:    0,
			ReadBuffer:     64 * KiB,

			ForwardAuthConcurrency: 256,
		},
		Limits: Limits{
			MaxHeaderBytes:   16 * KiB,
			MaxFrameBytes:    16 * MiB,
			WriteBufferLimit: 4 * MiB,
			MaxEarlyBytes:    64 * KiB,
			StalledFrame:     DurationOf(time.Minute),
			RateLimitAction:  RateLimitClose,
			IPv6Prefix:       64,
			TrackedIPs:       65536,
		},
		Keepalive: Keepalive{
			PingInterval: DurationOf(0),
			PongTimeout:  DurationOf(10 * time.Second),
		},
		Timeouts: Timeouts{
			Handshake:         DurationOf(10 * time.Second),
			Connect:           DurationOf(5 * time.Second),
			UpstreamHandshake: DurationOf(10 * time.Second),
			Idle:              DurationOf(0),
			Close:             DurationOf(5 * time.Second),
			Write:             DurationOf(60 * time.Second),
			Drain:             DurationOf(30 * time.Second),
		},
		Log: Log{
			Level:        LevelInfo,
			Access:       true,
			AccessSample: 1,
			Format:       FormatJSON,
		},
		// session_tickets defaults to true here, where the file is decoded
		// onto it: [tls] is a table, not an array element, so a key the
		// file omits keeps this value.
		TLS: TLS{
			MinVersion:     TLSVersion12,
			Certificates:   []Certificate{},
			ClientAuth:     ClientAuthOff,
			SessionTickets: true,
			MaxHandshakes:  1024,
		},
	}
}

// DefaultRoute returns the defaults of a [[route]] element: any host, path
// prefix "/", no upstream, every Origin and address admitted, no forward
// auth (a 2s timeout and no cache once set), no JWT, no limit overrides;
// proxy mode (the fan-out keys' defaults: channel from the path, text
// frames, subscribers' messages dropped, slow subscribers closed past
// 1 MiB).
func DefaultRoute() Route {
	return Route{
		Host: "*", PathPrefix: "/",
		AllowOrigins: []string{}, AllowCIDRs: []string{}, DenyCIDRs: []string{},
		ForwardAuthHeaders: []string{}, ForwardAuthTimeout: DurationOf(2 * time.Second),
		Mode: ModeProxy, Channel: "path", MessageType: MessageText,
		ClientMessages: ClientMessagesDrop, SlowSubscriber: SlowSubscriberClose, FanoutQueueLimit: MiB,
	}
}

// DefaultJWT returns the defaults of [route.jwt] keys the file omits: the
// token from the Authorization header, 5s of leeway, no keys.
func DefaultJWT() JWT {
	return JWT{TokenFrom: []string{TokenFromHeader}, Leeway: DurationOf(5 * time.Second)}
}

// DefaultUpstream returns the defaults of an [[upstream]] element:
// round robin, hash key "ip", hash load factor 1.25, max_fails 3 within a
// fail_window of 10s, eject_time 30s, 2 retries backing off from 50ms up
// to 1s, no warm pool (warm_max_idle 30s), no sticky cookie, no fallback,
// no PROXY header sent, active health checks off, no name, no backends.
func DefaultUpstream() Upstream {
	return Upstream{
		Balance:           BalanceRoundRobin,
		HashKey:           HashKeyIP,
		HashLoadFactor:    1.25,
		MaxFails:          3,
		FailWindow:        DurationOf(10 * time.Second),
		EjectTime:         DurationOf(30 * time.Second),
		Retries:           2,
		RetryBackoff:      DurationOf(50 * time.Millisecond),
		RetryBackoffMax:   DurationOf(time.Second),
		WarmMaxIdle:       DurationOf(30 * time.Second),
		SendProxyProtocol: ProxyProtocolOff,
		Health:            DefaultHealthCheck(),
	}
}

// DefaultHealthCheck returns the defaults of [upstream.health]: off; when
// a type is set, path "/", status 200-399, every 2s with a 1s timeout,
// rise 2, fall 2.
func DefaultHealthCheck() HealthCheck {
	return HealthCheck{
		Path:         "/",
		ExpectStatus: "200-399",
		Interval:     DurationOf(2 * time.Second),
		Timeout:      DurationOf(time.Second),
		Rise:         2,
		Fall:         2,
	}
}

// DefaultBackend returns the defaults of a backends element: weight 1, no
// TLS (server_name and ca empty), no address.
func DefaultBackend() Backend {
	return Backend{Weight: 1}
}
