package codec

import "testing"

// benchUpgrade is a backend's 101 to chromeHandshake.
var benchUpgrade = httpHead("HTTP/1.1 101 Switching Protocols",
	"Upgrade: websocket",
	"Connection: Upgrade",
	"Sec-WebSocket-Accept: "+testAccept,
	"Sec-WebSocket-Protocol: chat",
	"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover")

func BenchmarkParseRequest(b *testing.B) {
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(chromeHandshake)))
	for b.Loop() {
		if err := ParseRequest(chromeHandshake, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeadScannerScan(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(chromeHandshake)))
	for b.Loop() {
		var s HeadScanner
		if _, done := s.Scan(chromeHandshake); !done {
			b.Fatal("head not found")
		}
	}
}

func BenchmarkHeadScannerScanBytewise(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(chromeHandshake)))
	for b.Loop() {
		var s HeadScanner
		for i := range chromeHandshake {
			s.Scan(chromeHandshake[i : i+1])
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	var r Response
	b.ReportAllocs()
	b.SetBytes(int64(len(benchUpgrade)))
	for b.Loop() {
		if err := ParseResponse(benchUpgrade, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckUpgrade(b *testing.B) {
	var req Request
	var resp Response
	if err := ParseRequest(chromeHandshake, &req); err != nil {
		b.Fatal(err)
	}
	if err := ParseResponse(benchUpgrade, &resp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckUpgrade(&resp, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendForwardedRequest(b *testing.B) {
	var r Request
	if err := ParseRequest(chromeHandshake, &r); err != nil {
		b.Fatal(err)
	}
	f := Forward{ClientIP: []byte("192.0.2.1"), Proto: "https", RequestID: []byte("0123456789abcdef")}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendForwardedRequest(dst[:0], &r, &f)
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkAppendSwitchingResponse(b *testing.B) {
	var resp Response
	if err := ParseResponse(benchUpgrade, &resp); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	id := []byte("0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendSwitchingResponse(dst[:0], &resp, id, nil)
	}
}

func BenchmarkChunkedDecoder(b *testing.B) {
	body := []byte("400\r\n" + string(make([]byte, 1024)) + "\r\n10;ext=1\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n")
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var d ChunkedDecoder
		if _, _, done, err := d.Decode(dst[:0], body); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

func BenchmarkAppendAcceptKey(b *testing.B) {
	key := []byte(testKey)
	dst := make([]byte, 0, acceptKeyLen)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendAcceptKey(dst[:0], key)
	}
}
