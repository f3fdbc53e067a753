package presence

import (
	"slices"
	"strings"

	"github.com/pyrehq/pyre/protocol"
)

// meta is a presence's Meta as the tracker holds it: its phx_ref apart and
// its other keys in a slice sorted by key. A Go map costs about 300 bytes
// however few keys it holds, and most presences carry two or three; the
// slice costs 32 bytes a key. A Meta is built from it only where one is
// handed out (List, Get, a fetch function, a diff, replication), and it is
// encoded directly into the same JSON the Meta would give.
type meta struct {
	ref string // phx_ref when it is a non-empty string; "" otherwise, and then any phx_ref is in kvs
	kvs []kv   // every other key, sorted; never modified once stored
}

type kv struct {
	k string
	v any
}

// Ref is the meta's phx_ref, as Meta.Ref gives it.
func (m meta) Ref() string { return m.ref }

// withRef makes the meta the tracker stores for a track or an update: the
// caller's keys, copied, with ref as phx_ref and prev (when not empty) as
// phx_ref_prev in place of any the caller set.
func withRef(src Meta, ref, prev string) meta {
	n := len(src)
	if prev != "" {
		n++
	}
	m := meta{ref: ref}
	if n == 0 {
		return m
	}
	m.kvs = copyKVs(src, n, func(k string) bool { return k == RefKey || k == RefPrevKey })
	if prev != "" {
		m.kvs = append(m.kvs, kv{RefPrevKey, prev})
	}
	sortKVs(m.kvs)
	return m
}

// compact makes the meta that holds src as it is, keys and values: a
// replicated meta, which is stored as its owner sent it.
func compact(src Meta) meta {
	var m meta
	if ref, ok := src[RefKey].(string); ok && ref != "" {
		m.ref = ref
	}
	n := len(src)
	if m.ref != "" {
		n--
	}
	if n == 0 {
		return m
	}
	m.kvs = copyKVs(src, n, func(k string) bool { return k == RefKey && m.ref != "" })
	sortKVs(m.kvs)
	return m
}

// copyKVs copies src's keys but those skip names into a slice with room
// for n, unsorted.
func copyKVs(src Meta, n int, skip func(string) bool) []kv {
	kvs := make([]kv, 0, n)
	for k, v := range src {
		if !skip(k) {
			kvs = append(kvs, kv{k, v})
		}
	}
	return kvs
}

func sortKVs(kvs []kv) {
	slices.SortFunc(kvs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
}

// Meta builds the Meta the meta stands for, a new map on each call.
func (m *meta) Meta() Meta {
	out := make(Meta, len(m.kvs)+1)
	for _, e := range m.kvs {
		out[e.k] = e.v
	}
	if m.ref != "" {
		out[RefKey] = m.ref
	}
	return out
}

// appendJSON appends what m.Meta().AppendJSON would: an object with sorted
// keys, phx_ref in its place among them.
func (m *meta) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	ref := m.ref != ""
	first := true
	var err error
	for _, e := range m.kvs {
		if ref && RefKey < e.k {
			dst = appendRef(dst, m.ref, first)
			ref, first = false, false
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = protocol.AppendString(dst, e.k)
		dst = append(dst, ':')
		if dst, err = appendValue(dst, e.v); err != nil {
			return nil, err
		}
	}
	if ref {
		dst = appendRef(dst, m.ref, first)
	}
	return append(dst, '}'), nil
}

func appendRef(dst []byte, ref string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, `"`+RefKey+`":`...)
	return protocol.AppendString(dst, ref)
}

// metasOf builds the Metas of a key's metas.
func metasOf(ms []meta) []Meta {
	out := make([]Meta, len(ms))
	for i := range ms {
		out[i] = ms[i].Meta()
	}
	return out
}

// appendEntry appends what Entry{Metas: metasOf(ms)}.AppendJSON would.
func appendEntry(dst []byte, ms []meta) ([]byte, error) {
	dst = append(dst, `{"metas":[`...)
	var err error
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = ms[i].appendJSON(dst); err != nil {
			return nil, err
		}
	}
	return append(dst, "]}"...), nil
}
