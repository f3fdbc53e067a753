package actors_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

type listNow struct{}

// member tracks the user named in its join payload and sends the room's
// presence: the whole list, or a page of `page` keys when page > 0.
type member struct {
	user     string
	page     int
	together bool // TrackAndPushPresence rather than Track, then a push
}

func (m *member) Join(c *actors.Context, _ string, p actors.Payload) (any, error) {
	var in struct {
		User     string `json:"user"`
		Page     int    `json:"page"`
		Together bool   `json:"together"`
	}
	if err := p.Decode(&in); err != nil {
		return nil, err
	}
	m.user, m.page, m.together = in.User, in.Page, in.Together
	c.Send(listNow{})
	return nil, nil
}

func (m *member) HandleInfo(c *actors.Context, _ any) actors.Result {
	if m.together {
		if _, err := c.TrackAndPushPresence(m.user, presence.Meta{"online": true}); err != nil {
			return actors.Stop(err)
		}
		return actors.NoReply()
	}
	if _, err := c.Track(m.user, presence.Meta{"online": true}); err != nil {
		return actors.Stop(err)
	}
	if m.page > 0 {
		l, err := c.PushPresencePage(m.page)
		if err != nil {
			return actors.Stop(err)
		}
		_ = c.Push("presence_count", map[string]int{"keys": l.Keys, "listed": l.Listed})
		return actors.NoReply()
	}
	if err := c.PushPresenceState(); err != nil {
		return actors.Stop(err)
	}
	return actors.NoReply()
}

func (m *member) HandleIn(c *actors.Context, event string, _ actors.Payload) actors.Result {
	n, err := c.PresenceCount()
	if err != nil {
		return actors.Error(map[string]string{"reason": err.Error()})
	}
	return actors.Ok(n)
}

func presenceServer(t *testing.T, coalesce time.Duration) (*channeltest.Server, *presence.Tracker) {
	ps := topics.New()
	tr, err := presence.New(ps, presence.WithNode("n1"), presence.WithCoalesce(coalesce))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return &member{} })
	return channeltest.NewServer(t, router, socket.WithPubSub(ps), socket.WithPresence(tr)), tr
}

// TestPresenceStateUnderConcurrentJoins: clients join one room at once and
// some leave; the presence_state each got, with the diffs after it, ends as
// the tracker's list, with and without coalescing, whether the channel
// tracks and then pushes or does both with TrackAndPushPresence.
func TestPresenceStateUnderConcurrentJoins(t *testing.T) {
	for _, coalesce := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprint("coalesce=", coalesce), func(t *testing.T) {
			srv, tr := presenceServer(t, coalesce)
			const n = 40
			clients := make([]*channeltest.Client, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					c, err := srv.Connect(url.Values{})
					if err != nil {
						t.Error(err)
						return
					}
					if r, err := c.Join("room:big", map[string]any{"user": fmt.Sprint("u", i%30), "together": i%2 == 0}); err != nil || r.Status != "ok" {
						t.Errorf("join %d: %v %v", i, r, err)
						return
					}
					if i%5 == 0 {
						if _, err := c.Leave("room:big"); err != nil {
							t.Error(err)
						}
						return
					}
					clients[i] = c
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			var got, want map[string][]string
			for i, c := range clients {
				if c == nil {
					continue
				}
				testutil.Eventually(t, 5*time.Second, func() bool {
					var ok bool
					var err error
					if got, ok, err = channeltest.PresenceView(c.Received(), "room:big"); err != nil {
						t.Fatal(err)
					}
					want = channeltest.PresenceRefs(tr.List("room:big"))
					return ok && fmt.Sprint(got) == fmt.Sprint(want)
				}, "client %d: view %v, want %v", i, testutil.Lazy(func() string { return fmt.Sprint(got) }), testutil.Lazy(func() string { return fmt.Sprint(want) }))
			}
		})
	}
}

func TestPresencePageAndCount(t *testing.T) {
	srv, tr := presenceServer(t, 0)
	for i := range 12 {
		tr.Track(fmt.Sprint("bot", i), "room:big", fmt.Sprintf("bot%02d", i), nil)
	}
	c, err := srv.Connect(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Join("room:big", map[string]any{"user": "zed", "page": 5}); err != nil || r.Status != "ok" {
		t.Fatalf("join: %v %v", r, err)
	}
	st, err := c.AwaitPush("room:big", presence.EventState)
	if err != nil {
		t.Fatal(err)
	}
	var s presence.State
	if err := st.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if len(s) != 5 {
		t.Fatalf("page has %d keys, want 5: %s", len(s), st.Payload)
	}
	for k := range s {
		if k > "bot04" {
			t.Fatalf("page holds %s, want the first five keys", k)
		}
	}
	cm, err := c.AwaitPush("room:big", "presence_count")
	if err != nil {
		t.Fatal(err)
	}
	var count struct{ Keys, Listed int }
	if err := json.Unmarshal(cm.Payload, &count); err != nil || count.Keys != 13 || count.Listed != 5 {
		t.Fatalf("presence_count = %s, want 13 keys, 5 listed", cm.Payload)
	}
	r, err := c.Request("room:big", "count", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tc presence.TopicCount
	if err := r.Decode(&tc); err != nil || tc.Keys != 13 || tc.Metas != 13 {
		t.Fatalf("count reply = %s", r.Response)
	}
}
