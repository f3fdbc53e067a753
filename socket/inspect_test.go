package socket_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// gate is an echo channel whose "block" push waits until the test
// releases it, so that what follows piles up in its mailbox.
type gate struct {
	echo
	release chan struct{}
}

func (g gate) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	if event == "block" {
		<-g.release
		return actors.NoReply()
	}
	return g.echo.HandleIn(c, event, p)
}

func TestSocketsDescribeThemselves(t *testing.T) {
	release := make(chan struct{})
	h, srv := startServer(t, func() actors.Channel { return gate{release: release} }, 5*time.Second)
	url := testutil.WSURL(srv.URL, "/socket/websocket")
	first := testutil.Dial(t, url+"?token=good&user=ann", "2.0.0")
	first.Join("echo:a", nil)
	first.Join("echo:b", nil)
	second := testutil.Dial(t, url+"?token=good&user=ben", "2.0.0")
	second.Join("echo:a", nil)
	third := testutil.Dial(t, url+"?token=good", "")
	testutil.Eventually(t, 5*time.Second, func() bool { return h.Len() == 3 && h.Channels() == 3 },
		"3 sockets and 3 channels (got %v)", testutil.Lazy(func() string { return fmt.Sprint(h.Len(), h.Channels()) }))

	ctx := t.Context()
	// The third socket's client may see the handshake's answer before its
	// actor is spawned; until then it is counted but cannot be asked.
	var page socket.SocketPage
	testutil.Eventually(t, 5*time.Second, func() bool {
		var err error
		page, err = h.Sockets(ctx, socket.SocketQuery{})
		return err == nil && page.Asked == 3
	}, "the three sockets to be asked")
	if page.Total != 3 || page.Asked != 3 || !page.Complete || len(page.Sockets) != 3 {
		t.Fatalf("all sockets: got %+v", page)
	}
	if ids := []string{page.Sockets[0].ID, page.Sockets[1].ID, page.Sockets[2].ID}; !slices.Equal(ids, []string{"user:ann", "user:ben", ""}) {
		t.Errorf("oldest first: got %v", ids)
	}
	ann := page.Sockets[0]
	if ann.Transport != "websocket" || ann.Serializer != "2.0.0" || ann.Assigns["user"] != "ann" || len(ann.Channels) != 2 ||
		ann.Channels[0].Topic != "echo:a" || ann.Channels[0].Pattern != "echo:*" || ann.Channels[1].Topic != "echo:b" {
		t.Errorf("ann: got %+v", ann)
	}

	// Match and Limit bound the answer.
	page, _ = h.Sockets(ctx, socket.SocketQuery{Match: "echo:b"})
	if len(page.Sockets) != 1 || page.Sockets[0].ID != "user:ann" {
		t.Errorf("match echo:b: got %+v", page.Sockets)
	}
	page, _ = h.Sockets(ctx, socket.SocketQuery{Limit: 2})
	if len(page.Sockets) != 2 || page.Complete {
		t.Errorf("limit 2: got %d sockets, complete %v", len(page.Sockets), page.Complete)
	}

	// Pushes behind a blocked one wait in the channel's mailbox; the
	// socket still answers, and says so.
	second.Push("echo:a", "block", map[string]any{})
	for range 5 {
		second.Push("echo:a", "echo", map[string]any{})
	}
	depth := func() int {
		page, _ := h.Sockets(ctx, socket.SocketQuery{Match: "user:ben"})
		if len(page.Sockets) != 1 || len(page.Sockets[0].Channels) != 1 {
			return -1
		}
		return page.Sockets[0].Channels[0].Mailbox
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return depth() == 5 }, "5 pushes waiting in ben's channel")
	close(release)
	testutil.Eventually(t, 5*time.Second, func() bool { return depth() == 0 }, "ben's mailbox to drain")

	// An ended ctx stops the asking.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if page, _ := h.Sockets(done, socket.SocketQuery{}); page.Complete || len(page.Sockets) != 0 {
		t.Errorf("with an ended ctx: got %+v", page)
	}

	// A channel that stops, and the channels of a socket that closes,
	// leave the count.
	first.Push("echo:b", "stop", map[string]any{})
	testutil.Eventually(t, 5*time.Second, func() bool { return h.Channels() == 2 }, "ann's echo:b to stop")
	for _, c := range []*testutil.WSConn{first, second, third} {
		c.Close()
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return h.Len() == 0 && h.Channels() == 0 },
		"no socket and no channel left (got %v)", testutil.Lazy(func() string { return fmt.Sprint(h.Len(), h.Channels()) }))
}

func TestLongPollSocketDescribesItself(t *testing.T) {
	s := newLPServer(t)
	tok := openSession(t, s.url, "token=good&user=lou&vsn=2.0.0")
	lpPost(t, s.url, tok, `["1","1","echo:lp","phx_join",{}]`, `["1","2","echo:lp","push",{"pad":"0123456789"}]`)
	// Nothing polls yet: the reply and the push wait in the session's queue.
	var lou socket.SocketInfo
	testutil.Eventually(t, 5*time.Second, func() bool {
		page, _ := s.h.Sockets(t.Context(), socket.SocketQuery{Match: "user:lou"})
		if len(page.Sockets) != 1 {
			return false
		}
		lou = page.Sockets[0]
		return len(lou.Channels) == 1 && lou.QueuedBytes > 0
	}, "lou's long-poll socket with a channel and frames waiting")
	if lou.Transport != "longpoll" || lou.Channels[0].Topic != "echo:lp" {
		t.Errorf("lou: got %+v", lou)
	}
	collect(t, s.url, tok, 2)
	page, _ := s.h.Sockets(t.Context(), socket.SocketQuery{Match: "user:lou"})
	if len(page.Sockets) != 1 || page.Sockets[0].QueuedBytes != 0 {
		t.Errorf("after a poll took the frames: got %+v", page.Sockets)
	}
}
