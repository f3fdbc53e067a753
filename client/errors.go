package client

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client: closed")
	// ErrDisconnected: the connection ended before the reply came. The
	// push may or may not have reached the server.
	ErrDisconnected = errors.New("client: disconnected before the reply")
	// ErrChannelClosed: the channel was left, or the server closed it.
	ErrChannelClosed = errors.New("client: channel closed")
	// ErrChannelError: the channel crashed on the server (phx_error)
	// before the reply; the client joins it again.
	ErrChannelError = errors.New("client: channel error on the server")
	// ErrNotJoined: Push or Leave on a channel whose Join was not called.
	ErrNotJoined = errors.New("client: channel not joined")
	// ErrAlreadyJoined: the client already has a channel for the topic.
	ErrAlreadyJoined = errors.New("client: topic already joined")
	// ErrBinaryV1: the V1 serializer carries no binary payloads.
	ErrBinaryV1 = errors.New("client: binary payloads need the V2 serializer")
)

// ReplyError is a reply whose status is not "ok": a refused join, or a
// push the channel answered with an error.
type ReplyError struct {
	Topic, Event string
	// Status is the reply's status, such as "error".
	Status string
	// Response is the reply's response: JSON text, or raw bytes when
	// Binary.
	Response []byte
	Binary   bool
}

func (e *ReplyError) Error() string {
	resp := string(e.Response)
	if e.Binary {
		resp = fmt.Sprintf("%d bytes", len(e.Response))
	}
	return fmt.Sprintf("client: %s %s: %s %s", e.Topic, e.Event, e.Status, resp)
}

// Reason is the response's "reason" member, as Phoenix and pyre refuse
// with ({"reason": "unmatched topic"}), or "".
func (e *ReplyError) Reason() string {
	var r struct {
		Reason string `json:"reason"`
	}
	if !e.Binary {
		_ = Reply{Response: e.Response}.Decode(&r)
	}
	return r.Reason
}

// HandshakeError is a WebSocket upgrade the server answered with an HTTP
// status instead of switching protocols: 403 for refused params or token,
// 503 with Retry-After when the server admits no more connections for now.
type HandshakeError struct {
	StatusCode int
	// RetryAfter is the wait the response's Retry-After asks for (sent
	// in seconds); 0 without one.
	RetryAfter time.Duration
}

func (e *HandshakeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: handshake refused with HTTP %d", e.StatusCode)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	return b.String()
}
