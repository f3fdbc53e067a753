package socket_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/internal/testutil"
)

// A frame over the limit gets close 1009 every time, whatever its size:
// the close frame is sent and reaches the client before the connection
// ends, although the rest of the frame is still on its way. (gorilla's
// client reads fast enough to pass even without the lingering close;
// test/js/limits.test.mjs makes 50 tries with Node's ws, which does not.)
func TestFrameTooBigClosesWith1009Reliably(t *testing.T) {
	s := newServer(t)
	const tries = 10
	for i := range tries {
		size := 1<<20 + 1 + i*(7<<20)/(tries-1) // from just over 1 MiB to 8 MiB
		c := s.mustDial(t, "vsn=2.0.0&token=good")
		c.Join("echo:big", nil)
		frame := `["1","2","echo:big","echo",{"pad":"` + strings.Repeat("x", size) + `"}]`
		sent := make(chan error, 1)
		go func() { sent <- c.WriteMessage(websocket.TextMessage, []byte(frame)) }()

		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var err error
		for err == nil {
			_, _, err = c.ReadMessage()
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("try %d, %d bytes: the connection ended with %v, want close 1009", i, len(frame), err)
		}
		c.Close()
		<-sent // the write ends once the connection is closed, if not before
	}
	testutil.CountBackTo(t, "open sockets", 0, s.h.Len)
}
