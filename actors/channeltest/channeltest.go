package channeltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/socket"
)

// Errors.
var (
	ErrTimeout = errors.New("channeltest: timed out")
	ErrClosed  = errors.New("channeltest: socket closed")
)

// Server is an in-process socket handler.
type Server struct {
	h       *socket.Handler
	Timeout time.Duration // how long awaits wait; 5s unless changed
}

// NewServer starts a handler for router and shuts it down when the test
// ends.
func NewServer(tb testing.TB, router *actors.Router, opts ...socket.Option) *Server {
	tb.Helper()
	// Close sockets at once on shutdown, and let a test push as fast as it
	// likes, unless it asks otherwise.
	opts = append([]socket.Option{socket.WithDrain(0, 1), socket.WithRateLimit(0, 0, 0)}, opts...)
	h, err := socket.New(router, opts...)
	if err != nil {
		tb.Fatalf("channeltest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			tb.Errorf("channeltest: shutdown: %v", err)
		}
	})
	return &Server{h: h, Timeout: 5 * time.Second}
}

// Handler returns the socket handler (for Broadcast, PubSub, Len).
func (s *Server) Handler() *socket.Handler { return s.h }

// Broadcast publishes on topic from outside any channel.
func (s *Server) Broadcast(topic, event string, payload any) error {
	return s.h.Broadcast(topic, event, payload)
}

