// Command heapowners sums a heap profile's live bytes by owner, per
// connection: which package, and in it which allocation site, holds the
// memory of N held connections. It reads the stacks that
//
//	go tool pprof -sample_index=inuse_space -traces BINARY heap.pb.gz
//
// prints, from a profile that samples every allocation (the server run
// with GODEBUG=memprofilerate=1), and, with -base, subtracts the same sums
// of a profile taken before the connections opened:
//
//	go run ./tools/heapowners -conns 10000 -base base.traces held.traces
//
// An allocation belongs to the first frame, from the allocating one up,
// outside the standard library's plumbing (runtime, sync, maps, fmt, …),
// named by its package; goroutine descriptors (runtime.malg) and the
// socket's hijacked read buffer are owners of their own. A second column
// gives the part of each owner allocated on a channel's join path (a
// stack through internal/engine or the Socket actor's join): the channel
// side of a connection's cost, against the connection side.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	conns := flag.Int("conns", 10000, "connections held in the profile, the divisor")
	base := flag.String("base", "", "traces of a profile taken before the connections opened, subtracted")
	sites := flag.Int("sites", 4, "allocation sites listed under each owner")
	flag.Parse()
	if flag.NArg() != 1 || *conns <= 0 {
		fmt.Fprintln(os.Stderr, "usage: heapowners [-conns N] [-base BASE.traces] HELD.traces")
		os.Exit(2)
	}
	held, err := sumFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "heapowners:", err)
		os.Exit(1)
	}
	if *base != "" {
		b, err := sumFile(*base)
		if err != nil {
			fmt.Fprintln(os.Stderr, "heapowners:", err)
			os.Exit(1)
		}
		for k, v := range b {
			held[k] -= v
		}
	}
	report(os.Stdout, held, float64(*conns), *sites)
}

// key is an owner and one of its allocation sites; join tells whether the
// allocation was made on a channel's join path.
type key struct {
	owner, site string
	join        bool
}

func sumFile(path string) (map[key]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return sum(f)
}

// sum reads pprof's -traces output: samples separated by dashed lines,
// each a value in front of the allocating frame, then its callers.
func sum(r io.Reader) (map[key]float64, error) {
	out := map[key]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var value float64
	var frames []string
	flush := func() {
		if len(frames) > 0 {
			k := classify(frames)
			k.join = onJoinPath(frames)
			out[k] += value
		}
		value, frames = 0, frames[:0]
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "-----------+"):
			flush()
		case strings.HasPrefix(strings.TrimSpace(line), "bytes:"):
			// the sampled objects' size, a label
		case len(line) > 13 && line[11] == ' ' && strings.TrimSpace(line[:11]) != "":
			v, err := parseSize(strings.TrimSpace(line[:11]))
			if err != nil {
				return nil, fmt.Errorf("%q: %w", line, err)
			}
			value = v
			frames = append(frames, strings.TrimSpace(line[11:]))
		case len(frames) > 0 && strings.TrimSpace(line) != "":
			frames = append(frames, strings.TrimSpace(line))
		}
	}
	flush()
	return out, sc.Err()
}

