// Package admin is a live view of a running pyre node for its operators:
// an http.Handler that an app mounts (at /admin by default) beside its
// socket handler.
//
// It serves JSON under PREFIX/api/ and a page at PREFIX that refreshes
// itself every 1.5 s:
//
//	GET /admin/api/node      this node: name, sockets, channels, topics, crashes so far
//	GET /admin/api/nodes     the cluster's nodes (cluster.Node.Members; WithCluster)
//	GET /admin/api/sockets   sockets and their channels; ?q= filters, ?limit= bounds (100, at most 1000)
//	GET /admin/api/topics    topics with their local subscriber counts; ?q=, ?limit=
//	GET /admin/api/presence  presences per topic, replicated ones included; ?q=, ?limit=
//	GET /admin/api/crashes   the last 50 channel crashes, newest first, with their stacks
//	GET /admin/api/trees     the supervision trees registered with WithTree
//
// Every request must carry the key: "Authorization: Bearer KEY", or Basic
// credentials with KEY as the password, which is how a browser opens the
// page (it asks once and sends them with the page's requests). A missing
// or wrong key gets 401; the comparison takes constant time.
//
//	view, err := admin.New(h, key, admin.WithCluster(node), admin.WithTree("jobs", tree),
//		admin.WithSecretAssigns("session"))
//	mux.Handle("/admin", view)
//	mux.Handle("/admin/", view)
//
// # Secrets
//
// The view shows each socket's assigns and the presence metas, but never
// the value of a secret key: one named with WithSecretAssigns, or one
// whose name contains token, secret, password, passwd, credential,
// apikey, api_key or private (AlwaysSecret), at any depth of a nested
// value. Their values read Redacted. Connect's params and
// socket.ConnInfo's token are not kept by the socket at all; an app that
// copies one into its assigns names that assign secret (or calls it
// "token").
//
// # Concurrency
//
// The handler is safe for concurrent use. What it shows of a socket it
// asks the Socket actor, through its mailbox (socket.Handler.Sockets),
// and what it shows of a tree it asks the supervisor
// (supervisor.Tree.Describe), both within WithTimeout (2 s); it reads no
// actor's state itself. The topic, presence and crash lists are
// snapshots taken under their owners' locks.
package admin
