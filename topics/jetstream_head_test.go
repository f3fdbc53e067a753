package topics

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A fresh join may take the stream's head from a read that began once its
// subscription was in place, never from one that began before.
func TestSharedHead(t *testing.T) {
	var p part
	var reads atomic.Int64
	release := make(chan struct{})
	read := func(context.Context) (uint64, error) {
		n := reads.Add(1)
		<-release
		return uint64(100 * n), nil
	}
	ctx := t.Context()

	// Joins whose subscriptions were in place before the first read began
	// all share it.
	up := time.Now()
	var wg sync.WaitGroup
	got := make([]uint64, 20)
	for i := range got {
		wg.Go(func() {
			seq, err := p.sharedHead(ctx, up, read)
			if err != nil {
				t.Error(err)
			}
			got[i] = seq
		})
	}
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond) // polling: the first caller starts the read on its own goroutine
	}
	close(release)
	wg.Wait()
	if reads.Load() != 1 {
		t.Fatalf("%d reads for 20 joins whose subscriptions preceded the first", reads.Load())
	}
	for i, seq := range got {
		if seq != 100 {
			t.Fatalf("join %d got %d, want the shared read's 100", i, seq)
		}
	}

	// A join whose subscription came after that read began needs a new one.
	if seq, err := p.sharedHead(ctx, time.Now(), read); err != nil || seq != 200 || reads.Load() != 2 {
		t.Fatalf("a later subscription: %d, %v after %d reads; want a new read (200)", seq, err, reads.Load())
	}
	// A failed read is not handed to a later join.
	boom := errors.New("boom")
	up = time.Now()
	if _, err := p.sharedHead(ctx, up, func(context.Context) (uint64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("the failing read: %v", err)
	}
	if seq, err := p.sharedHead(ctx, up, read); err != nil || seq != 300 {
		t.Fatalf("after a failed read: %d, %v; want a new read (300)", seq, err)
	}
}
