package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pyrehq/pyre/client"
	"github.com/pyrehq/pyre/internal/testutil"
)

// dialGo connects a Go client to the command as user, with the login
// token as the auth token (what the chat page does too), and closes it
// when the test ends. It reconnects after a fixed backoff.
func (c *command) dialGo(tb testing.TB, user string, backoff time.Duration) *client.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	pc, err := client.Dial(ctx, c.URL+"socket", client.WithAuthToken(c.login(tb, user)),
		client.WithReconnectBackoff(func(int) time.Duration { return backoff }))
	if err != nil {
		tb.Fatalf("dial as %s: %v", user, err)
	}
	tb.Cleanup(func() { _ = pc.Close() })
	return pc
}

// The README's Go service, against pyre chat: it follows a room, is
// disconnected by the admin API while someone keeps talking, and gets
// every message once and in order, with no resync.
func TestGoServiceFollowsARoom(t *testing.T) {
	c := startCommand(t, "chat", "-admin-key", "k", "-rate-limit", "100000")
	// Away long enough for bob to say things meanwhile.
	svc := c.dialGo(t, "svc", 200*time.Millisecond)
	room := svc.Channel("room:lobby", nil)
	got := make(chan string, 1000)
	room.On("new_msg", func(m client.Message) {
		var msg struct{ Body string }
		_ = m.Decode(&msg)
		got <- msg.Body
	})
	resyncs := make(chan client.Resync, 1)
	room.OnResync(func(r client.Resync) { resyncs <- r })
	if _, err := room.Join(t.Context()); err != nil {
		t.Fatal(err)
	}

	bob := c.dialGo(t, "bob", 0).Channel("room:lobby", nil)
	if _, err := bob.Join(t.Context()); err != nil {
		t.Fatal(err)
	}
	say := func(i int) {
		t.Helper()
		if _, err := bob.Push(t.Context(), "new_msg", map[string]string{"body": fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	say(0)
	if m := testutil.Receive(t, got, waitFor, "no first message"); m != "m0" {
		t.Fatalf("first message %q", m)
	}
	if status, out := c.post(t, "/api/disconnect", `{"user":"svc"}`, "Authorization", "Bearer k"); status != 200 {
		t.Fatalf("disconnect: %d %v", status, out)
	}
	testutil.Eventually(t, waitFor, func() bool { return !svc.Connected() }, "the service to be disconnected")
	for i := 1; i <= 50; i++ {
		say(i)
	}
	for i := 1; i <= 50; i++ {
		if m := testutil.Receive(t, got, waitFor, "message %d", i); m != fmt.Sprint("m", i) {
			t.Fatalf("message %q, want m%d", m, i)
		}
	}
	select {
	case r := <-resyncs:
		t.Errorf("resync %+v", r)
	case m := <-got:
		t.Errorf("extra message %q", m)
	default:
	}
}
