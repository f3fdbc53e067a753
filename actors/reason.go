package actors

import (
	"errors"
	"fmt"

	"github.com/pyrehq/pyre/internal/channel"
)

// Terminate reasons.
var (
	ErrNormal        = errors.New("actors: stopped normally")
	ErrLeft          = errors.New("actors: client left")
	ErrClosed        = errors.New("actors: connection closed")
	ErrShutdown      = errors.New("actors: shutdown")
	ErrDisconnected  = errors.New("actors: socket disconnected")
	ErrDuplicateJoin = errors.New("actors: topic joined again on the same socket")
)

// Other errors.
var (
	ErrNotJoined   = errors.New("actors: channel has not joined")
	ErrNoPresence  = errors.New("actors: no presence tracker configured")
	ErrUnmatched   = errors.New("actors: unmatched topic")
	ErrBadPattern  = errors.New("actors: invalid route pattern")
	ErrNoReplyRef  = errors.New("actors: no message to reply to")
	ErrWriteClosed = channel.ErrWriteClosed
)

// CrashError is the reason of a channel that panicked.
type CrashError struct {
	Value    any    // the value passed to panic
	Stack    []byte // the stack of the panicking goroutine
	Callback string // "join", "handle_in", "handle_out", "handle_info"
	Event    string // the event being handled, if any
	Topic    string
	JoinRef  string
	SocketID string
}

func (e *CrashError) Error() string {
	return fmt.Sprintf("actors: channel %s crashed in %s: %v", e.Topic, e.Callback, e.Value)
}

// Unwrap exposes a panic value that is itself an error.
func (e *CrashError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// JoinError refuses a join with a chosen payload; see Refuse.
type JoinError struct {
	Payload any
}

func (e *JoinError) Error() string { return fmt.Sprintf("actors: join refused: %v", e.Payload) }

// IsClean reports whether a stop reason ends a channel without error: the
// client gets phx_close and does not rejoin. nil, ErrNormal, ErrLeft,
// ErrShutdown and ErrDuplicateJoin (or errors wrapping them) are clean;
// anything else, a crash included, is a failure (phx_error).
func IsClean(reason error) bool {
	return reason == nil || errors.Is(reason, ErrNormal) || errors.Is(reason, ErrLeft) ||
		errors.Is(reason, ErrShutdown) || errors.Is(reason, ErrDuplicateJoin)
}

// Refuse returns the error a Join returns to refuse the client with payload
// as the error response, e.g. Refuse(map[string]string{"reason": "unauthorized"}).
func Refuse(payload any) error { return &JoinError{Payload: payload} }
