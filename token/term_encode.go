package token

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// encodeTerm returns the external term format of v, version byte included,
// byte for byte as Erlang's term_to_binary/1 writes the same term (for
// atoms, as OTP 26 and later write them; see appendAtom). Go values map to
// terms as follows:
//
//	string, []byte, other string and byte-slice kinds   binary
//	signed and unsigned integer kinds, *big.Int         integer
//	float32, float64 (finite)                           float
//	true, false, nil                                    true, false, nil
//	Atom                                                atom
//	Tuple                                               tuple
//	[]any and any other slice or array                  list
//	maps keyed by numbers, atoms or binaries            map
//
// Anything else (structs, pointers other than *big.Int, channels, funcs,
// NaN and infinities) is an error wrapping errTerm, as is nesting deeper
// than maxTermDepth. Map entries are written in Erlang's term order of
// their keys, which is what term_to_binary does for maps of up to 32 keys
// with non-atom keys and what its deterministic option does always.
func encodeTerm(v any) ([]byte, error) {
	b := make([]byte, 1, 64) // room for a typical small payload
	b[0] = etfVersion
	return appendTerm(b, v, 0)
}

// appendTerm appends the encoding of v, which sits inside depth
// containers, to b.
func appendTerm(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return appendAtom(b, "nil")
	case bool:
		if v {
			return appendAtom(b, "true")
		}
		return appendAtom(b, "false")
	case Atom:
		return appendAtom(b, string(v))
	case string:
		return appendBinary(b, v)
	case []byte:
		return appendBinary(b, v)
	case int:
		return appendInt(b, int64(v)), nil
	case int64:
		return appendInt(b, v), nil
	case int32:
		return appendInt(b, int64(v)), nil
	case uint64:
		return appendUint(b, v), nil
	case *big.Int:
		if v == nil {
			return nil, termErr("nil *big.Int")
		}
		return appendBig(b, v), nil
	case float64:
		return appendFloat(b, v)
	case Tuple:
		return appendTuple(b, v, depth)
	case []any:
		return appendList(b, len(v), func(i int) any { return v[i] }, depth)
	case map[string]any:
		return appendStringMap(b, v, depth)
	}
	return appendReflect(b, reflect.ValueOf(v), depth)
}

