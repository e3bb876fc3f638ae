//go:build ignore

// gripbackend is a WebSocket-over-HTTP (GRIP) backend for Pushpin, for
// throng-bench fanout against Pushpin (setup.sh): every connection is
// subscribed to channel "room"; every message a client sends is published
// to the room through Pushpin's publish endpoint.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
)

func main() {
	pub := &http.Client{}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var out bytes.Buffer
		br := bufio.NewReader(bytes.NewReader(body))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			line = strings.TrimRight(line, "\r\n")
			typ, hexlen, _ := strings.Cut(line, " ")
			var content []byte
			if hexlen != "" {
				n, _ := strconv.ParseInt(hexlen, 16, 64)
				content = make([]byte, n)
				io.ReadFull(br, content)
				br.ReadString('\n')
			}
			switch typ {
			case "OPEN":
				out.WriteString("OPEN\r\n")
				c := `c:{"type": "subscribe", "channel": "room"}`
				fmt.Fprintf(&out, "TEXT %x\r\n%s\r\n", len(c), c)
			case "TEXT", "BINARY":
				format := map[string]any{"content-bin": base64.StdEncoding.EncodeToString(content)}
				if typ == "TEXT" {
					format = map[string]any{"content": string(content)}
				}
				item, _ := json.Marshal(map[string]any{"items": []any{map[string]any{"channel": "room", "formats": map[string]any{"ws-message": format}}}})
				resp, err := pub.Post("http://127.0.0.1:5561/publish/", "application/json", bytes.NewReader(item))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			case "CLOSE":
				fmt.Fprintf(&out, "CLOSE %x\r\n%s\r\n", len(content), content)
			}
		}
		w.Header().Set("Content-Type", "application/websocket-events")
		w.Header().Set("Sec-WebSocket-Extensions", "grip")
		w.Write(out.Bytes())
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:9381", nil))
}
