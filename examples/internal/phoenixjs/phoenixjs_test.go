package phoenixjs

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
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
		t.Fatalf("no node_modules/phoenix to compare the committed client with: run npm ci (make test does): %v", err)
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

// The embedded files are tracked by git, so that the module as the proxy
// serves it (tracked files only) carries them and go install gives a
// binary with a working page.
func TestFilesAreTracked(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to check that the client is committed: %v", err)
	}
	out, err := exec.Command(git, "ls-files", "--error-unmatch", "phoenix.mjs", "phoenix.mjs.map", "LICENSE.md").CombinedOutput()
	if err != nil {
		t.Fatalf("the embedded client is not committed: %v\n%s", err, out)
	}
}
