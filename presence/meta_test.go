package presence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"
)

// metaKeys are the keys the random metas draw from: the two the tracker
// sets, keys that sort just before, between and after them, and the empty
// key.
var metaKeys = []string{"", "a", "online_at", "phx", "phx_ref", "phx_ref_", "phx_ref_prev", "phx_ref_prev2", "phx_reg", "typing", "z", "é"}

func randomValue(r *rand.Rand, depth int) any {
	switch r.IntN(9) {
	case 0:
		return nil
	case 1:
		return r.IntN(3) == 0
	case 2:
		return r.IntN(2000) - 1000
	case 3:
		return int64(r.Uint64())
	case 4:
		return r.Float64() * 1e6
	case 5:
		return []string{"<tag>", `"q"`, "\u2028", ""}[r.IntN(4)]
	case 6:
		if depth > 0 {
			return randomMeta(r, depth-1)
		}
		return "leaf"
	case 7:
		return []any{1, "two", nil}
	default:
		return map[string]any{"k": r.IntN(5)}
	}
}

func randomMeta(r *rand.Rand, depth int) Meta {
	if r.IntN(8) == 0 {
		return nil
	}
	m := Meta{}
	for range r.IntN(6) {
		m[metaKeys[r.IntN(len(metaKeys))]] = randomValue(r, depth)
	}
	return m
}

// oldWithRef is how the tracker made a stored meta when it kept Meta maps:
// the compact form must stand for exactly this map.
func oldWithRef(src Meta, ref, prev string) Meta {
	m := make(Meta, len(src)+2)
	maps.Copy(m, src)
	delete(m, RefPrevKey)
	m[RefKey] = ref
	if prev != "" {
		m[RefPrevKey] = prev
	}
	return m
}

func sameJSON(t *testing.T, what string, m Meta, c meta) {
	t.Helper()
	want, werr := m.AppendJSON(nil)
	got, gerr := c.appendJSON(nil)
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("%s: %s (%v), want %s (%v)", what, got, gerr, want, werr)
	}
}

// The compact meta stands for the Meta the tracker used to store: the same
// map when built, the same JSON when encoded, the same phx_ref.
func TestCompactMetaIsTheMeta(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 22))
	for i := range 5000 {
		src := randomMeta(r, 2)
		ref := fmt.Sprintf("ref%04d", i)
		prev := ""
		if r.IntN(2) == 0 {
			prev = fmt.Sprintf("prev%04d", i)
		}
		want := oldWithRef(src, ref, prev)
		c := withRef(src, ref, prev)
		if got := c.Meta(); !reflect.DeepEqual(got, want) {
			t.Fatalf("withRef(%v, %q, %q) builds %v, want %v", src, ref, prev, got, want)
		}
		if c.Ref() != ref {
			t.Fatalf("withRef ref %q, want %q", c.Ref(), ref)
		}
		sameJSON(t, fmt.Sprint("withRef ", src), want, c)

		// A replicated meta is kept as it came, whatever its phx_ref.
		switch r.IntN(4) {
		case 0:
			src = want
		case 1:
			if src != nil {
				src[RefKey] = ""
			}
		case 2:
			if src != nil {
				src[RefKey] = 7
			}
		}
		if src == nil {
			continue // a nil meta on the wire is a removal: never stored
		}
		rc := compact(src)
		if got := rc.Meta(); !reflect.DeepEqual(got, src) {
			t.Fatalf("compact(%v) builds %v", src, got)
		}
		if rc.Ref() != src.Ref() {
			t.Fatalf("compact(%v) ref %q, want %q", src, rc.Ref(), src.Ref())
		}
		sameJSON(t, fmt.Sprint("compact ", src), src, rc)
	}
}

// A key's metas encode as the Entry of their Metas does, and a value
// encoding/json refuses is an error, as it is for the Meta.
func TestCompactEntryJSON(t *testing.T) {
	ms := []meta{withRef(Meta{"a": 1}, "r1", ""), withRef(nil, "r2", "r1"), compact(Meta{"x": "<y>"})}
	for n := range len(ms) + 1 {
		want, _ := Entry{Metas: metasOf(ms[:n])}.AppendJSON(nil)
		got, err := appendEntry(nil, ms[:n])
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d metas: %s (%v), want %s", n, got, err, want)
		}
		var e Entry
		if err := json.Unmarshal(got, &e); err != nil || len(e.Metas) != n {
			t.Fatalf("%d metas: %s does not decode: %v", n, got, err)
		}
	}
	bad := withRef(Meta{"c": make(chan int)}, "r", "")
	if _, err := bad.appendJSON(nil); err == nil {
		t.Fatal("a channel value encoded")
	}
	if _, err := appendEntry(nil, []meta{bad}); err == nil {
		t.Fatal("an entry with a channel value encoded")
	}
}

// The tracker keeps its own copy of a meta: the caller's map, changed after
// Track or Update, and the maps List hands out, changed after the call,
// change nothing tracked.
func TestTrackedMetaIsTheTrackersOwn(t *testing.T) {
	tr, rec := newTracker(t)
	m := Meta{"status": "idle"}
	ref, _ := tr.Track("o", "room", "ann", m)
	m["status"] = "busy"
	m[RefKey] = "forged"
	got := tr.List("room")["ann"].Metas[0]
	if got["status"] != "idle" || got.Ref() != ref {
		t.Fatalf("tracked meta %v after the caller changed its map", got)
	}
	got["status"] = "changed by a reader"
	if again := tr.List("room")["ann"].Metas[0]; again["status"] != "idle" {
		t.Fatalf("tracked meta %v after a reader changed its copy", again)
	}
	ref2, _ := tr.Update("o", "room", "ann", Meta{"status": "away", RefPrevKey: "x"})
	want := Meta{"status": "away", RefKey: ref2, RefPrevKey: ref}
	if got := tr.List("room")["ann"].Metas[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("updated meta %v, want %v", got, want)
	}
	l, _ := tr.Listing("room")
	wantJSON, _ := State{"ann": {Metas: []Meta{want}}}.AppendJSON(nil)
	if !bytes.Equal(l.JSON, wantJSON) {
		t.Fatalf("listing %s, want %s", l.JSON, wantJSON)
	}
	d := rec.all()[1].diff
	if !reflect.DeepEqual(d.Joins["ann"].Metas, []Meta{want}) || d.Leaves["ann"].Metas[0].Ref() != ref {
		t.Fatalf("update's diff %+v", d)
	}
}

// An entry and its meta stay within the size classes the one-user room's
// figures were measured with: 64 bytes an entry, a 40-byte meta in the
// published list and in pending diffs.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 64 {
		t.Errorf("entry is %d bytes, want at most 64", n)
	}
	if n := unsafe.Sizeof(meta{}); n > 40 {
		t.Errorf("meta is %d bytes, want at most 40", n)
	}
}
