package token

import "errors"

// This file holds the Go side of the Erlang external term format (ETF) that
// Phoenix tokens carry: the types a decoded term is made of, the tags and
// the limits shared by the encoder (term_encode.go) and the decoder
// (term_decode.go). Only the subset of ETF that term_to_binary produces for
// plain data is supported; pids, references, ports, funs, bit strings that
// are not whole bytes and improper lists are refused.

// Atom is an Erlang atom (an Elixir atom without its leading colon), such
// as Atom("ok") for :ok or Atom("Elixir.MyApp.User") for MyApp.User. The
// atoms true, false and nil are never represented as Atom outside map keys:
// they decode to the Go values true, false and nil, and those Go values
// encode to them.
type Atom string

// Tuple is an Erlang tuple, such as Tuple{Atom("ok"), int64(7)} for
// {:ok, 7}. A Go slice ([]any and other slice types except []byte) is an
// Erlang list instead.
type Tuple []any

// errTerm is what every encoding and decoding failure wraps. Verify maps
// decoding failures to ErrInvalid, so their reasons never reach a client;
// Sign returns encoding failures to its Go caller as they are.
var errTerm = errors.New("token: unsupported or malformed Erlang term")

// termError is errTerm with the reason a term was refused.
type termError struct{ reason string }

func (e *termError) Error() string { return "token: Erlang term: " + e.reason }
func (e *termError) Unwrap() error { return errTerm }

// termErr returns a termError for reason.
func termErr(reason string) error { return &termError{reason: reason} }

// Erlang external term format tags (the ERTS "External Term Format"
// chapter). Only the ones this package reads or writes are listed.
const (
	etfVersion     = 131
	tagCompressed  = 80  // u32 uncompressed size, zlib stream
	tagNewFloat    = 70  // 8-byte IEEE 754 big-endian
	tagSmallInt    = 97  // u8
	tagInteger     = 98  // i32 big-endian
	tagAtom        = 100 // u16 length, Latin-1 (deprecated)
	tagSmallTuple  = 104 // u8 arity
	tagLargeTuple  = 105 // u32 arity
	tagNil         = 106 // the empty list
	tagString      = 107 // u16 length, one byte per element: a list of small integers
	tagList        = 108 // u32 length, elements, tail
	tagBinary      = 109 // u32 length, bytes
	tagSmallBig    = 110 // u8 byte count, sign, little-endian magnitude
	tagLargeBig    = 111 // u32 byte count, sign, little-endian magnitude
	tagSmallAtom   = 115 // u8 length, Latin-1 (deprecated)
	tagMap         = 116 // u32 pair count, key, value, key, value…
	tagAtomUTF8    = 118 // u16 length, UTF-8
	tagSmallAtomU8 = 119 // u8 length, UTF-8
)

const (
	// maxTermDepth bounds the nesting of lists, tuples and maps, both when
	// decoding (a hostile payload cannot exhaust the stack) and encoding
	// (a Go value that contains itself is refused instead of recursing
	// forever).
	maxTermDepth = 64

	// maxUncompressed bounds the size a compressed term may claim and
	// inflate to, so a small token cannot expand into a large allocation.
	maxUncompressed = 64 << 10

	// maxAtomChars is Erlang's limit on the length of an atom, in
	// characters.
	maxAtomChars = 255

	// maxStringExt is the longest list term_to_binary writes as a
	// STRING_EXT (a list whose elements are all integers 0..255).
	maxStringExt = 1<<16 - 1
)
