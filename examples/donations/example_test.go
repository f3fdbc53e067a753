package donations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pyrehq/pyre/examples/donations"
)

// Build the app, serve it (here in process) and read the campaigns and
// their totals from the API. Donors would now log in with POST /api/login
// and join campaign:<id> with the token.
func Example() {
	app, err := donations.New(donations.Config{AdminKey: "change me"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = app.Shutdown(context.Background()) }()

	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/campaigns", nil))
	var snap donations.Snapshot
	if err := json.NewDecoder(rec.Body).Decode(&snap); err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range snap.Campaigns {
		fmt.Printf("campaign:%s raised %d of %d\n", c.ID, c.Total, c.Goal)
	}

	// Admin tokens need the admin key.
	rec = httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/admin-login", strings.NewReader(`{"user":"root"}`)))
	fmt.Println("admin login without the key:", rec.Code)
	// Output:
	// campaign:clean-water raised 0 of 25000
	// campaign:school-books raised 0 of 8000
	// campaign:tree-planting raised 0 of 12000
	// admin login without the key: 401
}
