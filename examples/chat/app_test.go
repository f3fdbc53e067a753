package chat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newTestApp is the chat app on no network, shut down when the test ends.
func newTestApp(t *testing.T) *App {
	t.Helper()
	app, err := New(Config{AdminKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return app
}

// post serves one POST in process and decodes the JSON answer.
func post(t *testing.T, app *App, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("POST %s: body %q is not a JSON object: %v", path, rec.Body.String(), err)
	}
	return rec.Code, out
}

func TestLoginBodies(t *testing.T) {
	app := newTestApp(t)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"a name", `{"user":"alice"}`, http.StatusOK},
		{"not JSON", `{"user":`, http.StatusBadRequest},
		{"10 MB", `{"user":"` + strings.Repeat("a", 10<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"10 MB of spaces", `{"user":"alice"` + strings.Repeat(" ", 10<<20) + `}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := post(t, app, "/api/login", tc.body); code != tc.want {
				t.Errorf("status %d %v, want %d", code, out, tc.want)
			}
		})
	}
}

// Names with control or format characters (Unicode Cc, Cf) are refused:
// "admin\u0000" would show as admin.
func TestLoginRefusesControlAndFormatCharacters(t *testing.T) {
	app := newTestApp(t)
	for _, name := range []string{`admin\u0000`, `ad\u0007min`, `admin\u200b`, `\u202eadmin`, `a\tb`, `a\u0085b`, `bob\ufeff`} {
		code, out := post(t, app, "/api/login", `{"user":"`+name+`"}`)
		if code != http.StatusBadRequest || !strings.Contains(out["error"].(string), "control") {
			t.Errorf("login %s: %d %v, want 400 naming control characters", name, code, out)
		}
	}
	for _, name := range []string{"alice", "Zoë", "李小龙", "o'brien", "a b"} {
		if code, out := post(t, app, "/api/login", `{"user":"`+name+`"}`); code != http.StatusOK {
			t.Errorf("login %s: %d %v, want 200", name, code, out)
		}
	}
}
