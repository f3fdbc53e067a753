package token

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"math"
	"math/big"
	"unicode/utf8"
)

// decodeTerm parses b, a complete term_to_binary result (version byte
// included, optionally compressed), into Go values:
//
//	binary                    string (the bytes as they are, UTF-8 or not)
//	integer                   int64, or *big.Int when it does not fit
//	float                     float64
//	true, false, nil          true, false, nil
//	any other atom            Atom
//	list (including charlist) []any, never nil
//	tuple                     Tuple
//	map                       map[string]any if every key is a binary,
//	                          map[Atom]any if every key is an atom (true,
//	                          false and nil stay Atom there), otherwise
//	                          map[any]any with keys of the types above
//
// Anything else (pids, references, funs, improper lists, bit strings, map
// keys that are lists, tuples, maps or big integers), a map with a
// duplicate key, a non-finite float, bytes after the term or nesting deeper
// than maxTermDepth is an error wrapping errTerm. decodeTerm never panics
// and allocates at most a small multiple of len(b) (plus maxUncompressed
// for a compressed term).
func decodeTerm(b []byte) (any, error) {
	if len(b) == 0 || b[0] != etfVersion {
		return nil, termErr("missing version byte")
	}
	body := b[1:]
	if len(body) > 0 && body[0] == tagCompressed {
		var err error
		if body, err = inflateTerm(body[1:]); err != nil {
			return nil, err
		}
	}
	d := decoder{b: body}
	v, err := d.term(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(d.b) {
		return nil, termErr("bytes after the term")
	}
	return v, nil
}

// inflateTerm unpacks the body of a COMPRESSED_EXT: a big-endian u32
// uncompressed size followed by a zlib stream that must inflate to exactly
// that many bytes, with nothing after it.
func inflateTerm(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, termErr("truncated compressed term")
	}
	size := binary.BigEndian.Uint32(b)
	if size > maxUncompressed {
		return nil, termErr("compressed term too large")
	}
	src := bytes.NewReader(b[4:])
	zr, err := zlib.NewReader(src)
	if err != nil {
		return nil, termErr("bad zlib header")
	}
	out := bytes.NewBuffer(make([]byte, 0, size))
	// Reading one byte past the declared size tells a stream that is too
	// long from one that is exactly right; reading to EOF makes the zlib
	// reader check the Adler-32 trailer.
	n, err := io.Copy(out, io.LimitReader(zr, int64(size)+1))
	if err != nil || n != int64(size) {
		return nil, termErr("compressed term does not inflate to its declared size")
	}
	// bytes.Reader is an io.ByteReader, so the inflater consumed exactly
	// the stream and its trailer; whatever is left was appended to it.
	if src.Len() != 0 {
		return nil, termErr("bytes after the compressed term")
	}
	return out.Bytes(), nil
}

// decoder reads one term at a time from b, starting at off.
type decoder struct {
	b   []byte
	off int
}

// take returns the next n bytes and advances past them.
func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)-d.off) {
		return nil, termErr("truncated term")
	}
	p := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return p, nil
}

// left is the number of unread bytes.
func (d *decoder) left() uint64 { return uint64(len(d.b) - d.off) }

func (d *decoder) u8() (uint64, error) {
	p, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return uint64(p[0]), nil
}

func (d *decoder) u16() (uint64, error) {
	p, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint16(p)), nil
}

func (d *decoder) u32() (uint64, error) {
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint32(p)), nil
}

// term decodes the term at the current offset; depth is the number of
// containers it is nested in.
func (d *decoder) term(depth int) (any, error) {
	tag, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagSmallInt:
		v, err := d.u8()
		return int64(v), err
	case tagInteger:
		v, err := d.u32()
		return int64(int32(uint32(v))), err
	case tagSmallBig:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.bigInt(n)
	case tagLargeBig:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.bigInt(n)
	case tagNewFloat:
		p, err := d.take(8)
		if err != nil {
			return nil, err
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(p))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, termErr("non-finite float")
		}
		return f, nil
	case tagAtom, tagAtomUTF8:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		return d.atom(n, tag == tagAtomUTF8)
	case tagSmallAtom, tagSmallAtomU8:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.atom(n, tag == tagSmallAtomU8)
	case tagBinary:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		p, err := d.take(n)
		return string(p), err
	case tagNil:
		return []any{}, nil
	case tagString:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		p, err := d.take(n)
		if err != nil {
			return nil, err
		}
		l := make([]any, len(p))
		for i, c := range p {
			l[i] = int64(c)
		}
		return l, nil
	case tagList:
		return d.list(depth)
	case tagSmallTuple:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.tuple(n, depth)
	case tagLargeTuple:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.tuple(n, depth)
	case tagMap:
		return d.mapTerm(depth)
	default:
		return nil, termErr("unsupported tag")
	}
}

