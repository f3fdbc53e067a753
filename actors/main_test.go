package actors_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/pyrehq/pyre/actors"
)

// TestMain checks, once every test has shut its server down, that no
// channel birth was left behind (see actors.Spawn): joins, refusals,
// crashes, restarts and stops all pick up or drop what they leave there.
func TestMain(m *testing.M) {
	code := m.Run()
	if n := actors.PendingBirths(); code == 0 && n != 0 {
		fmt.Fprintf(os.Stderr, "%d channel births left behind\n", n)
		code = 1
	}
	os.Exit(code)
}