// Connect opens a socket with params, running the Connect callback. As
// over HTTP, the callback's context ends once the socket is open.
func (s *Server) Connect(params url.Values) (*Client, error) {
	tr := &transport{frames: make(chan protocol.Frame, 4096), closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := s.h.Open(ctx, tr, params, socket.ConnInfo{PeerAddr: "127.0.0.1:0", URI: &url.URL{Path: "/socket/websocket"}})
	cancel()
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	tr.onClose = func() { conn.Closed(actors.ErrClosed) }
	tr.mu.Unlock()
	return &Client{srv: s, conn: conn, tr: tr, joinRefs: map[string]string{}}, nil
}

// Message is a frame the client received.
type Message struct {
	JoinRef string // "" when null
	Ref     string // "" when null
	Topic   string
	Event   string
	Payload json.RawMessage // JSON payloads
	Binary  []byte          // binary payloads
}

// Decode unmarshals a JSON payload.
func (m Message) Decode(v any) error { return json.Unmarshal(m.Payload, v) }

// Reply is a phx_reply.
type Reply struct {
	Status   string
	Response json.RawMessage
}

// Decode unmarshals the response.
func (r Reply) Decode(v any) error { return json.Unmarshal(r.Response, v) }

// Client is one in-memory connection.
type Client struct {
	srv      *Server
	conn     *socket.Conn
	tr       *transport
	ref      int
	joinRefs map[string]string
	held     []Message
}

func (c *Client) nextRef() string {
	c.ref++
	return strconv.Itoa(c.ref)
}

func (c *Client) send(joinRef, ref, topic, event string, payload any) error {
	p, err := protocol.Marshal(payload)
	if err != nil {
		return err
	}
	msg := protocol.Message{Topic: topic, Event: event, Payload: p}
	if joinRef != "" {
		msg.JoinRef = protocol.StringRef(joinRef)
	}
	if ref != "" {
		msg.Ref = protocol.StringRef(ref)
	}
	if !c.conn.Handle(msg) {
		return ErrClosed
	}
	return nil
}

// Join joins topic and waits for the reply.
func (c *Client) Join(topic string, payload any) (Reply, error) {
	ref := c.nextRef()
	c.joinRefs[topic] = ref
	if err := c.send(ref, ref, topic, protocol.EventJoin, payload); err != nil {
		return Reply{}, err
	}
	return c.AwaitReply(ref)
}

// JoinRef returns the join ref of the last join of topic.
func (c *Client) JoinRef(topic string) string { return c.joinRefs[topic] }

// Push sends event on topic (with the topic's join ref) and returns its ref.
func (c *Client) Push(topic, event string, payload any) (string, error) {
	ref := c.nextRef()
	return ref, c.send(c.joinRefs[topic], ref, topic, event, payload)
}

// PushRaw sends a message with explicit refs ("" for null).
func (c *Client) PushRaw(joinRef, ref, topic, event string, payload any) error {
	return c.send(joinRef, ref, topic, event, payload)
}

// Request pushes event and waits for its reply.
func (c *Client) Request(topic, event string, payload any) (Reply, error) {
	ref, err := c.Push(topic, event, payload)
	if err != nil {
		return Reply{}, err
	}
	return c.AwaitReply(ref)
}

// Leave leaves topic and waits for the reply.
func (c *Client) Leave(topic string) (Reply, error) {
	return c.Request(topic, protocol.EventLeave, nil)
}

// Close closes the connection from the client side.
func (c *Client) Close() { c.conn.Closed(actors.ErrClosed) }

// Await returns the first frame (held or new) for which match is true.
func (c *Client) Await(match func(Message) bool) (Message, error) {
	for i, m := range c.held {
		if match(m) {
			c.held = append(c.held[:i], c.held[i+1:]...)
			return m, nil
		}
	}
	deadline := time.NewTimer(c.srv.Timeout)
	defer deadline.Stop()
	for {
		var f protocol.Frame
		select {
		case f = <-c.tr.frames:
		case <-c.tr.closed:
			// Drain what was queued before the close.
			select {
			case f = <-c.tr.frames:
			default:
				return Message{}, ErrClosed
			}
		case <-deadline.C:
			return Message{}, ErrTimeout
		}
		m, err := decode(f)
		if err != nil {
			return Message{}, err
		}
		if match(m) {
			return m, nil
		}
		c.held = append(c.held, m)
	}
}

// AwaitReply waits for the reply to ref.
func (c *Client) AwaitReply(ref string) (Reply, error) {
	m, err := c.Await(func(m Message) bool { return m.Event == protocol.EventReply && m.Ref == ref })
	if err != nil {
		return Reply{}, fmt.Errorf("reply to %s: %w", ref, err)
	}
	var r struct {
		Status   string          `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := m.Decode(&r); err != nil {
		return Reply{}, err
	}
	return Reply{Status: r.Status, Response: r.Response}, nil
}

// AwaitPush waits for a push or broadcast of event on topic.
func (c *Client) AwaitPush(topic, event string) (Message, error) {
	m, err := c.Await(func(m Message) bool { return m.Topic == topic && m.Event == event })
	if err != nil {
		return Message{}, fmt.Errorf("%s on %s: %w", event, topic, err)
	}
	return m, nil
}

// AwaitClose waits until the server closes the connection and returns the
// close code it sent (0 when none).
func (c *Client) AwaitClose() (int, error) {
	select {
	case <-c.tr.closed:
		return c.tr.code(), nil
	case <-time.After(c.srv.Timeout):
		return 0, ErrTimeout
	}
}

// Received returns, without waiting, the frames received so far that no
// await has consumed.
func (c *Client) Received() []Message {
	for {
		select {
		case f := <-c.tr.frames:
			if m, err := decode(f); err == nil {
				c.held = append(c.held, m)
			}
			continue
		default:
		}
		return append([]Message(nil), c.held...)
	}
}

func decode(f protocol.Frame) (Message, error) {
	data := f.Bytes()
	if f.Binary {
		return decodeBinary(data)
	}
	var parts [5]json.RawMessage
	arr := parts[:0]
	if err := json.Unmarshal(data, &arr); err != nil || len(arr) != 5 {
		return Message{}, fmt.Errorf("channeltest: bad frame %s", data)
	}
	m := Message{Payload: arr[4]}
	_ = json.Unmarshal(arr[0], &m.JoinRef)
	_ = json.Unmarshal(arr[1], &m.Ref)
	_ = json.Unmarshal(arr[2], &m.Topic)
	_ = json.Unmarshal(arr[3], &m.Event)
	return m, nil
}

func decodeBinary(b []byte) (Message, error) {
	bad := fmt.Errorf("channeltest: bad binary frame % x", b)
	if len(b) < 3 {
		return Message{}, bad
	}
	var fields []string
	var n int
	switch b[0] {
	case 0:
		n = 3
	case 1:
		n = 4
	case 2:
		n = 2
	default:
		return Message{}, bad
	}
	if len(b) < 1+n {
		return Message{}, bad
	}
	rest := b[1+n:]
	for i := 0; i < n; i++ {
		l := int(b[1+i])
		if len(rest) < l {
			return Message{}, bad
		}
		fields = append(fields, string(rest[:l]))
		rest = rest[l:]
	}
	switch b[0] {
	case 0:
		return Message{JoinRef: fields[0], Topic: fields[1], Event: fields[2], Binary: rest}, nil
	case 1:
		resp, _ := json.Marshal(map[string]any{"status": fields[3], "response": nil})
		return Message{JoinRef: fields[0], Ref: fields[1], Topic: fields[2], Event: protocol.EventReply, Payload: resp, Binary: rest}, nil
	}
	return Message{Topic: fields[0], Event: fields[1], Binary: rest}, nil
}

// transport is the in-memory Transport: frames go to a bounded channel.
type transport struct {
	frames chan protocol.Frame
	closed chan struct{}

	mu        sync.Mutex
	isClosed  bool   // guarded by mu
	closeCode int    // guarded by mu
	onClose   func() // tells the socket the transport ended; guarded by mu
}

func (t *transport) Serializer() protocol.Serializer { return protocol.V2() }

func (t *transport) Send(f protocol.Frame) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isClosed {
		return false
	}
	select {
	case t.frames <- f:
		return true
	default:
		t.closeLocked(socket.CloseSlowConsumer)
		return false
	}
}

func (t *transport) Close(code int, _ string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeLocked(code)
}

func (t *transport) Overflow() { t.Close(socket.CloseSlowConsumer, "overflow") }

func (t *transport) closeLocked(code int) {
	if !t.isClosed {
		t.isClosed, t.closeCode = true, code
		close(t.closed)
		if t.onClose != nil {
			t.onClose() // only posts to the socket's mailbox
		}
	}
}

func (t *transport) code() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closeCode
}
