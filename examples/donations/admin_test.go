package donations

import (
	"net/http"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
)

// The admin view at /admin shows the app's supervision tree, and a crashed
// worker's restart in it.
func TestAdminViewShowsTheTree(t *testing.T) {
	app, _ := newTestApp(t, Config{})
	if code, _ := call(t, app, http.MethodGet, "/admin/api/trees", "", nil); code != http.StatusUnauthorized {
		t.Errorf("trees without the key: %d, want 401", code)
	}
	// starts returns each child's spawn count, by name.
	starts := func() map[string]float64 {
		code, out := call(t, app, http.MethodGet, "/admin/api/trees", testAdminKey, nil)
		trees, _ := out["trees"].([]any)
		if code != http.StatusOK || len(trees) != 1 {
			t.Fatalf("trees: %d %v", code, out)
		}
		tree := trees[0].(map[string]any)
		root, _ := tree["root"].(map[string]any)
		if tree["name"] != treeName || root == nil || root["strategy"] != "one_for_one" {
			t.Fatalf("tree: %v", tree)
		}
		got := map[string]float64{}
		for _, c := range root["children"].([]any) {
			child := c.(map[string]any)
			if child["running"] == true {
				got[child["name"].(string)] = child["starts"].(float64)
			}
		}
		return got
	}
	if got := starts(); len(got) != 3 || got[ledgerName] != 1 || got[announcerName] != 1 || got[refresherName] != 1 {
		t.Errorf("children started once each: got %v", got)
	}
	if code, _ := call(t, app, http.MethodPost, "/api/crash-worker", testAdminKey, nil); code != http.StatusAccepted {
		t.Fatalf("crash-worker: %d", code)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return starts()[announcerName] == 2 },
		"the announcer to be restarted once in the admin view")
}
