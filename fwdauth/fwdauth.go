// Package fwdauth asks an auth service about a WebSocket upgrade
// (route.forward_auth, docs/policy.md): the request's method, URI and
// headers go to the service; a 2xx admits and names headers to copy into
// the backend request, any other answer goes back to the client as it
// came. Questions run on a bounded pool of goroutines with keep-alive
// connections, never on the event loops; answers may be cached briefly.
package fwdauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/throngproxy/throng/codec"
)

// Errors an Answer carries when the service gave none; the engine
// answers them with 503.
var (
	// ErrBusy is a question refused because the pool's queue is full.
	ErrBusy = errors.New("fwdauth: too many questions waiting")
	// ErrUnavailable wraps a service that could not be asked or did not
	// answer in time.
	ErrUnavailable = errors.New("fwdauth: auth service unavailable")
)

// MaxBody bounds the body of a refusal relayed to the client; the rest
// is not read.
const MaxBody = 16 << 10

// maxCached bounds a Service's cache; past it, answers go uncached until
// expired ones are swept.
const maxCached = 16384

// Service is one route's auth service. Immutable but for its cache; safe
// for concurrent use.
type Service struct {
	url     string
	timeout time.Duration
	copy    []string // canonical names of the response headers sent upstream
	ttl     time.Duration
	cache   *cache // nil when ttl is 0
}

// NewService checks rawURL (http or https, with a host) and prepares a
// Service whose answers copy the headers named in copyHeaders, each
// question bounded by timeout, answers kept for ttl (0: never).
func NewService(rawURL string, copyHeaders []string, timeout, ttl time.Duration) (*Service, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("fwdauth: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("fwdauth: %q: want an http:// or https:// URL with a host", rawURL)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("fwdauth: timeout %v: must be positive", timeout)
	}
	s := &Service{url: u.String(), timeout: timeout, ttl: ttl}
	for _, h := range copyHeaders {
		if !codec.IsToken(h) {
			return nil, fmt.Errorf("fwdauth: %q is not a header name", h)
		}
		s.copy = append(s.copy, textproto.CanonicalMIMEHeaderKey(h))
	}
	if ttl > 0 {
		s.cache = &cache{m: make(map[string]cached)}
	}
	return s, nil
}

// Question is what the service is asked about.
type Question struct {
	// Head is the client's request head, as received (the Pool owns it
	// once asked).
	Head []byte
	// ForwardedFor is the X-Forwarded-For value to send: the client's
	// address, after any chain a trusted proxy sent.
	ForwardedFor string
	Proto        string // "http" or "https": the client's side
}

// Answer is what the service said.
type Answer struct {
	// Admit is a 2xx; Header holds the copied headers then, as
	// "Name: value\r\n" lines.
	Admit  bool
	Header []byte
	// Status and Response are any other answer, as it goes back to the
	// client: status line, headers and at most MaxBody of the body.
	Status   int
	Response []byte
	// Err is why the service gave no answer (ErrBusy, ErrUnavailable).
	Err error
}

// Pool asks services on a bounded number of goroutines.
type Pool struct {
	jobs   chan job
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type job struct {
	svc  *Service
	q    Question
	done func(Answer)
}

// NewPool starts workers goroutines (server.forward_auth_concurrency);
// as many more questions may wait for one.
func NewPool(workers int) *Pool {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		jobs: make(chan job, workers),
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // the auth service is reached directly
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConnsPerHost: workers,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
				ForceAttemptHTTP2:   false,
			},
			// A redirect is the service's answer, relayed to the client.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ctx:    ctx,
		cancel: cancel,
	}
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// Ask queues q for svc and returns at once; done is called with the
// answer on a pool goroutine. It reports false, and never calls done,
// when the queue is full.
func (p *Pool) Ask(svc *Service, q Question, done func(Answer)) bool {
	select {
	case p.jobs <- job{svc: svc, q: q, done: done}:
		return true
	default:
		return false
	}
}

// Close stops the workers once the questions in flight are answered.
func (p *Pool) Close() {
	p.cancel()
	p.wg.Wait()
	p.client.CloseIdleConnections()
}

func (p *Pool) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case j := <-p.jobs:
			j.done(p.ask(j.svc, &j.q))
		}
	}
}

