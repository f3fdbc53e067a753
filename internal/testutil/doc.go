// Package testutil holds the helpers that pyre's tests share: waiting for a
// condition, checking that goroutines and actors do not outlive a test, a
// WebSocket client that speaks Phoenix V2 JSON frames, a test server for a
// socket endpoint (ServeSocket), and an embedded NATS server.
//
// It is for _test.go files only. No package that ships imports it, and it
// imports none of pyre's packages, so the internal tests of any package
// (package socket, package presence, ...) can use it without an import
// cycle. A helper that needs a pyre package lives in a package of its own
// below this one (chatserver, which runs the chat example).
//
// Every helper takes a testing.TB, calls Helper, and fails the test through
// it, so failures point at the caller's line. Helpers that fail with Fatal
// must be called from the goroutine running the test. Every listener and
// connection is on 127.0.0.1.
//
// # Waiting instead of sleeping
//
// Tests should wait for a signal (a channel, a frame, a reply) when one
// exists; Receive waits for a value on a channel and fails the test with
// the caller's message if none comes in time. When none does, such as a count that drops once some goroutine
// finishes, Eventually polls the condition at a short interval and fails
// with the caller's message once the timeout passes. A fixed sleep is never
// an assertion.
//
//	testutil.Eventually(t, 5*time.Second, func() bool { return h.Len() == 0 },
//		"every socket to close (%v left)", testutil.Lazy(func() string { return fmt.Sprint(h.Len()) }))
//
// # Leaks
//
// CheckGoroutines, at the start of a test, fails it if a goroutine that
// was not running then still runs when the test and its clean-ups end
// (go.uber.org/goleak compares them by identity, so one that ends
// meanwhile cannot hide one that leaks); the report holds the stacks of
// the new ones. Goroutines and GoroutineBaseline.Wait do the same check at
// a point the test chooses. CheckActors and CountBackTo do it for any
// count, such as socket.Handler.ActorCount, given as a func() int.
package testutil
