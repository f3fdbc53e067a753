package testutil

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/pyrehq/pyre"

// TestImportRules checks, over every non-test Go file of the module, the
// rules that keep the test helpers out of what ships:
//
//   - only internal/testutil and the packages below it import them;
//   - testutil itself imports no pyre package (the internal tests of any
//     package may import it without a cycle);
//   - the library (everything but examples/, cmd/ and the test helpers)
//     imports nothing from examples/.
func TestImportRules(t *testing.T) {
	root := moduleRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		helpers := dir == "internal/testutil" || strings.HasPrefix(dir, "internal/testutil/")
		app := strings.HasPrefix(dir, "examples/") || dir == "examples" || strings.HasPrefix(dir, "cmd/")
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			switch {
			case imp == module+"/internal/testutil" || strings.HasPrefix(imp, module+"/internal/testutil/"):
				if !helpers {
					t.Errorf("%s imports %s: only tests may", rel, imp)
				}
			case strings.HasPrefix(imp, module+"/examples/"):
				if !app && !helpers {
					t.Errorf("%s imports %s: the library must not depend on the examples", rel, imp)
				}
			}
			if dir == "internal/testutil" && strings.HasPrefix(imp, module+"/") {
				t.Errorf("%s imports %s: testutil must not import pyre's packages", rel, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files under %s: is that the module?", checked, root)
	}
}

// moduleRoot is the directory of the go.mod above this package.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module "+module+"\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of " + module + " above the test's directory")
		}
		dir = parent
	}
}
