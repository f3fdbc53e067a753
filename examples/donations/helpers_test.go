package donations

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/socket"
)

const testAdminKey = "test-admin-key"

// testCampaigns is a small catalogue; tests own one campaign each so that
// their totals do not mix.
func testCampaigns() []Campaign {
	return []Campaign{
		{ID: "alpha", Name: "Alpha", Goal: 1000},
		{ID: "beta", Name: "Beta", Goal: 500},
		{ID: "gamma", Name: "Gamma", Goal: 250},
	}
}

// newTestApp builds the app from cfg, with a test admin key, secret and
// catalogue unless cfg has its own, on an in-process socket handler from
// channeltest, and shuts it down when the test ends. A zero cfg.Refresh
// means an hour: tests that want campaign_refreshed ask for it.
func newTestApp(tb testing.TB, cfg Config) (*App, *channeltest.Server) {
	tb.Helper()
	if cfg.AdminKey == "" {
		cfg.AdminKey = testAdminKey
	}
	if cfg.Secret == nil {
		cfg.Secret = []byte("a test secret of enough length")
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.Campaigns == nil {
		cfg.Campaigns = testCampaigns()
	}
	cfg.Node = "test"
	var srv *channeltest.Server
	app, err := build(cfg, func(r *actors.Router, opts ...socket.Option) (*socket.Handler, error) {
		srv = channeltest.NewServer(tb, r, opts...)
		return srv.Handler(), nil
	})
	if err != nil {
		tb.Fatalf("build: %v", err)
	}
	// Registered after channeltest's own clean-up, so it runs first.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return app, srv
}

// call serves one HTTP request in process and decodes the JSON answer.
func call(tb testing.TB, app *App, method, path, key string, body any) (int, map[string]any) {
	tb.Helper()
	var rd *strings.Reader
	if body == nil {
		rd = strings.NewReader("")
	} else {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		tb.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, rec.Body.String(), err)
	}
	return rec.Code, out
}

// loginAs gets a token from path ("/api/login" or "/api/admin-login").
func loginAs(tb testing.TB, app *App, path, key, user string) string {
	tb.Helper()
	code, out := call(tb, app, http.MethodPost, path, key, map[string]string{"user": user})
	tok, _ := out["token"].(string)
	if code != http.StatusOK || tok == "" {
		tb.Fatalf("POST %s as %s: %d %v", path, user, code, out)
	}
	return tok
}

// connect opens an in-process socket with token.
func connect(tb testing.TB, srv *channeltest.Server, token string) *channeltest.Client {
	tb.Helper()
	c, err := srv.Connect(url.Values{"token": {token}})
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// donor connects a logged-in user.
func donor(tb testing.TB, app *App, srv *channeltest.Server, user string) *channeltest.Client {
	tb.Helper()
	return connect(tb, srv, loginAs(tb, app, "/api/login", "", user))
}

// adminClient connects a logged-in admin.
func adminClient(tb testing.TB, app *App, srv *channeltest.Server, user string) *channeltest.Client {
	tb.Helper()
	return connect(tb, srv, loginAs(tb, app, "/api/admin-login", testAdminKey, user))
}

// mustJoin joins topic and fails the test unless the reply is ok.
func mustJoin(tb testing.TB, c *channeltest.Client, topic string) {
	tb.Helper()
	r, err := c.Join(topic, nil)
	if err != nil || r.Status != "ok" {
		tb.Fatalf("join %s: %+v %v", topic, r, err)
	}
}

// awaitState waits for the next campaign_state on topic.
func awaitState(tb testing.TB, c *channeltest.Client, topic string) (channeltest.Message, CampaignState) {
	tb.Helper()
	m, err := c.AwaitPush(topic, "campaign_state")
	if err != nil {
		tb.Fatal(err)
	}
	var st CampaignState
	if err := m.Decode(&st); err != nil {
		tb.Fatal(err)
	}
	return m, st
}

// give pushes new_donation and returns the reply.
func give(tb testing.TB, c *channeltest.Client, topic string, amount any, donor string) channeltest.Reply {
	tb.Helper()
	r, err := c.Request(topic, "new_donation", map[string]any{"amount": amount, "donor": donor})
	if err != nil {
		tb.Fatalf("new_donation on %s: %v", topic, err)
	}
	return r
}

// awaitRefresh waits for a campaign_refreshed on the dashboard whose
// snapshot satisfies ok.
func awaitRefresh(tb testing.TB, c *channeltest.Client, ok func(Snapshot) bool) Snapshot {
	tb.Helper()
	return awaitSnapshot(tb, c, DashboardTopic, ok)
}

// awaitSnapshot waits for a campaign_refreshed on topic (the dashboard's
// or the donors') whose snapshot satisfies ok.
func awaitSnapshot(tb testing.TB, c *channeltest.Client, topic string, ok func(Snapshot) bool) Snapshot {
	tb.Helper()
	var got Snapshot
	_, err := c.Await(func(m channeltest.Message) bool {
		if m.Topic != topic || m.Event != "campaign_refreshed" {
			return false
		}
		var s Snapshot
		if m.Decode(&s) != nil || !ok(s) {
			return false
		}
		got = s
		return true
	})
	if err != nil {
		tb.Fatalf("campaign_refreshed on %s: %v", topic, err)
	}
	return got
}

func stateOf(s Snapshot, id string) (CampaignState, bool) {
	for _, c := range s.Campaigns {
		if c.ID == id {
			return c, true
		}
	}
	return CampaignState{}, false
}

// noFrame fails if a frame with topic and event has been received and not
// yet consumed.
func noFrame(tb testing.TB, c *channeltest.Client, topic, event string) {
	tb.Helper()
	for _, m := range c.Received() {
		if m.Topic == topic && m.Event == event {
			tb.Fatalf("unexpected %s on %s: %s", event, topic, m.Payload)
		}
	}
}

// logBuffer collects log lines from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first JSON log line for which ok is true.
func (b *logBuffer) find(ok func(map[string]any) bool) (map[string]any, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for line := range strings.SplitSeq(b.buf.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ok(ev) {
			return ev, true
		}
	}
	return nil, false
}
