package loadgen_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/chatserver"
	"github.com/pyrehq/pyre/loadgen"
)

// TestPresence: users joining one chat room as fast as they can all end
// with the full room in view, and a late joiner gets everyone in its
// presence_state.
func TestPresence(t *testing.T) {
	testutil.CheckGoroutines(t)
	cs := chatserver.Start(t)
	const users = 120
	rep, err := loadgen.Presence(t.Context(), cs.URL, users, loadgen.WithConcurrency(40),
		loadgen.WithServerPID(os.Getpid()), loadgen.WithDrain(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != users || rep.Complete != users || rep.Wrong != 0 || rep.ConflictingRefs != 0 {
		t.Fatalf("joined %d, complete %d, wrong %d, conflicting refs %d; want %d, %d, 0, 0\n%s",
			rep.Joined, rep.Complete, rep.Wrong, rep.ConflictingRefs, users, users, rep)
	}
	if rep.State.Count != users || rep.States != users || rep.Diffs == 0 || rep.PresenceBytes == 0 {
		t.Errorf("%d state latencies, %d states, %d diffs, %d bytes; want %d, %d and some", rep.State.Count, rep.States, rep.Diffs, rep.PresenceBytes, users, users)
	}
	// The late joiner is in its own state only if the room's last window
	// had closed when it came; it sees itself at the latest then.
	if rep.LateKeys < users || rep.LateStateMs <= 0 || rep.LateCompleteMs < rep.LateStateMs {
		t.Errorf("late joiner: %d users in its state after %vms, everyone after %vms; want at least %d", rep.LateKeys, rep.LateStateMs, rep.LateCompleteMs, users)
	}
	if s := rep.String(); !strings.Contains(s, "all 120 complete") {
		t.Errorf("summary:\n%s", s)
	}
}
