package socket

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/protocol"
)

// closeRecorder is a Transport that records how it was closed.
type closeRecorder struct {
	mu     sync.Mutex
	code   int
	closed chan struct{}
}

func (r *closeRecorder) Serializer() protocol.Serializer { return protocol.V2() }
func (r *closeRecorder) Send(protocol.Frame) bool        { return true }
func (r *closeRecorder) Overflow()                       { r.Close(CloseSlowConsumer, "overflow") }

func (r *closeRecorder) Close(code int, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
	default:
		r.code = code
		close(r.closed)
	}
}

// TestDisconnectBeforeSpawn: a "disconnect" broadcast on a socket's id that
// arrives after the socket subscribed to it but before its actor exists
// still closes the socket, with 1001.
func TestDisconnectBeforeSpawn(t *testing.T) {
	h, err := New(actors.NewRouter(),
		WithConnect(func(context.Context, url.Values, ConnInfo) (actors.Assigns, error) { return actors.Assigns{}, nil }),
		WithID(func(actors.Assigns) string { return "user:early" }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	beforeSpawn = func(*socketActor) {
		if err := h.Broadcast("user:early", "disconnect", nil); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { beforeSpawn = nil })
	tr := &closeRecorder{closed: make(chan struct{})}
	if _, err := h.Open(context.Background(), tr, url.Values{}, ConnInfo{PeerAddr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tr.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("a disconnect sent before the spawn was lost: the socket is still open")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.code != CloseGoingAway {
		t.Fatalf("close code %d, want %d", tr.code, CloseGoingAway)
	}
}
