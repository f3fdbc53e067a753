package transport

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// ErrRefused wraps the error of a Connect callback that refused a socket;
// socket exports it as socket.ErrRefused.
var ErrRefused = errors.New("socket: connection refused")

// The caps on live sockets a new one can be over; socket exports them
// under the same names. A transport answers either with HTTP 429.
var (
	// ErrTooManyConns: the client's IP address has its maximum of sockets.
	ErrTooManyConns = errors.New("socket: too many connections from one address")
	// ErrTooManySockets: the socket's id has its maximum of sockets.
	ErrTooManySockets = errors.New("socket: too many sockets with one socket id")
)

// Sink is the outbound half of a connection: where its socket's frames go.
// Every method is called from any goroutine and must not block.
type Sink interface {
	topics.Sink
	// Close stops accepting frames, delivers what is queued, sends a close
	// with code (none if 0) and ends the connection. Idempotent.
	Close(code int, text string)
	// Overflow ends the connection as a slow consumer.
	Overflow()
}

// Conn is the inbound half of an open socket: the transport feeds it what
// the client sends, and tells it when the client is gone.
type Conn interface {
	// Handle passes one decoded message to the socket, blocking while the
	// socket holds its maximum of unhandled messages; false once the
	// socket is closing. The messages of one goroutine are handled in the
	// order it passed them.
	Handle(msg protocol.Message) bool
	// Closed tells the socket that its client went away; its channels
	// terminate with reason.
	Closed(reason error)
	// CloseWith closes the socket from the server side; code and text go
	// to the Sink's Close.
	CloseWith(reason error, code int, text string)
	// Done is closed once the socket has started closing.
	Done() <-chan struct{}
	// ID is the socket's id (socket.WithID); "" for an anonymous socket.
	ID() string
}

// ConnInfo describes the HTTP request that opens a socket.
type ConnInfo struct {
	PeerAddr string      // remote address as host:port
	URI      *url.URL    // the request URI
	Headers  http.Header // only the headers named by socket.WithConnectHeaders
	Origin   string
	// Token is the bearer token phoenix.js (1.8 and later) sends when the
	// socket is made with its authToken option, which keeps the token out
	// of the URL: over WebSocket in the subprotocol
	// "base64url.bearer.phx.<base64 of the token>", over long-poll in the
	// X-Phoenix-AuthToken header. "" when the client sent none.
	Token string
}

// Endpoint is the socket handler as a transport sees it. Its methods are
// safe from any goroutine.
type Endpoint interface {
	// Open runs the Connect callback with ctx (the opening request's
	// context) and, if it accepts, starts a socket whose frames go to
	// sink. The error wraps ErrRefused when Connect refused; it is
	// ErrTooManyConns or ErrTooManySockets when a cap on live sockets
	// refused (the endpoint has logged and counted it); any other error
	// means the endpoint could not take the socket (it is shutting down).
	// Whenever the error is not nil, sink has been closed.
	Open(ctx context.Context, sink Sink, params url.Values, info ConnInfo) (Conn, error)
	// Admit takes a place for a new socket from the endpoint's admission
	// control; false means the transport must refuse the socket with HTTP
	// 503 and a Retry-After of after, before opening it. Only a socket's
	// opening request asks.
	Admit() (ok bool, after time.Duration)
	// Draining reports whether the endpoint has begun to shut down: no
	// new socket opens from then on.
	Draining() bool
	// CheckOrigin reports whether the Origin of r may open a socket.
	CheckOrigin(r *http.Request) bool
	// ConnInfo describes r for the Connect callback.
	ConnInfo(r *http.Request) ConnInfo
	// Settings returns the endpoint's settings that transports share. They
	// do not change.
	Settings() Settings
}

// Settings are the endpoint's settings a transport applies.
type Settings struct {
	Node     string         // this node's name
	Logger   zerolog.Logger // carries the node field already
	MaxFrame int64          // largest inbound frame
	MaxQueue int            // bytes of frames a connection may hold unsent
	// Taken, if set, takes the bytes a connection's queue held each time
	// its frames were taken to be sent (a flush, a poll); safe from any
	// goroutine and cheap (an atomic add or two).
	Taken interface{ Observe(float64) }
}
