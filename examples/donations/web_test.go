package donations

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve serves one bodiless request in process and returns the status,
// content type and body.
func serve(tb testing.TB, app *App, method, path string) (int, string, string) {
	tb.Helper()
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(body)
}

// The page, its script and style come from the binary, whatever the
// working directory; paths that are neither the page nor a file of it
// stay 404, and the page only answers GET (and HEAD).
func TestPageIsServed(t *testing.T) {
	t.Chdir(t.TempDir()) // nothing is read from the working directory
	app, _ := newTestApp(t, Config{})
	for _, tc := range []struct{ path, typ, want string }{
		{"/", "text/html", `<script type="module" src="/static/app.js">`},
		{"/static/app.js", "text/javascript", `from "/assets/phoenix.mjs"`},
		{"/static/style.css", "text/css", ".campaign"},
	} {
		code, typ, body := serve(t, app, http.MethodGet, tc.path)
		if code != http.StatusOK || !strings.HasPrefix(typ, tc.typ) || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %q %.80q; want 200, %s, with %q", tc.path, code, typ, body, tc.typ, tc.want)
		}
	}
	if code, _, body := serve(t, app, http.MethodHead, "/"); code != http.StatusOK || body != "" {
		t.Errorf("HEAD /: %d %.80q, want 200 and no body", code, body)
	}
	for _, path := range []string{"/index", "/no-such-page", "/static/missing.js", "/assets/missing.mjs", "/api/nothing", "/campaign/alpha"} {
		if code, _, _ := serve(t, app, http.MethodGet, path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if code, _, _ := serve(t, app, method, "/"); code != http.StatusMethodNotAllowed {
			t.Errorf("%s /: %d, want 405", method, code)
		}
	}
}

// The phoenix.js client is the one built into the binary, or Config.AssetsDir's.
func TestPageClient(t *testing.T) {
	app, _ := newTestApp(t, Config{})
	code, typ, body := serve(t, app, http.MethodGet, "/assets/phoenix.mjs")
	if code != http.StatusOK || !strings.HasPrefix(typ, "text/javascript") || !strings.Contains(body, "Presence") {
		t.Errorf("built-in client: GET /assets/phoenix.mjs %d %q %.80q; want 200 and phoenix.js", code, typ, body)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, clientFile), []byte("export const marker = 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other, _ := newTestApp(t, Config{AssetsDir: dir})
	if code, _, body := serve(t, other, http.MethodGet, "/assets/phoenix.mjs"); code != http.StatusOK || !strings.Contains(body, "marker") {
		t.Errorf("AssetsDir: GET /assets/phoenix.mjs %d %.80q, want 200 with the directory's file", code, body)
	}
}
