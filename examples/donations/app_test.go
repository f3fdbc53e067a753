package donations

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
)

func TestConfigRejectsBadCatalogues(t *testing.T) {
	cases := map[string]Config{
		"bad id":        {Campaigns: []Campaign{{ID: "Clean Water", Name: "x", Goal: 1}}},
		"empty id":      {Campaigns: []Campaign{{ID: "", Name: "x", Goal: 1}}},
		"duplicate":     {Campaigns: []Campaign{{ID: "a", Name: "x", Goal: 1}, {ID: "a", Name: "y", Goal: 2}}},
		"no goal":       {Campaigns: []Campaign{{ID: "a", Name: "x"}}},
		"no name":       {Campaigns: []Campaign{{ID: "a", Goal: 1}}},
		"negative tick": {Refresh: -time.Second},
	}
	for name, cfg := range cases {
		if app, err := New(cfg); err == nil {
			_ = app.Shutdown(context.Background())
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// The real constructor, with defaults and no admin key: the admin
// endpoints are closed, the default catalogue is served, and Shutdown
// stops everything it started.
func TestNewDefaultsAndShutdown(t *testing.T) {
	before := testutil.Goroutines()
	app, err := New(Config{Refresh: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, app, http.MethodGet, "/healthz", "", nil); code != http.StatusOK || out["status"] != "ok" {
		t.Errorf("healthz = %d %v, want 200 ok", code, out)
	}
	for _, path := range []string{"/api/admin-login", "/api/crash-worker"} {
		if code, _ := call(t, app, http.MethodPost, path, "", map[string]string{"user": "root"}); code != http.StatusUnauthorized {
			t.Errorf("POST %s without an admin key configured: %d, want 401", path, code)
		}
	}
	snap, err := app.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Campaigns) != len(DefaultCampaigns()) || snap.Campaigns[0].Campaign != DefaultCampaigns()[0] {
		t.Errorf("campaigns = %+v, want the default catalogue", snap.Campaigns)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if code, out := call(t, app, http.MethodGet, "/healthz", "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("healthz after Shutdown = %d %v, want 503", code, out)
	}
	before.Wait(t)
}

// A login body past the limit is refused as too large, not as bad JSON.
func TestLoginBodyTooLarge(t *testing.T) {
	app, _ := newTestApp(t, Config{})
	for _, path := range []string{"/api/login", "/api/admin-login"} {
		code, out := call(t, app, http.MethodPost, path, testAdminKey, map[string]string{"user": strings.Repeat("a", 10<<20)})
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with a 10 MB body: %d %v, want 413", path, code, out)
		}
	}
	if code, out := call(t, app, http.MethodPost, "/api/login", "", "not an object"); code != http.StatusBadRequest {
		t.Errorf("POST /api/login with a string: %d %v, want 400", code, out)
	}
}

// Names with control or format characters (Unicode Cc, Cf) are refused
// by both logins.
func TestLoginRefusesControlAndFormatCharacters(t *testing.T) {
	app, _ := newTestApp(t, Config{})
	for _, path := range []string{"/api/login", "/api/admin-login"} {
		for _, name := range []string{"admin\x00", "ad\x07min", "admin\u200b", "\u202eadmin", "a\tb", "bob\ufeff"} {
			code, out := call(t, app, http.MethodPost, path, testAdminKey, map[string]string{"user": name})
			if msg, _ := out["error"].(string); code != http.StatusBadRequest || !strings.Contains(msg, "control") {
				t.Errorf("POST %s as %q: %d %v, want 400 naming control characters", path, name, code, out)
			}
		}
		if code, out := call(t, app, http.MethodPost, path, testAdminKey, map[string]string{"user": "Zoë"}); code != http.StatusOK {
			t.Errorf("POST %s as Zoë: %d %v, want 200", path, code, out)
		}
	}
}
