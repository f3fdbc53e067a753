package donations

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The snapshot lists the latest donations, newest first, and keeps no
// more than RecentDonations of them.
func TestSnapshotListsTheLatestDonations(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	ann := donor(t, app, srv, "ann")
	mustJoin(t, ann, "campaign:alpha")
	mustJoin(t, ann, "campaign:beta")
	if s, err := app.snapshot(); err != nil || s.Recent == nil || len(s.Recent) != 0 {
		t.Fatalf("snapshot before any donation: %+v %v, want an empty list", s, err)
	}
	const n = RecentDonations + 2
	for i := 1; i <= n; i++ {
		topic := "campaign:alpha"
		if i%2 == 0 {
			topic = "campaign:beta"
		}
		if r := give(t, ann, topic, i, "ann"); r.Status != "ok" {
			t.Fatalf("donation %d: %s %s", i, r.Status, r.Response)
		}
	}

	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/campaigns", nil))
	var s Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /api/campaigns: %d %s %v", rec.Code, rec.Body, err)
	}
	if len(s.Recent) != RecentDonations {
		t.Fatalf("%d recent donations, want %d", len(s.Recent), RecentDonations)
	}
	for i, d := range s.Recent {
		amount := int64(n - i) // newest first: n, n-1, ...
		campaign := "alpha"
		if amount%2 == 0 {
			campaign = "beta"
		}
		if d.Amount != amount || d.Campaign != campaign || d.Donor != "ann" || d.At.IsZero() {
			t.Errorf("recent[%d] = %+v, want %d to %s from ann with a time", i, d, amount, campaign)
		}
	}
}
