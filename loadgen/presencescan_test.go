package loadgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

func TestScanPresence(t *testing.T) {
	state := `{"a\"b":{"metas":[{"online_at":"1","phx_ref":"r1","nested":{"phx_ref":"no"},"l":[1,{"x":"]"}]},{"phx_ref":"r2"}],"name":"A"},` +
		` "c" : { "extra": [true, null, 1.5e3], "metas" : [ { "typing": false, "phx_ref" : "r3" } ] }, "empty":{"metas":[]}, "q\\":{"metas":[{"phx_ref":"r4"}]}}`
	if !json.Valid([]byte(state)) {
		t.Fatal("test state is not JSON")
	}
	var got []string
	end, ok := scanState([]byte(state), 0, func(k, r []byte) { got = append(got, string(k)+"="+string(r)) })
	want := []string{`a\"b=r1`, `a\"b=r2`, "c=r3", `q\\=r4`}
	if !ok || end != len(state) || !slices.Equal(got, want) {
		t.Fatalf("scanState = %v (ok %v, end %d of %d), want %v", got, ok, end, len(state), want)
	}
	diff := fmt.Sprintf(`{"joins":%s,"leaves":{"x":{"metas":[{"phx_ref":"r9"}]}}}`, state)
	var joins, leaves []string
	if !scanDiff([]byte(diff), func(k, r []byte) { joins = append(joins, string(k)+"="+string(r)) },
		func(k, r []byte) { leaves = append(leaves, string(k)+"="+string(r)) }) {
		t.Fatal("scanDiff failed")
	}
	if !slices.Equal(joins, want) || !slices.Equal(leaves, []string{"x=r9"}) {
		t.Fatalf("scanDiff: joins %v leaves %v", joins, leaves)
	}
	for _, bad := range []string{``, `{`, `{"a":`, `{"a":{"metas":[{"phx_ref":"r}]}}`, `[]`, `{"a":{"metas":[}}`} {
		if _, ok := scanState([]byte(bad), 0, func(_, _ []byte) {}); ok {
			t.Errorf("scanState(%q) accepted", bad)
		}
	}
}
