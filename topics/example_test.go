package topics_test

import (
	"fmt"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// A subscriber with only a Deliver function gets every broadcast of its
// topic as it is published, on the broadcaster's goroutine.
func Example() {
	ps := topics.New()
	sub := ps.Subscribe("room:lobby", topics.Subscriber{Deliver: func(b topics.Broadcast) {
		fmt.Println("got", b.Topic, b.Event, string(b.Payload.Bytes()))
	}})
	fmt.Println("subscribers:", ps.Count("room:lobby"))

	_ = ps.Broadcast("room:lobby", "new_msg", map[string]string{"body": "hi"})
	_ = ps.Broadcast("room:other", "new_msg", map[string]string{"body": "not for the lobby"})

	sub.Unsubscribe()
	_ = ps.Broadcast("room:lobby", "new_msg", map[string]string{"body": "nobody listens"})
	fmt.Println("subscribers:", ps.Count("room:lobby"))
	// Output:
	// subscribers: 1
	// got room:lobby new_msg {"body":"hi"}
	// subscribers: 0
}

// printSink is a Sink that prints what it is handed. A real one is a
// connection's writer.
type printSink struct{ s protocol.Serializer }

func (p printSink) Serializer() protocol.Serializer { return p.s }

func (p printSink) Send(f protocol.Frame) bool {
	fmt.Println(string(f.Data))
	return true
}

// A subscriber with a Sink gets broadcasts already encoded for its
// serializer, except the events it intercepts, which go to Deliver.
func Example_sink() {
	ps := topics.New()
	ps.Subscribe("room:lobby", topics.Subscriber{
		Sink:      printSink{protocol.V2()},
		Intercept: []string{"secret"},
		Deliver:   func(b topics.Broadcast) { fmt.Println("intercepted", b.Event) },
	})
	_ = ps.Broadcast("room:lobby", "new_msg", map[string]string{"body": "hi"})
	_ = ps.Broadcast("room:lobby", "secret", nil)
	// Output:
	// [null,null,"room:lobby","new_msg",{"body":"hi"}]
	// intercepted secret
}

// Topics become single NATS subject tokens: the dots, spaces and
// wildcards NATS reserves are escaped, and TopicOf reverses it.
func ExampleSubjectToken() {
	for _, topic := range []string{"room:lobby", "a.b", "*", ""} {
		token := topics.SubjectToken(topic)
		back, _ := topics.TopicOf(token)
		fmt.Printf("%q -> %s -> %q\n", topic, token, back)
	}
	// Output:
	// "room:lobby" -> room:lobby -> "room:lobby"
	// "a.b" -> a~2Eb -> "a.b"
	// "*" -> ~2A -> "*"
	// "" -> ~ -> ""
}
