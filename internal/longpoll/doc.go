// Package longpoll is the long-poll transport of the socket handler: it
// serves PATH/longpoll for phoenix.js's LongPoll class (and its
// longPollFallbackMs fallback), and opens sockets through a
// transport.Endpoint like any other transport.
//
// It speaks Phoenix's protocol, which phoenix.js expects to the letter:
//
//   - every answer has a JSON body whose "status" carries the outcome; a
//     poll's body also has the session "token" and "messages", each
//     message one encoded text frame as a JSON string. The HTTP status is
//     200, except for an opening poll refused before its session exists:
//     503 with Retry-After from admission control, 429 from a cap on the
//     sockets of one address or socket id or on the sessions of one id,
//     all with the body status 500 (phoenix.js reads only the body);
//   - GET without a session token opens a session: Connect runs on the
//     query and the answer is status 410 with the new token (410 means
//     "use this token" here; phoenix.js treats it as open);
//   - GET with a token waits up to the window for frames: 200 with them,
//     or 204 with none; 410 once the session is gone, after which
//     phoenix.js reconnects and its channels rejoin;
//   - POST with a token hands the body's messages to the socket: one text
//     frame, or with Content-Type application/x-ndjson one frame a line,
//     a line that does not start with '[' or '{' being a base64 binary
//     frame. The answer is 200; the replies come with the next poll;
//   - 403 refuses (origin, vsn, Connect, a forged or altered token, a
//     request without its session's auth token), 500 asks phoenix.js to
//     reconnect later (draining, a session limit, a cap on sockets). A GET
//     never answers anything else in its body: phoenix.js throws on other
//     statuses.
//
// phoenix.js's authToken option sends the token in the X-Phoenix-AuthToken
// header of every poll: the opening one hands it to Connect
// (ConnInfo.Token), and every later poll of the session must carry the
// same, a post the same or none (phoenix.js sends none with posts).
// Access-Control-Allow-Origin names the request's Origin when the origin
// check admits it, and no answer has it otherwise.
//
// A session is the Sink of an ordinary socket, so channels cannot tell it
// from a WebSocket, except that it carries no binary frames to the client.
// Its frames wait in a queue bounded by bytes until a poll takes them, and
// a timer closes it when nobody polls. A session lives on the node that
// opened it; with Config.Relay, a node forwards requests for another
// node's session to it over NATS (see relay.go).
//
// The socket handler builds one Transport and mounts it:
//
//	lp := longpoll.New(endpoint, cfg) // cfg from longpoll.Defaults()
//	// in ServeHTTP, for a path ending in /longpoll:
//	lp.ServeHTTP(w, r)
//
// # Concurrency
//
// Transport's methods are safe from any goroutine; it has no goroutine or
// Close of its own. A session holds no goroutine either: a waiting poll
// holds its HTTP request's for at most the window, a relayed request one
// of its own for as long, and a session's expiry runs on a timer. The
// sessions' Sink methods (Send, Close, Overflow) lock only the session and
// never block. Session state is guarded by the session's mutex, the
// registry of sessions by the Transport's, the relay's subscription by the
// relay's; where two are held, the Transport's is taken last. A session
// closes when its socket
// does (the socket calls its Close); the relay unsubscribes once the last
// session is gone.
package longpoll
