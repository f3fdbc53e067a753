package testutil

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// ReadTimeout is a WSConn's default Timeout.
const ReadTimeout = 5 * time.Second

// WSConn is a gorilla WebSocket client connection bound to a test. It
// embeds the *websocket.Conn for anything the helpers do not cover, such as
// binary frames or reads from another goroutine. Its own methods fail the
// test with Fatal, so they belong on the test's goroutine.
type WSConn struct {
	*websocket.Conn
	// Timeout bounds each Read, ReadFrame and ReadClose, and the whole of
	// a ReadUntil. Dial sets ReadTimeout.
	Timeout time.Duration

	tb       testing.TB
	ref      int
	joinRefs map[string]string // topic → ref of its last phx_join
}

// Frame is a decoded Phoenix V2 JSON frame:
// [join_ref, ref, topic, event, payload].
type Frame struct {
	JoinRef, Ref string // "" for null
	Topic, Event string
	// Payload is the payload when it is a JSON object, else nil.
	Payload map[string]any
	// RawPayload is the payload as it was sent.
	RawPayload json.RawMessage
	// Text is the whole frame as it was sent.
	Text string
}

// WSURL turns a server's http:// or https:// URL into a ws:// or wss:// one
// (other URLs are returned as they are) and appends path.
func WSURL(serverURL, path string) string {
	switch {
	case strings.HasPrefix(serverURL, "http://"):
		serverURL = "ws://" + strings.TrimPrefix(serverURL, "http://")
	case strings.HasPrefix(serverURL, "https://"):
		serverURL = "wss://" + strings.TrimPrefix(serverURL, "https://")
	}
	return serverURL + path
}

// Dial opens a WebSocket connection to rawURL, adding vsn=<vsn> to its
// query unless vsn is empty, and closes it when the test ends. It fails the
// test (Fatal) if the upgrade fails or the host is not a loopback address.
// An http:// URL is dialled as ws://.
func Dial(tb testing.TB, rawURL, vsn string) *WSConn {
	tb.Helper()
	c, resp, err := TryDial(tb, rawURL, vsn, nil)
	if err != nil {
		status := "no response"
		if resp != nil {
			status = resp.Status
		}
		tb.Fatalf("dial %s: %v (%s)", rawURL, err, status)
	}
	return c
}

// TryDial is Dial that returns the handshake's failure instead of failing
// the test, for tests of refused upgrades; it sends header with the
// upgrade request. On success the connection is closed when the test ends.
func TryDial(tb testing.TB, rawURL, vsn string, header http.Header) (*WSConn, *http.Response, error) {
	tb.Helper()
	u, err := url.Parse(WSURL(rawURL, ""))
	if err != nil {
		tb.Fatalf("dial %q: %v", rawURL, err)
	}
	if !loopback(u.Hostname()) {
		tb.Fatalf("dial %s: tests only dial loopback addresses", rawURL)
	}
	if vsn != "" {
		q := u.Query()
		q.Set("vsn", vsn)
		u.RawQuery = q.Encode()
	}
	c, resp, err := websocket.DefaultDialer.Dial(u.String(), header)
	if err != nil {
		return nil, resp, err
	}
	tb.Cleanup(func() { c.Close() })
	return &WSConn{Conn: c, Timeout: ReadTimeout, tb: tb, joinRefs: map[string]string{}}, resp, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send writes frame as one text message.
func (c *WSConn) Send(frame string) {
	c.tb.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.tb.Fatalf("send %s: %v", frame, err)
	}
}

// SendV2 writes the V2 frame [joinRef, ref, topic, event, payload], with
// JSON null for an empty joinRef or ref.
func (c *WSConn) SendV2(joinRef, ref, topic, event string, payload any) {
	c.tb.Helper()
	b, err := json.Marshal([]any{nullable(joinRef), nullable(ref), topic, event, payload})
	if err != nil {
		c.tb.Fatalf("encode %s %s: %v", topic, event, err)
	}
	c.Send(string(b))
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Push sends event on topic as phoenix.js does: the next ref of this
// connection (1, 2, ...) and, as join_ref, the ref of the topic's last
// phx_join (its own ref for a phx_join; null if the topic was never
// joined). It returns the ref, to match the reply with.
func (c *WSConn) Push(topic, event string, payload any) string {
	c.tb.Helper()
	c.ref++
	ref := strconv.Itoa(c.ref)
	if event == "phx_join" {
		c.joinRefs[topic] = ref
	}
	c.SendV2(c.joinRefs[topic], ref, topic, event, payload)
	return ref
}

// Join pushes phx_join on topic and reads until its reply, failing the
// test unless the reply's status is "ok". It returns the reply; frames
// read before it are dropped.
func (c *WSConn) Join(topic string, payload any) Frame {
	c.tb.Helper()
	if payload == nil {
		payload = map[string]any{}
	}
	ref := c.Push(topic, "phx_join", payload)
	f := c.ReadUntil("the reply to joining "+topic, func(f Frame) bool { return f.Event == "phx_reply" && f.Ref == ref })
	if f.Payload["status"] != "ok" {
		c.tb.Fatalf("join %s: %s", topic, f.Text)
	}
	return f
}

// Read reads the next message, waiting at most Timeout, and returns its
// data as a string.
func (c *WSConn) Read() string {
	c.tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(c.Timeout))
	_, data, err := c.ReadMessage()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return string(data)
}

// ReadFrame reads the next message and decodes it as a V2 JSON frame,
// failing the test if it is not one.
func (c *WSConn) ReadFrame() Frame {
	c.tb.Helper()
	text := c.Read()
	f, err := DecodeFrame(text)
	if err != nil {
		c.tb.Fatal(err)
	}
	return f
}

// ReadUntil reads frames until one matches and returns it, dropping the
// others. It fails the test if none has within Timeout; what names the
// frame awaited in that message.
func (c *WSConn) ReadUntil(what string, match func(Frame) bool) Frame {
	c.tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(c.Timeout))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			c.tb.Fatalf("waiting for %s: %v", what, err)
		}
		f, err := DecodeFrame(string(data))
		if err != nil {
			c.tb.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// ReadClose reads until the server closes the connection and returns the
// close code. It fails the test if the connection ends without a close
// frame or none comes within Timeout.
func (c *WSConn) ReadClose() int {
	c.tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(c.Timeout))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		c.tb.Fatalf("connection ended without a close frame: %v", err)
	}
}

// DecodeFrame decodes one V2 JSON frame.
func DecodeFrame(text string) (Frame, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil || len(raw) != 5 {
		return Frame{}, errors.New("not a V2 frame: " + text)
	}
	f := Frame{RawPayload: raw[4], Text: text}
	var joinRef, ref, topic, event *string
	if json.Unmarshal(raw[0], &joinRef) != nil || json.Unmarshal(raw[1], &ref) != nil ||
		json.Unmarshal(raw[2], &topic) != nil || json.Unmarshal(raw[3], &event) != nil ||
		topic == nil || event == nil {
		return Frame{}, errors.New("not a V2 frame: " + text)
	}
	f.Topic, f.Event = *topic, *event
	if joinRef != nil {
		f.JoinRef = *joinRef
	}
	if ref != nil {
		f.Ref = *ref
	}
	_ = json.Unmarshal(raw[4], &f.Payload) // nil unless an object
	return f, nil
}
