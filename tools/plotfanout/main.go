// Command plotfanout draws fan-out results as a PNG line chart: deliveries
// per second and p99 latency against the number of subscribers, one line
// per label (pyre, rawceil, phoenix, …). It reads JSON lines as written by
// `pyre bench fanout -json` and by the team's load harness
// (/tmp/bench-results/*.jsonl); lines of other modes are passed over, and
// several runs at one subscriber count are drawn as their median.
//
//	go run ./tools/plotfanout -o fanout.png pyre.jsonl /tmp/bench-results/*.jsonl
//
// By default only runs with flow control (-rate 0) are drawn; -kind rate
// draws the fixed-rate runs instead, whose latency is the one to read, and
// -kind all mixes both. It needs nothing beyond the standard library.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "plotfanout:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("plotfanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "fanout.png", "PNG file to write")
	kind := fs.String("kind", kindMax, "which fan-out runs: max (flow control), rate (fixed rate) or all")
	title := fs.String("title", "", "chart title (default: fan-out and the kind of runs)")
	width := fs.Int("width", 1100, "image width in pixels")
	height := fs.Int("height", 1000, "image height in pixels")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: plotfanout [flags] FILE.jsonl ... (- for standard input)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no input files")
	}
	if *width < 400 || *height < 400 || *width > 8000 || *height > 8000 {
		return errors.New("-width and -height must be 400 to 8000")
	}
	col, err := newCollector(*kind)
	if err != nil {
		return err
	}
	for _, name := range fs.Args() {
		if err := readFile(col, name, stdin); err != nil {
			return err
		}
	}
	ss := col.series()
	if len(ss) == 0 {
		return fmt.Errorf("no %s fan-out results in the input (%d cut short or empty)", *kind, col.skipped)
	}
	if *title == "" {
		*title = map[string]string{kindMax: "fan-out, flow control", kindRate: "fan-out, fixed rate", kindAll: "fan-out"}[*kind]
	}
	img := render(ss, *title, *width, *height)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	for _, s := range ss {
		fmt.Fprintf(stderr, "%s:", s.label)
		for _, p := range s.points {
			fmt.Fprintf(stderr, " %g subs %s/s p99 %.3gms;", p.x, short(p.deliveries), p.p99ms)
		}
		fmt.Fprintln(stderr)
	}
	if col.skipped > 0 {
		fmt.Fprintf(stderr, "left out %d runs that were cut short or had no subscribers\n", col.skipped)
	}
	fmt.Fprintln(stderr, "wrote", *out)
	return nil
}

func readFile(col *collector, name string, stdin io.Reader) error {
	if name == "-" {
		return col.read(stdin, "stdin")
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return col.read(f, name)
}

// render draws the panels: deliveries/s, p99 latency and, when every
// point has it, the server's CPU per delivery.
func render(ss []series, title string, w, h int) image.Image {
	c := newCanvas(w, h)
	c.text(20, 14, title, 3, black)
	var xs, ds, ls, cs []float64
	withCPU := true
	for _, s := range ss {
		for _, p := range s.points {
			xs, ds, ls, cs = append(xs, p.x), append(ds, p.deliveries), append(ls, p.p99ms), append(cs, p.cpuUs)
			withCPU = withCPU && p.cpuUs > 0
		}
	}
	x := autoAxis(xs, 20)
	panels := []panel{
		{title: "deliveries per second", x: x, y: linearAxis(ds), value: func(p point) float64 { return p.deliveries }},
		{title: "p99 latency, ms", x: x, y: autoAxis(ls, 50), value: func(p point) float64 { return p.p99ms }},
	}
	if withCPU {
		panels = append(panels, panel{title: "server CPU per delivery, microseconds", x: x, y: autoAxis(cs, 50), value: func(p point) float64 { return p.cpuUs }})
	}
	top := 14 + glyphH*3 + 10
	part := (h - top) / len(panels)
	for i, pn := range panels {
		pn.draw(c, image.Rect(0, top+i*part, w, top+(i+1)*part), ss, i == 0)
	}
	return c.img
}
