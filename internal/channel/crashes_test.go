package channel

import (
	"slices"
	"testing"
)

func TestCrashLogKeepsTheLastNewestFirst(t *testing.T) {
	topics := func(rs []CrashRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Topic)
		}
		return out
	}
	for _, tc := range []struct {
		size  int
		add   []string
		want  []string
		total uint64
	}{
		{size: 3, add: nil, want: nil, total: 0},
		{size: 3, add: []string{"a", "b"}, want: []string{"b", "a"}, total: 2},
		{size: 3, add: []string{"a", "b", "c"}, want: []string{"c", "b", "a"}, total: 3},
		{size: 3, add: []string{"a", "b", "c", "d", "e"}, want: []string{"e", "d", "c"}, total: 5},
		{size: 3, add: []string{"a", "b", "c", "d", "e", "f", "g"}, want: []string{"g", "f", "e"}, total: 7},
		{size: 0, add: []string{"a", "b"}, want: []string{"b"}, total: 2},
	} {
		l := NewCrashLog(tc.size)
		for _, topic := range tc.add {
			l.Add(CrashRecord{Topic: topic})
		}
		got, total := l.Last()
		if !slices.Equal(topics(got), tc.want) || total != tc.total {
			t.Errorf("size %d after %v: got %v (total %d), want %v (total %d)", tc.size, tc.add, topics(got), total, tc.want, tc.total)
		}
	}
	var none *CrashLog
	none.Add(CrashRecord{Topic: "x"})
	if got, total := none.Last(); got != nil || total != 0 {
		t.Errorf("a nil log: got %v, %d", got, total)
	}
}
