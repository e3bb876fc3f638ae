package engine

import "github.com/throngproxy/throng/codec"

// responses are the proxy's own HTTP answers, built once at start so that a
// refusal costs no allocation.
type responses struct {
	byStatus    [600][]byte
	needUpgrade []byte // 426 naming the protocol
	needVersion []byte // 426 naming the version
}

const (
	headerUpgrade    = "Upgrade: websocket\r\n"
	headerVersion    = "Sec-WebSocket-Version: 13\r\n"
	headerRetryAfter = "Retry-After: 1\r\n"
)

func newResponses() *responses {
	r := &responses{}
	for _, st := range []int{400, 403, 404, 405, 408, 426, 429, 431, 500, 502, 504} {
		r.byStatus[st] = codec.AppendErrorResponse(nil, st, "")
	}
	r.byStatus[503] = codec.AppendErrorResponse(nil, 503, headerRetryAfter)
	r.needUpgrade = codec.AppendErrorResponse(nil, 426, headerUpgrade)
	r.needVersion = codec.AppendErrorResponse(nil, 426, headerVersion)
	return r
}

// get returns the answer for status with extra header lines.
func (r *responses) get(status int, header string) []byte {
	switch header {
	case "":
		if status > 0 && status < len(r.byStatus) && r.byStatus[status] != nil {
			return r.byStatus[status]
		}
	case headerUpgrade:
		if status == 426 {
			return r.needUpgrade
		}
	case headerVersion:
		if status == 426 {
			return r.needVersion
		}
	}
	return codec.AppendErrorResponse(nil, status, header)
}
