package client

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// st parses a presence state written as JSON.
func st(t testing.TB, s string) PresenceState {
	t.Helper()
	var out PresenceState
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// recorder is a Presence with no channel whose callbacks note what they
// were told.
func recorder(t testing.TB, initial string) (*Presence, *[]string) {
	p := &Presence{state: st(t, initial)}
	var calls []string
	p.OnJoin(func(key string, cur, joined *Entry) {
		calls = append(calls, fmt.Sprintf("join %s cur=%s new=%s", key, js(cur), js(joined)))
	})
	p.OnLeave(func(key string, cur, left *Entry) {
		calls = append(calls, fmt.Sprintf("leave %s cur=%s left=%s", key, js(cur), js(left)))
	})
	p.OnSync(func() { calls = append(calls, "sync") })
	return p, &calls
}

// The cases phoenix.js's own presence tests check, for syncState.
func TestSyncState(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		calls          []string
	}{
		{"from empty", `{}`, `{"u1":{"metas":[{"id":1,"phx_ref":"1"}]}}`, []string{
			`join u1 cur=null new={"metas":[{"id":1,"phx_ref":"1"}]}`, "sync"}},
		{"joins and leaves", `{"u4":{"metas":[{"id":4,"phx_ref":"4"}]}}`,
			`{"u1":{"metas":[{"id":1,"phx_ref":"1"}]},"u2":{"metas":[{"id":2,"phx_ref":"2"}]}}`, []string{
				`join u1 cur=null new={"metas":[{"id":1,"phx_ref":"1"}]}`,
				`join u2 cur=null new={"metas":[{"id":2,"phx_ref":"2"}]}`,
				`leave u4 cur={"metas":[]} left={"metas":[{"id":4,"phx_ref":"4"}]}`, "sync"}},
		{"only new metas join", `{"u3":{"metas":[{"id":3,"phx_ref":"3"}]}}`,
			`{"u3":{"metas":[{"id":3,"phx_ref":"3"},{"id":3,"phx_ref":"3.new"}]}}`, []string{
				`join u3 cur={"metas":[{"id":3,"phx_ref":"3"}]} new={"metas":[{"id":3,"phx_ref":"3.new"}]}`, "sync"}},
		{"same state, no change", `{"u1":{"metas":[{"id":1,"phx_ref":"1"}]}}`, `{"u1":{"metas":[{"id":1,"phx_ref":"1"}]}}`, []string{"sync"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, calls := recorder(t, tc.from)
			p.syncState(st(t, tc.to))
			if !slices.Equal(*calls, tc.calls) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(*calls, "\n"), strings.Join(tc.calls, "\n"))
			}
			if got, want := js(p.List()), js(st(t, tc.to)); got != want {
				t.Errorf("state %s, want %s", got, want)
			}
		})
	}
}

// The cases phoenix.js's own presence tests check, for syncDiff.
func TestSyncDiff(t *testing.T) {
	for _, tc := range []struct {
		name, from, diff, want string
	}{
		{"from empty", `{}`, `{"joins":{"u1":{"metas":[{"id":1,"phx_ref":"1"}]}},"leaves":{}}`,
			`{"u1":{"metas":[{"id":1,"phx_ref":"1"}]}}`},
		{"a key without metas goes, another gains one",
			`{"u1":{"metas":[{"id":1,"phx_ref":"1"}]},"u2":{"metas":[{"id":2,"phx_ref":"2"}]}}`,
			`{"joins":{"u1":{"metas":[{"id":1,"phx_ref":"1.2"}]}},"leaves":{"u2":{"metas":[{"id":2,"phx_ref":"2"}]}}}`,
			`{"u1":{"metas":[{"id":1,"phx_ref":"1"},{"id":1,"phx_ref":"1.2"}]}}`},
		{"a meta leaves, the key stays",
			`{"u1":{"metas":[{"id":1,"phx_ref":"1"},{"id":1,"phx_ref":"1.2"}]}}`,
			`{"joins":{},"leaves":{"u1":{"metas":[{"id":1,"phx_ref":"1"}]}}}`,
			`{"u1":{"metas":[{"id":1,"phx_ref":"1.2"}]}}`},
		{"an update: join and leave of one key",
			`{"u1":{"metas":[{"typing":false,"phx_ref":"1"}]}}`,
			`{"joins":{"u1":{"metas":[{"typing":true,"phx_ref":"2","phx_ref_prev":"1"}]}},"leaves":{"u1":{"metas":[{"typing":false,"phx_ref":"1"}]}}}`,
			`{"u1":{"metas":[{"phx_ref":"2","phx_ref_prev":"1","typing":true}]}}`},
		{"a leave of an unknown key is ignored", `{}`, `{"joins":{},"leaves":{"u9":{"metas":[{"phx_ref":"9"}]}}}`, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := recorder(t, tc.from)
			var d PresenceDiff
			if err := json.Unmarshal([]byte(tc.diff), &d); err != nil {
				t.Fatal(err)
			}
			p.syncDiff(d)
			if got := js(p.List()); got != tc.want {
				t.Errorf("state %s, want %s", got, tc.want)
			}
		})
	}
}

// Diffs that come before the state of the current join wait for it.
func TestPendingDiffs(t *testing.T) {
	p, calls := recorder(t, `{}`)
	// As NewPresence's handlers do, with the join mark first.
	p.synced = false
	diff := PresenceDiff{Joins: st(t, `{"u2":{"metas":[{"phx_ref":"2"}]}}`), Leaves: PresenceState{}}
	p.pending = append(p.pending, diff)
	if len(p.List()) != 0 || len(*calls) != 0 {
		t.Fatalf("a pending diff was applied: %s %q", js(p.List()), *calls)
	}
	p.syncState(st(t, `{"u1":{"metas":[{"phx_ref":"1"}]}}`))
	if got := js(p.List()); got != `{"u1":{"metas":[{"phx_ref":"1"}]},"u2":{"metas":[{"phx_ref":"2"}]}}` {
		t.Errorf("state after the state and its pending diff: %s", got)
	}
	if n := len(*calls); n != 3 || (*calls)[2] != "sync" {
		t.Errorf("calls %q, want two joins and one sync", *calls)
	}
}
