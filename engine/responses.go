package engine

import "github.com/throngproxy/throng/codec"

// responses are the proxy's own HTTP answers, built once at start so that a
// refusal costs no allocation.
type responses struct {
	byStatus    [600][]byte
	needUpgrade []byte // 426 naming the protocol
	needVersion []byte // 426 naming the version
	tooMany     []byte // 429 with Retry-After: 1
}

// headerRetryAfter goes with every 503: come back in a second.
const headerRetryAfter = "Retry-After: 1\r\n"

func newResponses() *responses {
	r := &responses{}
	// The statuses the codec's handshake errors and the engine's own
	// refusals use; any other is built when asked for.
	for _, st := range []int{400, 403, 404, 405, 426, 431, 502, 504} {
		r.byStatus[st] = codec.AppendErrorResponse(nil, st, "")
	}
	r.byStatus[503] = codec.AppendErrorResponse(nil, 503, headerRetryAfter)
	r.tooMany = codec.AppendErrorResponse(nil, 429, headerRetryAfter)
	r.needUpgrade = codec.AppendErrorResponse(nil, 426, codec.ErrNotUpgrade.Header)
	r.needVersion = codec.AppendErrorResponse(nil, 426, codec.ErrBadVersion.Header)
	return r
}

// get returns the answer for status with extra header lines.
func (r *responses) get(status int, header string) []byte {
	switch header {
	case "":
		if status > 0 && status < len(r.byStatus) && r.byStatus[status] != nil {
			return r.byStatus[status]
		}
	case headerRetryAfter:
		switch status {
		case 503:
			return r.byStatus[503]
		case 429:
			return r.tooMany
		}
	case codec.ErrNotUpgrade.Header:
		if status == 426 {
			return r.needUpgrade
		}
	case codec.ErrBadVersion.Header:
		if status == 426 {
			return r.needVersion
		}
	}
	return codec.AppendErrorResponse(nil, status, header)
}
