package bus

// The bus servers of the tests come from the test kit
// (enginetest.BusServer); these names keep the tests short.

import (
	"testing"

	"github.com/throngproxy/throng/engine/enginetest"
)

type backend = enginetest.BusKind

var backends = []backend{enginetest.Redis, enginetest.NATS}

type server struct{ *enginetest.BusServer }

func newServer(t *testing.T, bk backend) *server   { return &server{enginetest.NewBusServer(t, bk)} }
func startServer(t *testing.T, bk backend) *server { return &server{enginetest.StartBusServer(t, bk)} }
func (s *server) url() string                      { return s.URL() }
func (s *server) start()                           { s.Start() }
func (s *server) kill()                            { s.Kill() }
func (s *server) freeze()                          { s.Freeze() }
func (s *server) thaw()                            { s.Thaw() }
