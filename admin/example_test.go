package admin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/admin"
	"github.com/pyrehq/pyre/socket"
)

// An app mounts the admin view beside its socket, at /admin and below.
// A program reads the JSON with the key as a bearer token; a browser opens
// /admin and gives the key as the password when it asks.
func Example() {
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel {
		return actors.ChannelFunc(func(*actors.Context, string, actors.Payload) (any, error) { return nil, nil })
	})
	h, err := socket.New(router)
	if err != nil {
		panic(err)
	}
	view, err := admin.New(h, "s3cret-admin-key",
		// Assigns (and presence metas) under these keys are never shown.
		admin.WithSecretAssigns("session"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket/", h)
	mux.Handle("/admin", view)
	mux.Handle("/admin/", view)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, key := range []string{"", "wrong", "s3cret-admin-key"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/api/node", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Printf("key %q: %s\n", key, res.Status)
	}
	// Output:
	// key "": 401 Unauthorized
	// key "wrong": 401 Unauthorized
	// key "s3cret-admin-key": 200 OK
}
