package codec

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func TestAppendClose(t *testing.T) {
	long := strings.Repeat("x", 200)
	// 122 ASCII bytes then "é" (2 bytes): the 123-byte cut would split it.
	straddle := strings.Repeat("a", 122) + "é" + "tail"
	tests := []struct {
		name       string
		code       ws.StatusCode
		reason     string
		wantCode   ws.StatusCode
		wantReason string
	}{
		{name: "normal no reason", code: ws.StatusNormalClosure, wantCode: ws.StatusNormalClosure},
		{name: "going away", code: ws.StatusGoingAway, reason: "going away", wantCode: ws.StatusGoingAway, wantReason: "going away"},
		{name: "protocol error", code: ws.StatusProtocolError, reason: "bad frame", wantCode: ws.StatusProtocolError, wantReason: "bad frame"},
		{name: "try again later", code: StatusTryAgainLater, reason: "slow", wantCode: StatusTryAgainLater, wantReason: "slow"},
		{name: "bad gateway", code: StatusBadGateway, reason: "backend", wantCode: StatusBadGateway, wantReason: "backend"},
		{name: "reason 123", code: ws.StatusPolicyViolation, reason: long[:123], wantCode: ws.StatusPolicyViolation, wantReason: long[:123]},
		{name: "reason truncated", code: ws.StatusMessageTooBig, reason: long, wantCode: ws.StatusMessageTooBig, wantReason: long[:123]},
		{name: "truncated at rune start", code: ws.StatusGoingAway, reason: straddle, wantCode: ws.StatusGoingAway, wantReason: straddle[:122]},
		{name: "no code", code: 0, reason: "dropped"},
	}
	for _, tt := range tests {
		for _, masked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/masked=%v", tt.name, masked), func(t *testing.T) {
				prefix := []byte("prefix")
				var got []byte
				if masked {
					got = AppendMaskedClose(bytes.Clone(prefix), tt.code, tt.reason, frMask)
				} else {
					got = AppendClose(bytes.Clone(prefix), tt.code, tt.reason)
				}
				if !bytes.HasPrefix(got, prefix) {
					t.Fatalf("dst prefix lost: %q", got)
				}
				wire := got[len(prefix):]
				f, err := ws.ReadFrame(bytes.NewReader(wire)) //nolint:staticcheck // a bounded in-memory frame
				if err != nil {
					t.Fatalf("ws.ReadFrame: %v", err)
				}
				h := f.Header
				if !h.Fin || h.OpCode != ws.OpClose || h.Rsv != 0 || h.Masked != masked {
					t.Errorf("header = %+v, want FIN close masked=%v", h, masked)
				}
				if masked {
					if h.Mask != frMask {
						t.Errorf("mask = %x, want %x", h.Mask, frMask)
					}
					ws.Cipher(f.Payload, h.Mask, 0)
				}
				if n := ws.HeaderSize(h) + len(f.Payload); n != len(wire) {
					t.Errorf("frame is %d bytes, appended %d", n, len(wire))
				}
				code, reason := ws.ParseCloseFrameData(f.Payload)
				if code != tt.wantCode || reason != tt.wantReason {
					t.Errorf("code, reason = %d, %q; want %d, %q", code, reason, tt.wantCode, tt.wantReason)
				}
				if len(f.Payload) > ws.MaxControlFramePayloadSize {
					t.Errorf("payload is %d bytes, want <= 125", len(f.Payload))
				}
				// The frame passes the proxy's own checks in its direction.
				role := FromServer
				if masked {
					role = FromClient
				}
				s := frNewStream(role, 0, false, false)
				if held, n, err := s.Scan(wire); err != nil || n != len(wire) || len(held) != 0 || !s.CloseSeen() {
					t.Errorf("Scan = %d, %d, %v, CloseSeen %v; want 0, %d, nil, true", len(held), n, err, s.CloseSeen(), len(wire))
				}
			})
		}
	}
}

func TestCloseErrorCodes(t *testing.T) {
	tests := []struct {
		err  error
		want ws.StatusCode
	}{
		{ErrMaskRequired, ws.StatusProtocolError},
		{ErrMaskUnexpected, ws.StatusProtocolError},
		{ErrReservedOpcode, ws.StatusProtocolError},
		{ErrReservedBits, ws.StatusProtocolError},
		{ErrControlTooLong, ws.StatusProtocolError},
		{ErrControlFragmented, ws.StatusProtocolError},
		{ErrUnexpectedContinuation, ws.StatusProtocolError},
		{ErrExpectedContinuation, ws.StatusProtocolError},
		{ErrBadClosePayload, ws.StatusProtocolError},
		{ErrFrameTooLarge, ws.StatusMessageTooBig},
		{ErrBadLength, ws.StatusProtocolError},
	}
	seen := make(map[string]bool)
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			wrapped := fmt.Errorf("session: %w", tt.err)
			var ce *CloseError
			if !errors.As(wrapped, &ce) {
				t.Fatalf("errors.As(%v, *CloseError) = false, want true", wrapped)
			}
			if ce.Code != tt.want {
				t.Errorf("Code = %d, want %d", ce.Code, tt.want)
			}
			msg := tt.err.Error()
			if !strings.HasPrefix(msg, "codec: ") || seen[msg] {
				t.Errorf("Error() = %q, want a distinct \"codec: \" message", msg)
			}
			seen[msg] = true
		})
	}
}

func TestViolationErr(t *testing.T) {
	for v := vNone + 1; v <= vBadLength; v++ {
		if v.err() == nil {
			t.Errorf("violation(%d).err() = nil, want a sentinel", v)
		}
	}
	if err := vNone.err(); err != nil {
		t.Errorf("vNone.err() = %v, want nil", err)
	}
}

func TestAppendServerFrame(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := AppendServerFrame(nil, ws.OpText, make([]byte, n))
		h, err := ws.ReadHeader(bytes.NewReader(f))
		if err != nil || !h.Fin || h.Masked || h.OpCode != ws.OpText || h.Length != int64(n) || len(f) != ws.HeaderSize(h)+n {
			t.Errorf("%d-byte payload: header %+v, %v, frame of %d bytes", n, h, err, len(f))
		}
	}
}
