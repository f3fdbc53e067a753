package socket_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/socket"
)

// opener opens a socket over one transport with the connect params query;
// ctx cancels the client's request. The client hangs up when the test ends.
type opener func(ctx context.Context, t *testing.T, s *server, query string) error

var openers = map[string]opener{
	"websocket": func(ctx context.Context, t *testing.T, s *server, query string) error {
		// By hand rather than with gorilla's dialer, which does not hang up
		// while it waits for the handshake's answer when ctx ends.
		u, err := url.Parse(s.url)
		if err != nil {
			return err
		}
		nc, err := new(net.Dialer).DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { nc.Close() })
		t.Cleanup(func() { stop(); nc.Close() })
		req := "GET " + u.Path + "?" + query + " HTTP/1.1\r\nHost: " + u.Host +
			"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13" +
			"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		if _, err := io.WriteString(nc, req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return errors.New("websocket handshake answered " + resp.Status)
		}
		return nil
	},
	"longpoll": func(ctx context.Context, t *testing.T, s *server, query string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+"/socket/longpoll?"+query, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && !strings.Contains(string(body), `"status":410`) {
			err = errors.New("long-poll open answered " + string(body))
		}
		return err
	},
}

// TestConnectContextEndsWithRequest: the context Connect gets is done once
// the opening request has been answered, over every transport.
func TestConnectContextEndsWithRequest(t *testing.T) {
	for name, open := range openers {
		t.Run(name, func(t *testing.T) {
			ended := make(chan error, 1)
			s := newServer(t, socket.WithConnect(func(ctx context.Context, _ url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				go func() {
					<-ctx.Done()
					ended <- ctx.Err()
				}()
				return actors.Assigns{}, nil
			}))
			if err := open(t.Context(), t, s, "vsn=2.0.0"); err != nil {
				t.Fatalf("open: %v", err)
			}
			select {
			case err := <-ended:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("ctx ended with %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Connect's context still live after the socket opened")
			}
			if n := s.h.Len(); n != 1 {
				t.Fatalf("%d sockets, want 1: the socket outlives the context", n)
			}
		})
	}
}

// TestConnectContextClientGone: a client that gives up while Connect runs
// cancels Connect's context, and no socket opens.
func TestConnectContextClientGone(t *testing.T) {
	for name, open := range openers {
		t.Run(name, func(t *testing.T) {
			started := make(chan struct{})
			ended := make(chan error, 1)
			s := newServer(t, socket.WithConnect(func(ctx context.Context, _ url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
				close(started)
				select {
				case <-ctx.Done():
					ended <- ctx.Err()
					return nil, ctx.Err()
				case <-time.After(10 * time.Second):
					ended <- nil
					return nil, errors.New("the client's departure went unnoticed")
				}
			}))
			ctx, cancel := context.WithCancel(t.Context())
			opened := make(chan error, 1)
			go func() { opened <- open(ctx, t, s, "vsn=2.0.0") }()
			<-started
			cancel() // the client hangs up mid-request
			if err := <-opened; err == nil {
				t.Fatal("the open succeeded after the client hung up")
			}
			if err := <-ended; !errors.Is(err, context.Canceled) {
				t.Fatalf("Connect saw %v, want context.Canceled", err)
			}
			if n := s.h.Len(); n != 0 {
				t.Fatalf("%d sockets open, want none", n)
			}
		})
	}
}
