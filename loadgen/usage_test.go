package loadgen

import "testing"

func TestCountCPUs(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-1": 2, "0-3,6": 5, "0,2,4-5": 4, "": 0} {
		if got := countCPUs(in); got != want {
			t.Errorf("countCPUs(%q) = %d, want %d", in, got, want)
		}
	}
	// Servers pinned to the same CPU share it; on different ones they
	// have both.
	for _, tc := range []struct {
		lists []string
		want  int
	}{{[]string{"0", "0"}, 1}, {[]string{"0", "1"}, 2}, {[]string{"0-3", "2-5,7"}, 7}, {nil, 0}} {
		if got := countCPUs(tc.lists...); got != tc.want {
			t.Errorf("countCPUs(%q) = %d, want %d", tc.lists, got, tc.want)
		}
	}
}
