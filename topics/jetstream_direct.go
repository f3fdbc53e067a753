package topics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// directReader sends the batched direct gets of the JetStream store (a
// JetStream API of nats-server 2.11 and newer: one request, up to a batch
// of a subject's messages in answer, then an end-of-batch status) and
// collects every answer on one subscription, each read on its own inbox
// token. A client that subscribed per read would send the server a
// subscription and an unsubscription per recovery and allocate a large
// pending channel each time.
type directReader struct {
	nc     *nats.Conn
	api    string // "$JS.API.DIRECT.GET."
	prefix string // the inbox prefix, ends with "."
	sub    *nats.Subscription

	mu    sync.Mutex
	reads map[string]*directRead // guarded by mu; inbox token → the read waiting on it
	next  uint64                 // guarded by mu
}

type directRead struct {
	msgs []*nats.Msg   // guarded by the reader's mu: answers not yet taken
	wake chan struct{} // capacity 1: msgs has more
}

func newDirectReader(nc *nats.Conn) (*directReader, error) {
	r := &directReader{nc: nc, api: "$JS.API.DIRECT.GET.", prefix: nc.NewInbox() + ".", reads: map[string]*directRead{}}
	sub, err := nc.Subscribe(r.prefix+"*", r.route)
	if err != nil {
		return nil, fmt.Errorf("topics: history reads: %w", err)
	}
	r.sub = sub
	return r, nil
}

func (r *directReader) close() { _ = r.sub.Unsubscribe() }

// route hands an answer to the read waiting on its token.
func (r *directReader) route(m *nats.Msg) {
	token := m.Subject[len(r.prefix):]
	r.mu.Lock()
	defer r.mu.Unlock()
	rd := r.reads[token]
	if rd == nil {
		return // a read that stopped early or gave up
	}
	rd.msgs = append(rd.msgs, m)
	select {
	case rd.wake <- struct{}{}:
	default:
	}
}

// Headers and statuses of direct get answers.
const (
	headerNumPending = "Nats-Num-Pending"
	statusHeader     = "Status"
	statusEOB        = "204"
	statusNotFound   = "404"
)

// errBatchUnsupported is returned when the server answers a batched
// direct get as a single one (older than 2.11).
var errBatchUnsupported = errors.New("topics: the NATS server does not answer batched direct gets (it needs 2.11 or newer)")

// directRequest is the body of a batched direct get of one subject's
// messages from a sequence on.
type directRequest struct {
	Seq     uint64 `json:"seq"`
	NextFor string `json:"next_by_subj"`
	Batch   int    `json:"batch"`
}

// headRequest is the body of a direct get of a stream's last message (a
// single get: the server refuses a batch of the last message).
type headRequest struct {
	LastFor string `json:"last_by_subj"`
}

// errNoHead is returned by head for a stream without a message.
var errNoHead = errors.New("topics: the history stream holds no message")

// head returns the sequence of stream's last message.
func (r *directReader) head(ctx context.Context, stream string) (uint64, error) {
	var seq uint64
	_, _, err := r.request(ctx, stream, headRequest{LastFor: ">"}, true, func(m *jetstream.RawStreamMsg, _ uint64) bool {
		seq = m.Sequence
		return false
	})
	if errors.As(err, new(notFound)) || err == nil && seq == 0 {
		return 0, errNoHead
	}
	return seq, err
}

// notFound is a direct get's 404 answer.
type notFound struct{ description string }

func (e notFound) Error() string { return "topics: history read: 404 " + e.description }

// get asks stream for up to batch messages on subject from sequence from
// on and calls fn for each, in order, until fn returns false; pending is
// how many messages on subject followed the message when the server read
// it. It returns how many fn was given and the last one's pending.
func (r *directReader) get(ctx context.Context, stream, subject string, from uint64, batch int,
	fn func(m *jetstream.RawStreamMsg, pending uint64) bool) (n int, pending uint64, err error) {
	n, pending, err = r.request(ctx, stream, directRequest{Seq: from, NextFor: subject, Batch: batch}, false, fn)
	if errors.As(err, new(notFound)) {
		err = nil // no message on subject from there
	}
	return n, pending, err
}

// firstRequest is the body of a direct get of a subject's first message.
type firstRequest struct {
	Seq     uint64 `json:"seq"`
	NextFor string `json:"next_by_subj"`
}

// first returns the sequence of the first message on subject in stream,
// 0 when it has none. Unlike a batch, a single get does not make the
// server count the subject's messages.
func (r *directReader) first(ctx context.Context, stream, subject string) (uint64, error) {
	var seq uint64
	_, _, err := r.request(ctx, stream, firstRequest{Seq: 1, NextFor: subject}, true, func(m *jetstream.RawStreamMsg, _ uint64) bool {
		seq = m.Sequence
		return false
	})
	if errors.As(err, new(notFound)) {
		return 0, nil
	}
	return seq, err
}

// request sends body to stream's direct get and calls fn for each message
// of the answer until fn returns false or the answer ends; a single get
// (not a batch) is answered by one message without an end of batch.
func (r *directReader) request(ctx context.Context, stream string, body any, single bool,
	fn func(m *jetstream.RawStreamMsg, pending uint64) bool) (n int, pending uint64, err error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, 0, err
	}
	rd := &directRead{wake: make(chan struct{}, 1)}
	r.mu.Lock()
	r.next++
	token := strconv.FormatUint(r.next, 36)
	r.reads[token] = rd
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.reads, token)
		r.mu.Unlock()
	}()
	if err := r.nc.PublishMsg(&nats.Msg{Subject: r.api + stream, Reply: r.prefix + token, Data: data}); err != nil {
		return 0, 0, err
	}
	var taken []*nats.Msg
	for {
		r.mu.Lock()
		taken, rd.msgs = rd.msgs, taken[:0]
		r.mu.Unlock()
		if len(taken) == 0 {
			select {
			case <-ctx.Done():
				return n, pending, ctx.Err()
			case <-rd.wake:
			}
			continue
		}
		for _, m := range taken {
			if status := m.Header.Get(statusHeader); status != "" && len(m.Data) == 0 {
				switch status {
				case statusEOB:
					return n, pending, nil
				case statusNotFound:
					return n, pending, notFound{m.Header.Get("Description")}
				default:
					return n, pending, fmt.Errorf("topics: history read of %s: %s %s", stream, status, m.Header.Get("Description"))
				}
			}
			np := m.Header.Get(headerNumPending)
			if np == "" && !single {
				return n, pending, errBatchUnsupported
			}
			seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			if err != nil {
				return n, pending, fmt.Errorf("topics: history read of %s: a message without a sequence", stream)
			}
			pending, _ = strconv.ParseUint(np, 10, 64)
			n++
			if !fn(&jetstream.RawStreamMsg{Subject: m.Header.Get(jetstream.SubjectHeader), Sequence: seq, Header: m.Header, Data: m.Data}, pending) || single {
				return n, pending, nil
			}
		}
	}
}
