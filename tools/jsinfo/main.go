// Command jsinfo prints what a NATS server's JetStream holds for pyre's
// histories: the number of streams and consumers in the account, and each
// history stream's messages, bytes and subjects. Benchmarks use it to
// check that the layout does not grow with the rooms.
//
//	go run ./tools/jsinfo -nats nats://127.0.0.1:4333 [-prefix pyre] [-json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// report is jsinfo's output.
type report struct {
	Streams   int            `json:"streams"`
	Consumers int            `json:"consumers"`
	Memory    uint64         `json:"memory_bytes"`
	Store     uint64         `json:"store_bytes"`
	History   []historyState `json:"history"`
}

type historyState struct {
	Name     string `json:"name"`
	Msgs     uint64 `json:"msgs"`
	Bytes    uint64 `json:"bytes"`
	Subjects int    `json:"subjects"`
}

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server URL (loopback)")
	prefix := flag.String("prefix", "pyre", "pyre's NATS prefix")
	asJSON := flag.Bool("json", false, "print one JSON line")
	flag.Parse()
	if err := run(*url, *prefix, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "jsinfo:", err)
		os.Exit(1)
	}
}

func run(url, prefix string, asJSON bool) error {
	nc, err := nats.Connect(url, nats.Name("jsinfo"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acct, err := js.AccountInfo(ctx)
	if err != nil {
		return err
	}
	rep := report{Streams: acct.Streams, Consumers: acct.Consumers, Memory: acct.Memory, Store: acct.Store}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, strings.ToUpper(prefix)+"_") {
			continue
		}
		s, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		st := s.CachedInfo().State
		rep.History = append(rep.History, historyState{Name: name, Msgs: st.Msgs, Bytes: st.Bytes, Subjects: int(st.NumSubjects)})
	}
	if err := names.Err(); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	fmt.Printf("streams %d, consumers %d, memory %d B, store %d B\n", rep.Streams, rep.Consumers, rep.Memory, rep.Store)
	for _, h := range rep.History {
		fmt.Printf("  %-28s %8d msgs %12d B %8d subjects\n", h.Name, h.Msgs, h.Bytes, h.Subjects)
	}
	return nil
}