// appendReflect handles the kinds appendTerm has no fast path for.
func appendReflect(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return appendTerm(b, rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(b, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return appendUint(b, rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return appendFloat(b, rv.Float())
	case reflect.String:
		return appendBinary(b, rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.Kind() == reflect.Slice {
				return appendBinary(b, rv.Bytes())
			}
			p := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(p), rv)
			return appendBinary(b, p)
		}
		return appendList(b, rv.Len(), func(i int) any { return rv.Index(i).Interface() }, depth)
	case reflect.Map:
		return appendMap(b, rv, depth)
	}
	if !rv.IsValid() {
		return appendAtom(b, "nil")
	}
	return nil, termErr(fmt.Sprintf("cannot encode Go type %s", rv.Type()))
}

// appendAtom writes name as SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT when it
// is longer than 255 bytes. OTP 26 and later write every atom this way;
// older releases wrote ASCII atoms as ATOM_EXT, which decodes the same.
func appendAtom(b []byte, name string) ([]byte, error) {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxAtomChars {
		return nil, termErr("atom is not valid UTF-8 of at most 255 characters")
	}
	if len(name) <= math.MaxUint8 {
		b = append(b, tagSmallAtomU8, byte(len(name)))
	} else {
		b = append(b, tagAtomUTF8)
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	}
	return append(b, name...), nil
}

// appendBinary writes s as BINARY_EXT.
func appendBinary[S string | []byte](b []byte, s S) ([]byte, error) {
	if uint64(len(s)) > math.MaxUint32 {
		return nil, termErr("binary longer than 4 GiB")
	}
	b = append(b, tagBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...), nil
}

// appendInt writes i in the smallest encoding term_to_binary uses:
// SMALL_INTEGER_EXT for 0..255, INTEGER_EXT for the rest of the int32
// range, SMALL_BIG_EXT beyond.
func appendInt(b []byte, i int64) []byte {
	switch {
	case 0 <= i && i <= math.MaxUint8:
		return append(b, tagSmallInt, byte(i))
	case math.MinInt32 <= i && i <= math.MaxInt32:
		b = append(b, tagInteger)
		return binary.BigEndian.AppendUint32(b, uint32(int32(i)))
	case i < 0:
		return appendMagnitude(b, 1, uint64(-i)) // -MinInt64 wraps to 1<<63, its magnitude
	default:
		return appendMagnitude(b, 0, uint64(i))
	}
}

// appendUint is appendInt for values that may exceed math.MaxInt64.
func appendUint(b []byte, u uint64) []byte {
	if u <= math.MaxInt64 {
		return appendInt(b, int64(u))
	}
	return appendMagnitude(b, 0, u)
}

// appendMagnitude writes SMALL_BIG_EXT with the given sign byte and a
// magnitude of at most 8 bytes, without leading zero bytes.
func appendMagnitude(b []byte, sign byte, mag uint64) []byte {
	n := (bits.Len64(mag) + 7) / 8
	b = append(b, tagSmallBig, byte(n), sign)
	for range n {
		b = append(b, byte(mag))
		mag >>= 8
	}
	return b
}

// appendBig writes x, as appendInt would if it fits in an int64 and as
// SMALL_BIG_EXT or LARGE_BIG_EXT otherwise.
func appendBig(b []byte, x *big.Int) []byte {
	if x.IsInt64() {
		return appendInt(b, x.Int64())
	}
	mag := x.Bytes() // big-endian magnitude, no leading zeros
	slices.Reverse(mag)
	if len(mag) <= math.MaxUint8 {
		b = append(b, tagSmallBig, byte(len(mag)))
	} else {
		b = append(b, tagLargeBig)
		b = binary.BigEndian.AppendUint32(b, uint32(len(mag)))
	}
	sign := byte(0)
	if x.Sign() < 0 {
		sign = 1
	}
	b = append(b, sign)
	return append(b, mag...)
}

// appendFloat writes f as NEW_FLOAT_EXT. Erlang has no NaN or infinities.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, termErr("float is not finite")
	}
	b = append(b, tagNewFloat)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