// ask puts one question to svc, from its cache when it can.
func (p *Pool) ask(svc *Service, q *Question) Answer {
	req, key, err := svc.request(p.ctx, q)
	if err != nil {
		return Answer{Err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	if a, ok := svc.cache.get(key, time.Now()); ok {
		return a
	}
	ctx, cancel := context.WithTimeout(p.ctx, svc.timeout)
	defer cancel()
	resp, err := p.client.Do(req.WithContext(ctx))
	if err != nil {
		return Answer{Err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	a, err := svc.answer(resp)
	if err != nil {
		return Answer{Err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	svc.cache.put(key, a, time.Now().Add(svc.ttl))
	return a
}

// request builds the question: GET to the service's URL with the client's
// end-to-end headers and the X-Forwarded-* that say what was asked for
// (Traefik's names; X-Original-URI is nginx auth_request's). key is the
// cache key: everything sent.
func (s *Service) request(ctx context.Context, q *Question) (*http.Request, string, error) {
	var r codec.Request
	if err := codec.ParseRequest(q.Head, &r); err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, string(r.Method), s.url, nil)
	if err != nil {
		return nil, "", err
	}
	var key bytes.Buffer
	key.Write(r.Method)
	key.WriteByte(' ')
	key.Write(r.Target)
	key.WriteString("\r\n")
	for _, h := range r.Headers {
		if hopByHop(h.Name, r.Headers) {
			continue
		}
		req.Header.Add(string(h.Name), string(h.Value))
		key.Write(h.Name)
		key.WriteByte(':')
		key.Write(h.Value)
		key.WriteString("\r\n")
	}
	for _, kv := range [...][2]string{
		{"X-Forwarded-Method", string(r.Method)},
		{"X-Forwarded-Proto", q.Proto},
		{"X-Forwarded-Host", string(r.Host)},
		{"X-Forwarded-Uri", string(r.Target)},
		{"X-Original-Uri", string(r.Target)},
		{"X-Forwarded-For", q.ForwardedFor},
	} {
		req.Header.Set(kv[0], kv[1])
		key.WriteString(kv[0] + ":" + kv[1] + "\r\n")
	}
	return req, key.String(), nil
}

// hopByHop reports whether a client header stays out of the question:
// hop-by-hop ones (RFC 9110 §7.6.1) and those the proxy sets itself.
func hopByHop(name []byte, headers []codec.Header) bool {
	for _, h := range [...]string{"connection", "keep-alive", "proxy-connection", "proxy-authorization",
		"te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
		"x-forwarded-method", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-uri",
		"x-original-uri", "x-forwarded-for"} {
		if codec.EqualFold(name, h) {
			return true
		}
	}
	for _, h := range headers {
		if codec.EqualFold(h.Name, "connection") && codec.HasToken(h.Value, string(name)) {
			return true
		}
	}
	return false
}

// answer reads the service's response into an Answer.
func (s *Service) answer(resp *http.Response) (Answer, error) {
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drained, so the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBody))
		var h []byte
		for _, name := range s.copy {
			for _, v := range resp.Header.Values(name) {
				if !codec.ValidFieldValue(v) {
					continue
				}
				h = append(h, name...)
				h = append(h, ": "...)
				h = append(h, v...)
				h = append(h, "\r\n"...)
			}
		}
		return Answer{Admit: true, Header: h, Status: resp.StatusCode}, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return Answer{}, err
	}
	out := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	for name, vs := range resp.Header {
		if skipRelayed(name) {
			continue
		}
		for _, v := range vs {
			if codec.ValidFieldValue(v) {
				out = append(out, name+": "+v+"\r\n"...)
			}
		}
	}
	out = append(out, "Content-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"...)
	out = append(out, body...)
	return Answer{Status: resp.StatusCode, Response: out}, nil
}

// skipRelayed names the response headers not relayed to the client: those
// of the service's own connection, and the body's length, recomputed.
func skipRelayed(name string) bool {
	switch name {
	case "Connection", "Keep-Alive", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length", "Proxy-Connection":
		return true
	}
	return false
}

// cache keeps answers until they expire. A nil cache keeps nothing.
type cache struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	a       Answer
	expires time.Time
}

func (c *cache) get(key string, now time.Time) (Answer, bool) {
	if c == nil {
		return Answer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		return Answer{}, false
	}
	return e.a, true
}

func (c *cache) put(key string, a Answer, expires time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCached {
		now := time.Now()
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCached {
			return
		}
	}
	c.m[key] = cached{a: a, expires: expires}
}
