package protocol_test

import (
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

// Package-level sinks keep the results alive so the work is not optimised
// away.
var (
	benchMessage protocol.Message
	benchFrame   protocol.Frame
)

// A chat message as phoenix.js sends it on a joined channel.
var (
	benchV2Push = []byte(`["3","17","room:lobby","new_msg",{"body":"hello there, how is everyone?","user":"ana","at":1718000000}]`)
	benchV1Push = []byte(`{"topic":"room:lobby","event":"new_msg","payload":{"body":"hello there, how is everyone?","user":"ana","at":1718000000},"ref":"17","join_ref":"3"}`)
)

func BenchmarkV2DecodePush(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchV2Push)))
	for b.Loop() {
		m, err := protocol.V2().Decode(benchV2Push, false)
		if err != nil {
			b.Fatal(err)
		}
		benchMessage = m
	}
}

func BenchmarkV1DecodePush(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchV1Push)))
	for b.Loop() {
		m, err := protocol.V1().Decode(benchV1Push, false)
		if err != nil {
			b.Fatal(err)
		}
		benchMessage = m
	}
}

func BenchmarkV2DecodeBinary(b *testing.B) {
	data := clientBinary("3", "17", "room:lobby", "upload", make([]byte, 1024))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, err := protocol.V2().Decode(data, true)
		if err != nil {
			b.Fatal(err)
		}
		benchMessage = m
	}
}

func BenchmarkV2Broadcast(b *testing.B) {
	p := protocol.RawJSON([]byte(`{"body":"hello there, how is everyone?","user":"ana","at":1718000000}`))
	b.ReportAllocs()
	for b.Loop() {
		f, err := protocol.V2().Broadcast("room:lobby", "new_msg", p)
		if err != nil {
			b.Fatal(err)
		}
		benchFrame = f
	}
	b.SetBytes(int64(benchFrame.Len()))
}

func BenchmarkV2BroadcastBinary(b *testing.B) {
	p := protocol.Binary(make([]byte, 1024))
	b.ReportAllocs()
	for b.Loop() {
		f, err := protocol.V2().Broadcast("room:lobby", "upload", p)
		if err != nil {
			b.Fatal(err)
		}
		benchFrame = f
	}
	b.SetBytes(int64(benchFrame.Len()))
}