// appendTuple writes t as SMALL_TUPLE_EXT or LARGE_TUPLE_EXT.
func appendTuple(b []byte, t Tuple, depth int) ([]byte, error) {
	if depth >= maxTermDepth {
		return nil, termErr("nested too deeply")
	}
	if len(t) <= math.MaxUint8 {
		b = append(b, tagSmallTuple, byte(len(t)))
	} else {
		b = append(b, tagLargeTuple)
		b = binary.BigEndian.AppendUint32(b, uint32(len(t)))
	}
	var err error
	for _, e := range t {
		if b, err = appendTerm(b, e, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// appendList writes the n elements returned by at as a list: NIL_EXT when
// empty, STRING_EXT when every element is an integer 0..255 and there are
// at most 65535 of them (as term_to_binary does), LIST_EXT otherwise.
func appendList(b []byte, n int, at func(int) any, depth int) ([]byte, error) {
	if n == 0 {
		return append(b, tagNil), nil
	}
	if depth >= maxTermDepth {
		return nil, termErr("nested too deeply")
	}
	if n <= maxStringExt {
		chars := make([]byte, n)
		ok := true
		for i := range n {
			if chars[i], ok = smallInt(at(i)); !ok {
				break
			}
		}
		if ok {
			b = append(b, tagString)
			b = binary.BigEndian.AppendUint16(b, uint16(n))
			return append(b, chars...), nil
		}
	}
	if uint64(n) > math.MaxUint32 {
		return nil, termErr("list longer than 2^32-1 elements")
	}
	b = append(b, tagList)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	var err error
	for i := range n {
		if b, err = appendTerm(b, at(i), depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, tagNil), nil
}

// smallInt reports whether v is an integer in 0..255, and which.
func smallInt(v any) (byte, bool) {
	switch v := v.(type) {
	case *big.Int:
		if v != nil && v.IsUint64() && v.Uint64() <= math.MaxUint8 {
			return byte(v.Uint64()), true
		}
		return 0, false
	case bool, Atom, string, float64, nil:
		return 0, false // the common non-integers, without reflection
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i := rv.Int(); 0 <= i && i <= math.MaxUint8 {
			return byte(i), true
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxUint8 {
			return byte(u), true
		}
	}
	return 0, false
}

// appendStringMap is the fast path for the most common map: binary keys,
// which Erlang orders byte by byte, shorter first on a common prefix, as
// Go orders strings.
func appendStringMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	if depth >= maxTermDepth {
		return nil, termErr("nested too deeply")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, tagMap)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	var err error
	for _, k := range keys {
		if b, err = appendBinary(b, k); err != nil {
			return nil, err
		}
		if b, err = appendTerm(b, m[k], depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// mapEntry is one encoded key, what it sorts by, and its value.
type mapEntry struct {
	key   []byte // the key's encoding
	class int    // 0 number, 1 atom, 2 binary: Erlang's order of types
	num   any    // int64, *big.Int or float64 when class is 0
	text  string // atom name or binary bytes otherwise
	value any
}

// appendMap writes any other Go map, sorting the entries by key in
// Erlang's term order. Keys must encode to numbers, atoms or binaries.
func appendMap(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	if depth >= maxTermDepth {
		return nil, termErr("nested too deeply")
	}
	entries := make([]mapEntry, 0, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		e, err := newMapEntry(it.Key().Interface(), depth)
		if err != nil {
			return nil, err
		}
		e.value = it.Value().Interface()
		entries = append(entries, e)
	}
	slices.SortFunc(entries, compareEntries)
	for i := 1; i < len(entries); i++ {
		// Distinct Go keys can be one Erlang term, such as int(1) and
		// int64(1) in a map[any]any.
		if compareEntries(entries[i-1], entries[i]) == 0 {
			return nil, termErr("two map keys encode to the same term")
		}
	}
	if uint64(len(entries)) > math.MaxUint32 {
		return nil, termErr("map larger than 2^32-1 entries")
	}
	b = append(b, tagMap)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	var err error
	for _, e := range entries {
		b = append(b, e.key...)
		if b, err = appendTerm(b, e.value, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// newMapEntry encodes k and classifies the result by decoding it again.
func newMapEntry(k any, depth int) (mapEntry, error) {
	kb, err := appendTerm(nil, k, depth+1)
	if err != nil {
		return mapEntry{}, err
	}
	d := decoder{b: kb}
	v, err := d.term(0)
	if err != nil {
		return mapEntry{}, err
	}
	e := mapEntry{key: kb}
	switch v := v.(type) {
	case int64, *big.Int, float64:
		e.class, e.num = 0, v
	case Atom, bool, nil:
		e.class, e.text = 1, string(atomName(v))
	case string:
		e.class, e.text = 2, v
	default:
		return mapEntry{}, termErr("map keys must be numbers, atoms or binaries")
	}
	return e, nil
}

// compareEntries orders keys as Erlang orders map keys: numbers before
// atoms before binaries; numbers by value, an integer before an equal
// float; atoms by name and binaries by bytes.
func compareEntries(a, b mapEntry) int {
	if a.class != b.class {
		return a.class - b.class
	}
	if a.class != 0 {
		return strings.Compare(a.text, b.text)
	}
	if c := toBigFloat(a.num).Cmp(toBigFloat(b.num)); c != 0 {
		return c
	}
	_, af := a.num.(float64)
	_, bf := b.num.(float64)
	switch {
	case af == bf:
		return 0
	case bf:
		return -1
	default:
		return 1
	}
}

// toBigFloat converts a decoded number exactly.
func toBigFloat(n any) *big.Float {
	switch n := n.(type) {
	case int64:
		return new(big.Float).SetInt64(n)
	case *big.Int:
		return new(big.Float).SetInt(n)
	default:
		return big.NewFloat(n.(float64))
	}
}
