package donations

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/presence"
)

// awaitDiff waits for a presence_diff on the donors' topic for which ok is
// true.
func awaitDiff(tb testing.TB, c *channeltest.Client, ok func(presence.Diff) bool) {
	tb.Helper()
	if _, err := c.Await(func(m channeltest.Message) bool {
		var d presence.Diff
		return m.Topic == DonorsTopic && m.Event == "presence_diff" && m.Decode(&d) == nil && ok(d)
	}); err != nil {
		tb.Fatalf("presence_diff on %s: %v", DonorsTopic, err)
	}
}

// Every logged-in socket may join donors:live: it is tracked by its user
// name, gets who is online, then the whole snapshot before any tick (the
// test app's refresh period is an hour); others see it come and go.
func TestDonorsSeeEachOtherAndTheSnapshot(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	ann := donor(t, app, srv, "ann")
	mustJoin(t, ann, "campaign:beta")
	if r := give(t, ann, "campaign:beta", 30, "ann"); r.Status != "ok" {
		t.Fatalf("donation: %s %s", r.Status, r.Response)
	}
	mustJoin(t, ann, DonorsTopic)
	m, err := ann.AwaitPush(DonorsTopic, "presence_state")
	if err != nil {
		t.Fatal(err)
	}
	var state presence.State
	if err := m.Decode(&state); err != nil {
		t.Fatal(err)
	}
	if p, ok := state["ann"]; len(state) != 1 || !ok || len(p.Metas) != 1 || p.Metas[0]["online_at"] == nil {
		t.Errorf("presence_state = %s, want ann alone with one meta carrying online_at", m.Payload)
	}
	snap := awaitSnapshot(t, ann, DonorsTopic, func(Snapshot) bool { return true })
	if beta, _ := stateOf(snap, "beta"); len(snap.Campaigns) != len(testCampaigns()) || beta.Total != 30 || beta.Count != 1 ||
		snap.WorkerRestarts != 0 || snap.At.IsZero() {
		t.Errorf("campaign_refreshed after the join = %+v, want every campaign, beta at 30, no restarts and a time", snap)
	}

	// An admin is a donor too.
	root := adminClient(t, app, srv, "root")
	mustJoin(t, root, DonorsTopic)
	awaitDiff(t, ann, func(d presence.Diff) bool { _, in := d.Joins["root"]; return in })
	root.Close()
	awaitDiff(t, ann, func(d presence.Diff) bool { _, out := d.Leaves["root"]; return out })
	noFrame(t, ann, DonorsTopic, "phx_error")
}

// A restarted announcer announces itself at once: the donors (and the
// dashboard) get a snapshot with one more restart without waiting for the
// refresher, whose period here is an hour.
func TestWorkerRestartReachesDonorsAtOnce(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	ann := donor(t, app, srv, "ann")
	mustJoin(t, ann, DonorsTopic)
	awaitSnapshot(t, ann, DonorsTopic, func(s Snapshot) bool { return s.WorkerRestarts == 0 })
	root := adminClient(t, app, srv, "root")
	mustJoin(t, root, DashboardTopic)
	c := joined(t, donor(t, app, srv, "bob"), "campaign:gamma")

	if code, _ := call(t, app, http.MethodPost, "/api/crash-worker", testAdminKey, nil); code != http.StatusAccepted {
		t.Fatalf("crash-worker: %d, want 202", code)
	}
	awaitSnapshot(t, ann, DonorsTopic, func(s Snapshot) bool { return s.WorkerRestarts == 1 })
	awaitRefresh(t, root, func(s Snapshot) bool { return s.WorkerRestarts == 1 })
	if _, err := c.AwaitPush("campaign:gamma", "campaign_refreshed"); err != nil {
		t.Errorf("campaign_refreshed on campaign:gamma after the restart: %v", err)
	}
}

// joined joins topic on c and returns c.
func joined(tb testing.TB, c *channeltest.Client, topic string) *channeltest.Client {
	tb.Helper()
	mustJoin(tb, c, topic)
	return c
}

// A join storm on donors:live: every donor's page, replaying what it got
// as phoenix.js does, counts every donor online, as the tracker does.
func TestDonorsCountUnderAJoinStorm(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	const n = 120
	clients := make([]*channeltest.Client, n)
	var wg sync.WaitGroup
	for i := range n {
		c := donor(t, app, srv, fmt.Sprintf("donor%03d", i))
		clients[i] = c
		wg.Go(func() {
			if r, err := c.Join(DonorsTopic, nil); err != nil || r.Status != "ok" {
				t.Errorf("join %d: %v %v", i, r, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Each donor is tracked just after its join reply.
	testutil.Eventually(t, 5*time.Second, func() bool {
		c := app.tracker.Counts(DonorsTopic)
		return c.Keys == n && c.Metas == n
	}, "the tracker to count %d donors", n)
	for i, c := range clients {
		var view map[string][]string
		testutil.Eventually(t, 5*time.Second, func() bool {
			var ok bool
			var err error
			if view, ok, err = channeltest.PresenceView(c.Received(), DonorsTopic); err != nil {
				t.Fatal(err)
			}
			return ok && len(view) == n
		}, "donor %d to count %d online (has %s)", i, n, testutil.Lazy(func() string { return fmt.Sprint(len(view)) }))
	}
}
