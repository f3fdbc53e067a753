package donations

import (
	"net/http"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/presence"
)

func TestDashboardRefusesNonAdmins(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	c := donor(t, app, srv, "mallory")
	r, err := c.Join(DashboardTopic, map[string]string{"admin": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "error" || string(r.Response) != `{"reason":"unauthorized"}` {
		t.Errorf("donor joining the dashboard: %s %s, want error unauthorized", r.Status, r.Response)
	}

	// An admin token needs the admin key.
	for _, key := range []string{"", "wrong-key", testAdminKey + "x"} {
		code, _ := call(t, app, http.MethodPost, "/api/admin-login", key, map[string]string{"user": "mallory"})
		if code != http.StatusUnauthorized {
			t.Errorf("admin-login with key %q: %d, want 401", key, code)
		}
	}
	// A token from one signer does not verify as the other's.
	userTok := loginAs(t, app, "/api/login", "", "mallory")
	if _, err := app.admins.Verify(userTok); err == nil {
		t.Error("a user token verifies as an admin token")
	}
	if _, err := srv.Connect(nil); err == nil {
		t.Error("a socket without a token was accepted")
	}
}

func TestDashboardTracksAdmins(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	root := adminClient(t, app, srv, "root")
	mustJoin(t, root, DashboardTopic)
	m, err := root.AwaitPush(DashboardTopic, "presence_state")
	if err != nil {
		t.Fatal(err)
	}
	var state presence.State
	if err := m.Decode(&state); err != nil {
		t.Fatal(err)
	}
	if p, ok := state["root"]; !ok || len(p.Metas) != 1 || p.Metas[0]["online_at"] == nil {
		t.Errorf("presence_state = %s, want root with one meta carrying online_at", m.Payload)
	}

	ops := adminClient(t, app, srv, "ops")
	mustJoin(t, ops, DashboardTopic)
	if _, err := root.Await(func(m channeltest.Message) bool {
		if m.Topic != DashboardTopic || m.Event != "presence_diff" {
			return false
		}
		var d presence.Diff
		_ = m.Decode(&d)
		_, joined := d.Joins["ops"]
		return joined
	}); err != nil {
		t.Fatalf("presence_diff with ops joining: %v", err)
	}
}

// The refresher's ticks reach the dashboard and every campaign topic,
// from outside any channel, with the ledger's totals.
func TestRefreshBroadcastsTotals(t *testing.T) {
	app, srv := newTestApp(t, Config{Refresh: 20 * time.Millisecond})
	root := adminClient(t, app, srv, "root")
	mustJoin(t, root, DashboardTopic)
	c := donor(t, app, srv, "ann")
	const topic = "campaign:gamma"
	mustJoin(t, c, topic)
	if r := give(t, c, topic, 7, "ann"); r.Status != "ok" {
		t.Fatalf("donation: %s %s", r.Status, r.Response)
	}

	snap := awaitRefresh(t, root, func(s Snapshot) bool {
		st, _ := stateOf(s, "gamma")
		return st.Total == 7
	})
	if len(snap.Campaigns) != len(testCampaigns()) || snap.WorkerRestarts != 0 || snap.At.IsZero() {
		t.Errorf("dashboard campaign_refreshed = %+v, want every campaign, no restarts and a time", snap)
	}
	if _, err := c.Await(func(m channeltest.Message) bool {
		var st CampaignState
		return m.Topic == topic && m.Event == "campaign_refreshed" && m.Decode(&st) == nil &&
			st.ID == "gamma" && st.Total == 7 && st.Count == 1 && st.Goal == 250
	}); err != nil {
		t.Fatalf("campaign_refreshed on %s: %v", topic, err)
	}
}

// Crashing the announcer, by HTTP or from the dashboard, makes the
// supervisor restart it: the restart count goes up in campaign_refreshed
// and in GET /api/campaigns, and the ledger's totals are untouched.
func TestCrashedWorkerIsRestartedAndTotalsSurvive(t *testing.T) {
	app, srv := newTestApp(t, Config{Refresh: 20 * time.Millisecond})
	root := adminClient(t, app, srv, "root")
	mustJoin(t, root, DashboardTopic)
	c := donor(t, app, srv, "ann")
	mustJoin(t, c, "campaign:alpha")
	if r := give(t, c, "campaign:alpha", 11, "ann"); r.Status != "ok" {
		t.Fatalf("donation: %s %s", r.Status, r.Response)
	}
	alphaIs11 := func(s Snapshot) bool { st, _ := stateOf(s, "alpha"); return st.Total == 11 && st.Count == 1 }
	if s := awaitRefresh(t, root, alphaIs11); s.WorkerRestarts != 0 {
		t.Fatalf("worker_restarts before any crash = %d", s.WorkerRestarts)
	}

	if code, _ := call(t, app, http.MethodPost, "/api/crash-worker", "", nil); code != http.StatusUnauthorized {
		t.Errorf("crash-worker without the admin key: %d, want 401", code)
	}
	if code, _ := call(t, app, http.MethodPost, "/api/crash-worker", testAdminKey, nil); code != http.StatusAccepted {
		t.Fatalf("crash-worker: %d, want 202", code)
	}
	s := awaitRefresh(t, root, func(s Snapshot) bool { return s.WorkerRestarts == 1 })
	if !alphaIs11(s) {
		t.Errorf("totals after the worker restart = %+v, want alpha at 11", s.Campaigns)
	}

	// The same from the dashboard.
	r, err := root.Request(DashboardTopic, "crash_worker", nil)
	if err != nil || r.Status != "ok" {
		t.Fatalf("crash_worker: %+v %v", r, err)
	}
	s = awaitRefresh(t, root, func(s Snapshot) bool { return s.WorkerRestarts == 2 })
	if !alphaIs11(s) {
		t.Errorf("totals after the second worker restart = %+v, want alpha at 11", s.Campaigns)
	}

	code, out := call(t, app, http.MethodGet, "/api/campaigns", "", nil)
	if code != http.StatusOK || out["worker_restarts"] != float64(2) {
		t.Errorf("GET /api/campaigns = %d %v, want 200 with worker_restarts 2", code, out)
	}
	if code, out := call(t, app, http.MethodGet, "/healthz", "", nil); code != http.StatusOK || out["status"] != "ok" {
		t.Errorf("healthz after two worker restarts = %d %v, want 200 ok", code, out)
	}
	// The channels never noticed.
	if r := give(t, c, "campaign:alpha", 1, "ann"); r.Status != "ok" || string(r.Response) != `{"total":12}` {
		t.Errorf("donation after the worker restarts: %s %s, want ok {total: 12}", r.Status, r.Response)
	}
}
