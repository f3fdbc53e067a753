package protocol_test

import (
	"errors"
	"fmt"

	"github.com/pyrehq/pyre/protocol"
)

// A server picks the serializer from the vsn query parameter, decodes what
// the client sent and answers with a reply that echoes the refs.
func Example() {
	s, err := protocol.Negotiate("2.0.0") // phoenix.js always asks for 2.0.0
	if err != nil {
		fmt.Println("refuse the connection:", err)
		return
	}
	msg, err := s.Decode([]byte(`["1","1","room:lobby","phx_join",{"user":"ana"}]`), false)
	if err != nil {
		fmt.Println("close the connection:", err)
		return
	}
	var params struct{ User string }
	if err := msg.Payload.Decode(&params); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s on %s from %s (join_ref %s, ref %s)\n", msg.Event, msg.Topic, params.User, msg.JoinRef, msg.Ref)

	reply, err := protocol.Marshal(map[string]string{"welcome": params.User})
	if err != nil {
		fmt.Println(err)
		return
	}
	frame, err := s.Reply(msg.JoinRef, msg.Ref, msg.Topic, "ok", reply)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(frame.Data))
	// Output:
	// phx_join on room:lobby from ana (join_ref 1, ref 1)
	// ["1","1","room:lobby","phx_reply",{"status":"ok","response":{"welcome":"ana"}}]
}

func ExampleNegotiate() {
	for _, vsn := range []string{"", "1.0.0", "2.0.0", "3.0.0"} {
		s, err := protocol.Negotiate(vsn)
		if errors.Is(err, protocol.ErrUnsupported) {
			fmt.Printf("%q: refused\n", vsn)
			continue
		}
		fmt.Printf("%q: %s\n", vsn, s.Version())
	}
	// Output:
	// "": 1.0.0
	// "1.0.0": 1.0.0
	// "2.0.0": 2.0.0
	// "3.0.0": refused
}

// The same broadcast as each serializer writes it. A binary payload needs V2.
func ExampleSerializer_Broadcast() {
	p, _ := protocol.Marshal(map[string]string{"body": "hi"})
	for _, s := range []protocol.Serializer{protocol.V1(), protocol.V2()} {
		f, _ := s.Broadcast("room:lobby", "new_msg", p)
		fmt.Println(string(f.Data))
	}
	f, _ := protocol.V2().Broadcast("room:lobby", "file", protocol.Binary([]byte("ABC")))
	fmt.Printf("binary=%v %q\n", f.Binary, f.Data)
	_, err := protocol.V1().Broadcast("room:lobby", "file", protocol.Binary([]byte("ABC")))
	fmt.Println(err)
	// Output:
	// {"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":null}
	// [null,null,"room:lobby","new_msg",{"body":"hi"}]
	// binary=true "\x02\n\x04room:lobbyfileABC"
	// protocol: binary payloads need the V2 serializer
}
