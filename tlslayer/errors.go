package tlslayer

import "errors"

// Alert is a TLS alert description (RFC 8446 §6, RFC 5246 §7.2).
type Alert uint8

// Alert descriptions this package sends or names.
const (
	AlertCloseNotify           Alert = 0
	AlertUnexpectedMessage     Alert = 10
	AlertBadRecordMAC          Alert = 20
	AlertRecordOverflow        Alert = 22
	AlertHandshakeFailure      Alert = 40
	AlertBadCertificate        Alert = 42
	AlertCertificateExpired    Alert = 45
	AlertCertificateUnknown    Alert = 46
	AlertIllegalParameter      Alert = 47
	AlertUnknownCA             Alert = 48
	AlertDecodeError           Alert = 50
	AlertDecryptError          Alert = 51
	AlertProtocolVersion       Alert = 70
	AlertInternalError         Alert = 80
	AlertUserCanceled          Alert = 90
	AlertNoRenegotiation       Alert = 100
	AlertCertificateRequired   Alert = 116
	AlertNoApplicationProtocol Alert = 120
)

// Alert levels (RFC 5246 §7.2). TLS 1.3 ignores the level of every alert but
// close_notify and user_canceled, which it treats as fatal anyway.
const (
	LevelWarning uint8 = 1
	LevelFatal   uint8 = 2
)

// String returns the RFC name of a, or "alert(N)" for one it does not know.
// It does not allocate for known descriptions.
func (a Alert) String() string {
	switch a {
	case AlertCloseNotify:
		return "close_notify"
	case AlertUnexpectedMessage:
		return "unexpected_message"
	case AlertBadRecordMAC:
		return "bad_record_mac"
	case AlertRecordOverflow:
		return "record_overflow"
	case AlertHandshakeFailure:
		return "handshake_failure"
	case AlertBadCertificate:
		return "bad_certificate"
	case AlertCertificateExpired:
		return "certificate_expired"
	case AlertCertificateUnknown:
		return "certificate_unknown"
	case AlertIllegalParameter:
		return "illegal_parameter"
	case AlertUnknownCA:
		return "unknown_ca"
	case AlertDecodeError:
		return "decode_error"
	case AlertDecryptError:
		return "decrypt_error"
	case AlertProtocolVersion:
		return "protocol_version"
	case AlertInternalError:
		return "internal_error"
	case AlertUserCanceled:
		return "user_canceled"
	case AlertNoRenegotiation:
		return "no_renegotiation"
	case AlertCertificateRequired:
		return "certificate_required"
	case AlertNoApplicationProtocol:
		return "no_application_protocol"
	}
	return "alert(" + itoa(uint8(a)) + ")"
}

func itoa(v uint8) string {
	var b [3]byte
	i := len(b)
	for {
		i--
		b[i] = '0' + v%10
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// AlertError is a record-layer protocol failure found by [Layer.Open]. Alert is
// what the peer is to be told: append it with [Layer.AppendAlert] at
// [LevelFatal], send it, then close.
//
// Compare with errors.As; the values Open returns are the preallocated Err*
// variables below, so errors.Is works too.
type AlertError struct {
	Alert Alert
	msg   string
}

// Error returns the package-prefixed reason.
func (e *AlertError) Error() string { return e.msg }

// Errors Open returns for records it refuses. They are preallocated: Open
// never builds an error per record.
var (
	ErrBadRecordMAC      = &AlertError{Alert: AlertBadRecordMAC, msg: "tlslayer: record failed authentication"}
	ErrRecordOverflow    = &AlertError{Alert: AlertRecordOverflow, msg: "tlslayer: record too long"}
	ErrUnexpectedMessage = &AlertError{Alert: AlertUnexpectedMessage, msg: "tlslayer: unexpected record or message after the handshake"}
	ErrDecodeError       = &AlertError{Alert: AlertDecodeError, msg: "tlslayer: malformed alert or handshake message"}
	ErrIllegalParameter  = &AlertError{Alert: AlertIllegalParameter, msg: "tlslayer: bad KeyUpdate request_update value"}
)

// ErrCloseNotify is returned by Open when the peer sent close_notify. The
// plaintext before it is valid, and consumed includes the alert record.
var ErrCloseNotify = errors.New("tlslayer: peer sent close_notify")

// ErrRenegotiation is returned by Open for a TLS 1.2 ClientHello (server
// role) or HelloRequest (client role) after the handshake. The caller sends
// AppendAlert(dst, LevelWarning, uint8(AlertNoRenegotiation)) and closes
// (RFC 5246 §7.2.2); renegotiation is never supported.
var ErrRenegotiation = errors.New("tlslayer: peer asked to renegotiate")

// ErrPeerAlert is wrapped by every [PeerAlertError]: errors.Is(err,
// ErrPeerAlert) tells that the peer ended the connection with a fatal alert.
var ErrPeerAlert = errors.New("tlslayer: peer sent a fatal alert")

// PeerAlertError is the fatal alert the peer sent. Nothing is to be sent
// back (RFC 8446 §6.2): close the connection. It unwraps to [ErrPeerAlert].
// Being a one-byte value, it is returned without allocating.
type PeerAlertError Alert

// Error names the alert the peer sent.
func (e PeerAlertError) Error() string {
	return "tlslayer: peer sent fatal alert " + Alert(e).String()
}

// Unwrap returns ErrPeerAlert.
func (e PeerAlertError) Unwrap() error { return ErrPeerAlert }

// Errors of the handshake functions (wrapped with context where it helps).
var (
	ErrNilConfig          = errors.New("tlslayer: nil tls.Config")
	ErrUnsupportedVersion = errors.New("tlslayer: negotiated TLS version not supported (need TLS 1.2 or 1.3)")
	ErrUnsupportedSuite   = errors.New("tlslayer: negotiated cipher suite not supported (need an ECDHE AEAD suite; set CipherSuites12)")
	ErrPrefixPastFinished = errors.New("tlslayer: prefix holds bytes past the peer's Finished")
	ErrMissingSecrets     = errors.New("tlslayer: handshake logged no usable secrets")
	ErrSequence           = errors.New("tlslayer: records written during the handshake do not match the derived keys")
)
