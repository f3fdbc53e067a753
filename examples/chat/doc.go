// Package chat is the example chat server: rooms with messages, who is
// online and who is typing, and per-user notifications, served to the
// official phoenix.js client. It shows a whole pyre application in a few
// hundred lines: channels, presence, token login, broadcasts from HTTP and
// an optional cluster. `pyre chat` (cmd/pyre) runs it; `make run` serves it
// on http://127.0.0.1:4000.
//
// # HTTP
//
// App is an http.Handler with these routes:
//
//	GET  /                 the chat page
//	GET  /static/...       its script and style (web/, embedded in the binary)
//	GET  /assets/...       phoenix.mjs: built in, or from Config.AssetsDir
//	POST /api/login        {"user": "ana"} -> {"token": ...}, valid for TokenMaxAge
//	POST /api/broadcast    {"topic", "event", "payload"}: a broadcast from outside any channel
//	POST /api/disconnect   {"user"}: close every socket of that user with 1001
//	GET  /healthz          sockets open and, in a cluster, the NATS and presence state
//	GET  /admin            the live admin view (package admin) and its JSON under /admin/api/,
//	                       with the admin key (Bearer, or as a Basic password); in a cluster it lists the nodes
//	/socket/websocket      the socket (and /socket/longpoll), with the token from /api/login
//
// The token comes as phoenix.js's authToken, which the page uses and which
// keeps it out of the URL (new Socket("/socket", {authToken: token})), or
// as the "token" parameter (new Socket("/socket", {params: {token}})).
//
// The two admin routes need "Authorization: Bearer <Config.AdminKey>" and
// are off when the key is empty. A socket whose token does not verify is
// refused with 403; one that does is assigned its user, and its socket id
// is "users_socket:<user>", which is what /api/disconnect broadcasts to.
//
// # Channels
//
// "room:<name>" (Room) is a chat room. Anyone may join, except that
// "room:private-<u>" admits only user u. After the join reply the room
// tracks the user's presence (with online_at and typing) and pushes
// presence_state; presence_diff follows as people come and go. Presence
// changes gather in windows of PresenceWindow while a room is busy (longer
// in a big room: PresenceWindowPerKey a user, at most PresenceWindowMax), and
// every joiner of one window gets the same encoded list (see
// Context.PushPresenceState); a quiet room's first change goes out at
// once. The client events are:
//
//	new_msg {"body"}     broadcast to the room as new_msg with an id, the user and a time;
//	                     each subscriber's copy says "mine" if it sent it (HandleOut)
//	typing  {"typing"}   update the user's presence meta
//	ping    any          reply ok with the payload (used by pyre bench)
//	shout   any          broadcast to everyone in the room but the sender
//	crash                panic: the channel crashes and phoenix.js rejoins it
//	stop                 end the channel with an ok reply
//
// Rooms are recoverable (RoomHistory): each new_msg carries its position
// as "_pos", and a client that rejoins with "_since" gets the new_msg it
// missed, once and in order, before live ones. The page does it with
// web/recover.mjs, served at /static/recover.mjs, and shows a notice when
// the room could not recover.
//
// "notifications:<u>" (Notifications) admits only user u and relays what is
// broadcast on the topic, for example through /api/broadcast.
//
// "bench:<name>" is a room without presence, for load tests of the fan-out
// path alone; "bench-history:<name>" is the same with its bench events
// recorded (1 000 kept), to measure what a history costs the fan-out.
//
// # Use from Go
//
//	app, err := chat.New(chat.Config{AdminKey: key, Secret: secret})
//	if err != nil { ... }
//	srv := &http.Server{Addr: "127.0.0.1:4000", Handler: app}
//	go srv.ListenAndServe()
//	...
//	app.Shutdown(ctx) // drains the sockets (1012) and stops presence
//
// Without Config.Cluster the app runs one node on its own in-process
// PubSub. With a node from cluster.Start, broadcasts, presence and
// socket-id disconnects cross to the other nodes over NATS, and long-poll
// requests that land on the wrong node are relayed to the one holding the
// session; give every node the same Secret so that a login on one is valid
// on all of them.
package chat