func parseSize(s string) (float64, error) {
	mult := 1.0
	for _, u := range []struct {
		suffix string
		n      float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.n
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * mult, err
}

// plumbing are packages whose allocations belong to their caller.
var plumbing = []string{"runtime.", "sync.", "maps.", "slices.", "strings.", "strconv.", "bytes.", "fmt.",
	"reflect.", "internal/", "time.", "unique.", "encoding/", "sort.", "errors.", "context.", "math/",
	"container/", "iter.", "weak.", "bufio.", "golang.org/x/time/rate.", "github.com/rs/zerolog.",
	"google.golang.org/protobuf/"}

func isPlumbing(frame string) bool {
	for _, p := range plumbing {
		if strings.HasPrefix(frame, p) {
			return true
		}
	}
	return false
}

// onJoinPath tells whether a stack went through a channel's join: the
// channel actor's package or the Socket actor's join.
func onJoinPath(frames []string) bool {
	for _, f := range frames {
		if strings.Contains(f, "pyre/internal/engine") || strings.Contains(f, "socketActor).join") {
			return true
		}
	}
	return false
}

// classify names the owner of one stack, allocating frame first.
func classify(frames []string) key {
	if strings.HasPrefix(frames[0], "time.goFunc") {
		// a timer's goroutine: newproc inlined into the timer's function
		return key{owner: "goroutine descriptors", site: "time.goFunc"}
	}
	for _, f := range frames {
		if strings.HasPrefix(f, "runtime.malg") {
			return key{owner: "goroutine descriptors", site: "runtime.malg"}
		}
	}
	if strings.HasPrefix(frames[0], "bufio.NewReader") && len(frames) > 1 {
		for _, f := range frames[1:] {
			if strings.Contains(f, "pyre/socket.(*hijacker).Hijack") {
				return key{owner: "read buffer (bufio.Reader)", site: "socket.(*hijacker).Hijack"}
			}
		}
	}
	for _, f := range frames {
		if isPlumbing(f) {
			continue
		}
		site := strings.TrimSuffix(f, " (inline)")
		switch {
		case strings.Contains(f, "UnboundedLockfree") || strings.Contains(f, "protoactor-go/internal/queue") ||
			strings.Contains(f, "pyre/internal/engine.newMailbox") || strings.Contains(f, "pyre/internal/engine.(*queue)"):
			// Mailboxes, protoactor's or the engine's own, count with the
			// rest of what an actor costs.
			return key{owner: "protoactor", site: site}
		case strings.Contains(f, "protoactor-go") || strings.Contains(f, "orcaman/concurrent-map"):
			return key{owner: "protoactor", site: site}
		case strings.HasPrefix(f, "github.com/gorilla/websocket"):
			return key{owner: "gorilla/websocket", site: site}
		case strings.HasPrefix(f, "net.") || strings.HasPrefix(f, "syscall.") || strings.HasPrefix(f, "os."):
			return key{owner: "net", site: site}
		case strings.HasPrefix(f, "net/http."):
			return key{owner: "net/http", site: site}
		case strings.HasPrefix(f, "github.com/pyrehq/pyre/"):
			rest := strings.TrimPrefix(f, "github.com/pyrehq/pyre/")
			pkg := rest
			if i := strings.Index(rest, "."); i >= 0 {
				pkg = rest[:i]
			}
			return key{owner: "pyre " + pkg, site: strings.TrimPrefix(site, "github.com/pyrehq/pyre/")}
		}
		return key{owner: module(f), site: site}
	}
	return key{owner: "runtime and std (other)", site: frames[0]}
}

// module is a frame's package path, cut to three elements.
func module(frame string) string {
	parts := strings.SplitN(frame, "/", 4)
	if len(parts) > 3 {
		parts = parts[:3]
	}
	last := parts[len(parts)-1]
	if i := strings.Index(last, "."); i >= 0 {
		parts[len(parts)-1] = last[:i]
	}
	return strings.Join(parts, "/")
}

// other gathers the owners that hold less than this per connection.
const other = 16 // bytes

// report prints each owner's KiB per connection, largest first, with its
// largest sites, and the part of each allocated on a join path.
func report(w io.Writer, sums map[key]float64, conns float64, sites int) {
	type site struct {
		name      string
		all, join float64
	}
	perOwner := map[string]float64{}
	for k, v := range sums {
		perOwner[k.owner] += v
	}
	owners := map[string]*site{}
	bySite := map[string]map[string]*site{}
	var total, totalJoin float64
	for k, v := range sums {
		if perOwner[k.owner] < other*conns {
			k.owner, k.site = "other (each under 16 B)", k.owner
		}
		o := owners[k.owner]
		if o == nil {
			o = &site{name: k.owner}
			owners[k.owner] = o
			bySite[k.owner] = map[string]*site{}
		}
		s := bySite[k.owner][k.site]
		if s == nil {
			s = &site{name: k.site}
			bySite[k.owner][k.site] = s
		}
		o.all += v
		s.all += v
		total += v
		if k.join {
			o.join += v
			s.join += v
			totalJoin += v
		}
	}
	names := make([]*site, 0, len(owners))
	for _, o := range owners {
		names = append(names, o)
	}
	sort.Slice(names, func(i, j int) bool { return names[i].all > names[j].all })
	kib := func(v float64) float64 { return v / conns / 1024 }
	fmt.Fprintf(w, "%-68s %8s %8s\n", "owner / allocation site", "KiB/conn", "joinpath")
	for _, o := range names {
		fmt.Fprintf(w, "%-68s %8.3f %8.3f\n", o.name, kib(o.all), kib(o.join))
		ss := make([]*site, 0, len(bySite[o.name]))
		for _, s := range bySite[o.name] {
			ss = append(ss, s)
		}
		sort.Slice(ss, func(i, j int) bool { return ss[i].all > ss[j].all })
		for i, s := range ss {
			if i == sites || s.all/conns < 8 {
				break
			}
			fmt.Fprintf(w, "    %-64s %8.3f %8.3f\n", s.name, kib(s.all), kib(s.join))
		}
	}
	fmt.Fprintf(w, "%-68s %8.3f %8.3f\n", "total live heap", kib(total), kib(totalJoin))
}
