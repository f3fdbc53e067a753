package socket_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

// present tracks its user on join, as a chat room does.
type present struct{}

func (present) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	user, _ := c.Get("user").(string)
	_, err := c.Track(user, presence.Meta{})
	return nil, err
}

// presenceServer serves room:* channels that track their user (user=NAME in
// the connect params) over both transports.
func presenceServer(t *testing.T) string {
	t.Helper()
	ps := topics.New()
	tracker, err := presence.New(ps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tracker.Close() })
	r := actors.NewRouter()
	r.MustHandle("room:*", func() actors.Channel { return present{} })
	h, err := socket.New(r, socket.WithPubSub(ps), socket.WithPresence(tracker),
		socket.WithConnect(func(_ context.Context, p url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
			return actors.Assigns{"user": p.Get("user")}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.ServeSocket(t, h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return srv.URL
}

// After phx_leave is answered, the leaving client gets phx_close and
// nothing else: its own presence leave goes to the others only (Phoenix's
// channel is gone before its presence is untracked).
func TestLeaveIsFollowedOnlyByClose(t *testing.T) {
	base := presenceServer(t)
	stay := testutil.Dial(t, base+"/socket/websocket?user=stay", "2.0.0")
	stay.Join("room:1", nil)
	leave := testutil.Dial(t, base+"/socket/websocket?user=leave", "2.0.0")
	leave.Join("room:1", nil)
	stay.ReadUntil("leave's join", func(f testutil.Frame) bool { return isDiff(f, "joins", "leave") })

	ref := leave.Push("room:1", "phx_leave", map[string]any{})
	leave.ReadUntil("the leave's reply", func(f testutil.Frame) bool { return f.Event == "phx_reply" && f.Ref == ref })
	stay.ReadUntil("leave's presence leave", func(f testutil.Frame) bool { return isDiff(f, "leaves", "leave") })
	// The other member has the leave, so it has been broadcast; a heartbeat
	// marks the end of what the leaving client gets.
	hb := leave.Push("phoenix", "heartbeat", map[string]any{})
	var after []string
	leave.ReadUntil("the heartbeat's reply", func(f testutil.Frame) bool {
		if f.Topic == "phoenix" && f.Ref == hb {
			return true
		}
		after = append(after, f.Text)
		return false
	})
	want := `["1","1","room:1","phx_close",{}]`
	if len(after) != 1 || after[0] != want {
		t.Errorf("after the leave reply the leaving client got %q, want only %s", after, want)
	}
}

// The same over long-poll, as phoenix.js's LongPoll transport sees it.
func TestLeaveIsFollowedOnlyByCloseLongPoll(t *testing.T) {
	base := presenceServer(t)
	stay := testutil.Dial(t, base+"/socket/websocket?user=stay", "2.0.0")
	stay.Join("room:1", nil)
	lp := base + "/socket/longpoll"
	params := "user=leave&vsn=2.0.0"
	tok := openSession(t, lp, params)
	lpPost(t, lp, tok, `["1","1","room:1","phx_join",{}]`)
	stay.ReadUntil("leave's join", func(f testutil.Frame) bool { return isDiff(f, "joins", "leave") })

	lpPost(t, lp, tok, `["1","2","room:1","phx_leave",{}]`)
	stay.ReadUntil("leave's presence leave", func(f testutil.Frame) bool { return isDiff(f, "leaves", "leave") })
	lpPost(t, lp, tok, `[null,"3","phoenix","heartbeat",{}]`)
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 || got[len(got)-1] != `[null,"3","phoenix","phx_reply",{"status":"ok","response":{}}]` {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat reply; got %q", got)
		}
		r := lpDo(t, http.MethodGet, pollURL(lp, params, tok), nil, "")
		got = append(got, r.Messages...)
	}
	want := []string{
		`["1","1","room:1","phx_reply",{"status":"ok","response":{}}]`,
		`["1","2","room:1","phx_reply",{"status":"ok","response":{}}]`,
		`["1","1","room:1","phx_close",{}]`,
		`[null,"3","phoenix","phx_reply",{"status":"ok","response":{}}]`,
	}
	if len(got) != len(want) {
		t.Fatalf("long-poll messages %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("long-poll messages %q, want %q", got, want)
		}
	}
}

// isDiff reports whether f is a presence_diff whose side ("joins" or
// "leaves") has key.
func isDiff(f testutil.Frame, side, key string) bool {
	if f.Event != "presence_diff" {
		return false
	}
	m, _ := f.Payload[side].(map[string]any)
	_, ok := m[key]
	return ok
}

// slowStop stops on "stop" and takes its time in Terminate, until release
// is closed (or a few seconds pass).
type slowStop struct{ release chan struct{} }

func (slowStop) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (slowStop) HandleIn(_ *actors.Context, event string, _ actors.Payload) actors.Result {
	if event == "stop" {
		return actors.StopWithReply(nil, "ok", nil)
	}
	return actors.Ok(nil)
}

func (s slowStop) Terminate(*actors.Context, error) {
	select {
	case <-s.release:
	case <-time.After(5 * time.Second):
	}
}

// A push that reaches a channel once it has begun to stop is answered as
// for a topic with no channel, never dropped: the client may send it as
// soon as it reads phx_close, while the Socket actor still lists the
// channel.
func TestPushToAStoppingChannelIsAnswered(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, srv := startServer(t, func() actors.Channel { return slowStop{release: release} }, 10*time.Second)
	c := testutil.Dial(t, testutil.WSURL(srv.URL, "/socket/websocket")+"?token=good&user=ann", "2.0.0")
	c.Join("echo:1", nil)
	stop := c.Push("echo:1", "stop", map[string]any{})
	c.ReadUntil("the stop's reply", func(f testutil.Frame) bool { return f.Event == "phx_reply" && f.Ref == stop })
	// Terminate is running: the channel is stopping.
	ping := c.Push("echo:1", "ping", map[string]any{})
	f := c.ReadUntil("the ping's reply", func(f testutil.Frame) bool { return f.Event == "phx_reply" && f.Ref == ping })
	if want := `[null,"` + ping + `","echo:1","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`; f.Text != want {
		t.Fatalf("a push to a stopping channel got %s, want %s", f.Text, want)
	}
}
