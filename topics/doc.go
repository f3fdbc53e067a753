// Package topics is pyre's PubSub: a registry of topic subscribers and the
// fan-out that delivers broadcasts to them.
//
// A subscriber is usually a joined channel. It registers the connection's
// Sink (its writer) and the events its channel intercepts. A broadcast is
// marshalled once, encoded once per serializer in use among the subscribers,
// and the same bytes are handed to every Sink: no actor hop and no
// per-subscriber encoding. Only a subscriber whose channel intercepts the
// event gets the raw Broadcast through its Deliver function, which normally
// posts it to the channel actor's mailbox.
//
//	ps := topics.New()
//	sub := ps.Subscribe("room:lobby", topics.Subscriber{Deliver: func(b topics.Broadcast) {
//		fmt.Println(b.Event)
//	}})
//	defer sub.Unsubscribe()
//	ps.Broadcast("room:lobby", "new_msg", map[string]string{"body": "hi"})
//
// # Concurrency
//
// Every PubSub method and Subscription.Unsubscribe is safe from any
// goroutine. Sink.Send and Deliver are called while a shard's read lock is
// held, from the goroutine that broadcast: they must not block and must not
// call back into the PubSub.
package topics
