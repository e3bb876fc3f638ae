package fwdauth

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const head = "GET /chat?room=1 HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Hop\r\n" +
	"X-Hop: secret\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: sid=abc\r\n" +
	"X-Forwarded-Uri: /spoofed\r\n\r\n"

// ask puts one question and waits for its answer.
func ask(t *testing.T, p *Pool, s *Service, h string) Answer {
	t.Helper()
	out := make(chan Answer, 1)
	if !p.Ask(s, Question{Head: []byte(h), ForwardedFor: "192.0.2.7", Proto: "https"}, func(a Answer) { out <- a }) {
		t.Fatal("Ask refused")
	}
	select {
	case a := <-out:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	return Answer{}
}

func TestAsk(t *testing.T) {
	var seen atomic.Pointer[http.Request]
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		seen.Store(r)
		switch r.Header.Get("Cookie") {
		case "sid=abc":
			w.Header().Add("X-User", "u1")
			w.Header().Add("X-Roles", "a")
			w.Header().Add("X-Roles", "b")
			w.Header().Set("X-Other", "not copied")
			w.WriteHeader(204)
		case "sid=redirect":
			http.Redirect(w, r, "https://login.example/", http.StatusFound)
		case "sid=big":
			w.WriteHeader(403)
			_, _ = w.Write([]byte(strings.Repeat("x", 3*MaxBody)))
		case "sid=slow":
			<-r.Context().Done() // answers only after the proxy gave up
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="app"`)
			w.WriteHeader(401)
			_, _ = w.Write([]byte("who are you?"))
		}
	}))
	defer srv.Close()
	p := NewPool(4)
	defer p.Close()
	svc, err := NewService(srv.URL+"/auth", []string{"x-user", "X-Roles"}, time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}

	a := ask(t, p, svc, head)
	if !a.Admit || a.Err != nil || string(a.Header) != "X-User: u1\r\nX-Roles: a\r\nX-Roles: b\r\n" {
		t.Fatalf("admit: %+v (header %q)", a, a.Header)
	}
	r := seen.Load()
	for name, want := range map[string]string{
		"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example",
		"X-Forwarded-Uri": "/chat?room=1", "X-Original-Uri": "/chat?room=1", "X-Forwarded-For": "192.0.2.7",
		"Sec-Websocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Cookie": "sid=abc", "X-Hop": "", "Upgrade": "",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("the service got %s %q, want %q", name, got, want)
		}
	}
	if r.URL.Path != "/auth" || r.Method != "GET" {
		t.Errorf("asked %s %s", r.Method, r.URL)
	}

	a = ask(t, p, svc, strings.Replace(head, "sid=abc", "sid=none", 1))
	if a.Admit || a.Err != nil || a.Status != 401 {
		t.Fatalf("refusal: %+v", a)
	}
	resp := string(a.Response)
	if !strings.HasPrefix(resp, "HTTP/1.1 401 Unauthorized\r\n") || !strings.Contains(resp, "\r\nWww-Authenticate: Bearer realm=\"app\"\r\n") ||
		!strings.HasSuffix(resp, "\r\nContent-Length: 12\r\nConnection: close\r\n\r\nwho are you?") {
		t.Fatalf("refusal relayed as %q", resp)
	}

	a = ask(t, p, svc, strings.Replace(head, "sid=abc", "sid=redirect", 1))
	if a.Status != 302 || !strings.Contains(string(a.Response), "\r\nLocation: https://login.example/\r\n") {
		t.Fatalf("redirect: %+v %q", a, a.Response)
	}

	a = ask(t, p, svc, strings.Replace(head, "sid=abc", "sid=big", 1))
	if a.Status != 403 || !strings.HasSuffix(string(a.Response), "\r\n\r\n"+strings.Repeat("x", MaxBody)) {
		t.Fatalf("big refusal: status %d, %d bytes", a.Status, len(a.Response))
	}

	a = ask(t, p, svc, strings.Replace(head, "sid=abc", "sid=slow", 1))
	if !errors.Is(a.Err, ErrUnavailable) {
		t.Fatalf("slow service: %+v, want ErrUnavailable", a)
	}
}

func TestAskUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := NewPool(1)
	defer p.Close()
	svc, err := NewService("http://"+addr+"/", nil, time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := ask(t, p, svc, head); !errors.Is(a.Err, ErrUnavailable) {
		t.Fatalf("unreachable: %+v", a)
	}
}

func TestAskCache(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Cookie") == "sid=abc" {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(403)
	}))
	defer srv.Close()
	p := NewPool(2)
	defer p.Close()
	svc, err := NewService(srv.URL, nil, time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if a := ask(t, p, svc, head); !a.Admit {
			t.Fatalf("%+v", a)
		}
	}
	if a := ask(t, p, svc, strings.Replace(head, "sid=abc", "sid=zzz", 1)); a.Status != 403 {
		t.Fatalf("%+v", a)
	}
	if a := ask(t, p, svc, strings.Replace(head, "sid=abc", "sid=zzz", 1)); a.Status != 403 {
		t.Fatalf("%+v", a)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the service was asked %d times, want 2 (one per distinct question)", n)
	}
}

func TestAskBusy(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	p := NewPool(1)
	defer p.Close()
	svc, err := NewService(srv.URL, nil, 5*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	// One worker and a queue of one: at most two questions are taken.
	taken := 0
	for range 4 {
		if p.Ask(svc, Question{Head: []byte(head)}, func(Answer) {}) {
			taken++
		}
	}
	if taken < 1 || taken > 2 {
		t.Fatalf("%d of 4 questions taken, want at most worker + queue", taken)
	}
}

func TestNewService(t *testing.T) {
	for _, tt := range []struct {
		url     string
		headers []string
		ok      bool
	}{
		{"http://127.0.0.1:9000/auth", []string{"X-User"}, true},
		{"https://auth.internal/check?x=1", nil, true},
		{"ftp://auth", nil, false},
		{"/relative", nil, false},
		{"http://", nil, false},
		{"http://a/", []string{"bad header"}, false},
	} {
		if _, err := NewService(tt.url, tt.headers, time.Second, 0); (err == nil) != tt.ok {
			t.Errorf("NewService(%q, %q) = %v", tt.url, tt.headers, err)
		}
	}
}
