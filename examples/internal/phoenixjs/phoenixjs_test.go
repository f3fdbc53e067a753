package phoenixjs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// root is the repository root, seen from this package's directory.
const root = "../../.."

// The committed client is the one package-lock.json pins, byte for byte.
func TestMatchesNPM(t *testing.T) {
	lock, err := os.ReadFile(filepath.Join(root, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		t.Fatal(err)
	}
	if got := l.Packages["node_modules/phoenix"].Version; got != Version {
		t.Errorf("package-lock.json pins phoenix %q, the committed client is %q", got, Version)
	}
	npm := filepath.Join(root, "node_modules", "phoenix")
	if _, err := os.Stat(npm); err != nil {
		t.Skip("no node_modules/phoenix (npm ci puts it there); make vet compares the files too")
	}
	for name, src := range map[string]string{
		"phoenix.mjs":     "priv/static/phoenix.mjs",
		"phoenix.mjs.map": "priv/static/phoenix.mjs.map",
		"LICENSE.md":      "LICENSE.md",
	} {
		want, err := os.ReadFile(filepath.Join(npm, src))
		if err != nil {
			t.Fatal(err)
		}
		got, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from node_modules/phoenix/%s: copy it again after changing package-lock.json", name, src)
		}
	}
}
