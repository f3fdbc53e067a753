package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/pyrehq/pyre/examples/chat"
	"github.com/pyrehq/pyre/loadgen"
)

// Fan-out against pyre's chat example, served here in the same process:
// five subscribers, twenty messages, and every subscriber gets every one.
func ExampleFanout() {
	app, err := chat.New(chat.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(app) // on 127.0.0.1
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_ = app.Shutdown(ctx) // closes whatever the server has not yet seen go
	}()

	rep, err := loadgen.Fanout(context.Background(), srv.URL, 5,
		loadgen.WithCount(20), loadgen.WithDuration(10*time.Second), loadgen.WithLabel("pyre"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d subscribers, %d sent, %d of %d delivered, %d lost, %d reordered\n",
		rep.Joined, rep.Sent, rep.Received, rep.Expected, rep.Lost, rep.Reordered)
	// Output:
	// 5 subscribers, 20 sent, 100 of 100 delivered, 0 lost, 0 reordered
}

// Only loopback targets are measured; anything else is refused before a
// packet is sent.
func ExampleErrNotLoopback() {
	_, err := loadgen.Storm(context.Background(), "http://192.0.2.10:4000", 100)
	fmt.Println(errors.Is(err, loadgen.ErrNotLoopback))
	// Output:
	// true
}