// bigInt reads the sign byte and n little-endian magnitude bytes of a
// SMALL_BIG_EXT or LARGE_BIG_EXT. Values that fit come back as int64.
func (d *decoder) bigInt(n uint64) (any, error) {
	sign, err := d.u8()
	if err != nil {
		return nil, err
	}
	if sign > 1 {
		return nil, termErr("bad bignum sign")
	}
	mag, err := d.take(n)
	if err != nil {
		return nil, err
	}
	// Trailing (most significant) zero bytes do not change the value.
	for len(mag) > 0 && mag[len(mag)-1] == 0 {
		mag = mag[:len(mag)-1]
	}
	if len(mag) <= 8 {
		var u uint64
		for i := len(mag) - 1; i >= 0; i-- {
			u = u<<8 | uint64(mag[i])
		}
		switch {
		case sign == 0 && u <= math.MaxInt64:
			return int64(u), nil
		case sign == 1 && u <= 1<<63:
			return int64(-u), nil // -(1<<63) wraps to itself, which is MinInt64
		}
	}
	be := make([]byte, len(mag))
	for i, c := range mag {
		be[len(mag)-1-i] = c
	}
	x := new(big.Int).SetBytes(be)
	if sign == 1 {
		x.Neg(x)
	}
	return x, nil
}

// atom reads an n-byte atom name, Latin-1 unless utf8 is set, and maps
// true, false and nil to their Go values.
func (d *decoder) atom(n uint64, isUTF8 bool) (any, error) {
	p, err := d.take(n)
	if err != nil {
		return nil, err
	}
	var name string
	if isUTF8 {
		if !utf8.Valid(p) || utf8.RuneCount(p) > maxAtomChars {
			return nil, termErr("bad atom")
		}
		name = string(p)
	} else {
		if len(p) > maxAtomChars {
			return nil, termErr("bad atom")
		}
		r := make([]rune, len(p))
		for i, c := range p {
			r[i] = rune(c) // Latin-1 maps byte for byte onto U+0000..U+00FF
		}
		name = string(r)
	}
	switch name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "nil":
		return nil, nil
	}
	return Atom(name), nil
}

// list reads a LIST_EXT after its tag. Only proper lists (tail []) are
// supported.
func (d *decoder) list(depth int) (any, error) {
	if depth >= maxTermDepth {
		return nil, termErr("nested too deeply")
	}
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	// Every element takes at least one byte, and the tail one more.
	if n >= d.left() {
		return nil, termErr("truncated list")
	}
	l := make([]any, n)
	for i := range l {
		if l[i], err = d.term(depth + 1); err != nil {
			return nil, err
		}
	}
	tail, err := d.u8()
	if err != nil {
		return nil, err
	}
	if tail != tagNil {
		return nil, termErr("improper list")
	}
	return l, nil
}

// tuple reads the n elements of a tuple whose tag and arity were read.
func (d *decoder) tuple(n uint64, depth int) (any, error) {
	if depth >= maxTermDepth {
		return nil, termErr("nested too deeply")
	}
	if n > d.left() {
		return nil, termErr("truncated tuple")
	}
	t := make(Tuple, n)
	var err error
	for i := range t {
		if t[i], err = d.term(depth + 1); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// mapTerm reads a MAP_EXT after its tag and picks the Go map type from
// the kinds of its keys (see decodeTerm).
func (d *decoder) mapTerm(depth int) (any, error) {
	if depth >= maxTermDepth {
		return nil, termErr("nested too deeply")
	}
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	// Every key and every value takes at least one byte.
	if n > d.left()/2 {
		return nil, termErr("truncated map")
	}
	keys := make([]any, n)
	vals := make([]any, n)
	allBinary, allAtom := true, true
	for i := range keys {
		if keys[i], err = d.term(depth + 1); err != nil {
			return nil, err
		}
		if vals[i], err = d.term(depth + 1); err != nil {
			return nil, err
		}
		switch keys[i].(type) {
		case string:
			allAtom = false
		case Atom, bool, nil:
			allBinary = false
		case int64, float64:
			allBinary, allAtom = false, false
		default:
			// A list, tuple, map or big integer: valid Erlang, but not
			// a usable (comparable by value) Go map key.
			return nil, termErr("unsupported map key")
		}
	}

	switch {
	case allBinary: // also the empty map
		m := make(map[string]any, n)
		for i, k := range keys {
			m[k.(string)] = vals[i]
		}
		if uint64(len(m)) != n {
			return nil, termErr("duplicate map key")
		}
		return m, nil
	case allAtom:
		m := make(map[Atom]any, n)
		for i, k := range keys {
			m[atomName(k)] = vals[i]
		}
		if uint64(len(m)) != n {
			return nil, termErr("duplicate map key")
		}
		return m, nil
	default:
		m := make(map[any]any, n)
		for i, k := range keys {
			m[k] = vals[i]
		}
		// Also catches 0.0 and -0.0, which Erlang keeps apart and Go
		// does not.
		if uint64(len(m)) != n {
			return nil, termErr("duplicate map key")
		}
		return m, nil
	}
}

// atomName turns a decoded atom (Atom, bool or nil) back into its name.
func atomName(v any) Atom {
	switch v := v.(type) {
	case bool:
		if v {
			return "true"
		}
		return "false"
	case nil:
		return "nil"
	default:
		return v.(Atom)
	}
}
