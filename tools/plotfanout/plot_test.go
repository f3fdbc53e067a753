package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Lines as both writers produce them (abridged): pyre bench, and the
// harness with its storm and ping lines in the same file.
const sample = `{"tool":"pyre bench","mode":"fanout","label":"pyre","subs":100,"joined":100,"rate_target":0,"window":32,"delivered_per_s":300000,"latency":{"p50_us":900,"p99_us":8000}}
{"tool":"pyre bench","mode":"fanout","label":"pyre","subs":100,"joined":100,"rate_target":0,"window":32,"delivered_per_s":340000,"latency":{"p99_us":9000}}
{"tool":"pyre bench","mode":"fanout","label":"pyre","subs":100,"joined":100,"rate_target":0,"window":32,"delivered_per_s":320000,"latency":{"p99_us":12000}}
{"tool":"pyre bench","mode":"fanout","label":"pyre","subs":1000,"joined":998,"rate_target":0,"delivered_per_s":500000,"latency":{"p99_us":62000}}
{"tool":"pyre bench","mode":"fanout","label":"pyre","subs":1000,"joined":1000,"rate_target":0,"delivered_per_s":100,"stopped":"limit","latency":{"p99_us":1}}
{"tool":"pyre bench","mode":"fanout","label":"pyre","subs":1000,"joined":1000,"rate_target":50,"delivered_per_s":50000,"latency":{"p99_us":15000}}

{"mode":"storm","label":"rawceil","proto":"phx","joined":10000,"joins_per_s":6243}
{"mode":"fanout","label":"rawceil","proto":"phx","subs":1000,"joined":1000,"rate_target":0,"window":32,"delivered_per_s":1533959,"latency":{"p99_us":41700}}
{"mode":"fanout","label":"rawceil","proto":"phx","subs":1000,"joined":1000,"rate_target":50,"delivered_per_s":50000,"latency":{"p99_us":15000}}
{"mode":"ping","label":"rawceil","proto":"phx","replies_per_s":89073}
`

func collect(t *testing.T, kind string) *collector {
	t.Helper()
	c, err := newCollector(kind)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.read(strings.NewReader(sample), "sample"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCollector(t *testing.T) {
	c := collect(t, kindMax)
	got := c.series()
	if len(got) != 2 || got[0].label != "pyre" || got[1].label != "rawceil" {
		t.Fatalf("series %+v, want pyre and rawceil", got)
	}
	pyre := got[0].points
	if len(pyre) != 2 || pyre[0] != (point{x: 100, deliveries: 320000, p99ms: 9, runs: 3}) ||
		pyre[1] != (point{x: 998, deliveries: 500000, p99ms: 62, runs: 1}) {
		t.Errorf("pyre points %+v: want medians at 100 and the 998 that joined", pyre)
	}
	if c.skipped != 1 {
		t.Errorf("skipped %d, want the run cut short by the limit", c.skipped)
	}
	if rate := collect(t, kindRate).series(); len(rate) != 2 || rate[0].points[0].deliveries != 50000 {
		t.Errorf("fixed-rate series %+v", rate)
	}
	if all := collect(t, kindAll).series(); all[0].runs != 5 {
		t.Errorf("all kinds: pyre has %d runs, want 5", all[0].runs)
	}
	if _, err := newCollector("fast"); err == nil {
		t.Error("kind fast accepted")
	}
	if err := c.read(strings.NewReader("{\"mode\":\"fanout\"}\nnot json\n"), "bad"); err == nil || !strings.Contains(err.Error(), "bad:2") {
		t.Errorf("malformed line: error %v, want one naming bad:2", err)
	}
}

func TestRunWritesPNG(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "runs.jsonl")
	if err := os.WriteFile(in, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fanout.png")
	var log bytes.Buffer
	if err := run([]string{"-o", out, "-width", "800", "-height", "700", in}, nil, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 700 {
		t.Errorf("image is %v, want 800×700", b)
	}
	// Both series are drawn in their colours.
	for i, col := range seriesRGB[:2] {
		found := false
		for y := 0; y < 700 && !found; y++ {
			for x := 0; x < 800 && !found; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				found = uint8(r>>8) == col.R && uint8(g>>8) == col.G && uint8(b>>8) == col.B
			}
		}
		if !found {
			t.Errorf("no pixel in the colour of series %d", i)
		}
	}
	if !strings.Contains(log.String(), "rawceil: 1000 subs 1.53M/s p99 41.7ms") {
		t.Errorf("log:\n%s", log.String())
	}

	if err := run([]string{"-o", out, "-kind", "rate", filepath.Join(dir, "missing.jsonl")}, nil, &log); err == nil {
		t.Error("a missing file: no error")
	}
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, []byte(`{"mode":"storm"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-o", out, empty}, nil, &log); err == nil {
		t.Error("no fan-out lines: no error")
	}
}

func TestAxes(t *testing.T) {
	a := linearAxis([]float64{120, 980})
	if a.lo != 0 || a.hi != 1200 || a.step != 200 || len(a.ticks()) != 7 {
		t.Errorf("linear axis %+v with ticks %v", a, a.ticks())
	}
	l := autoAxis([]float64{3, 4000}, 50)
	if !l.log || l.lo != 1 || l.hi != 10000 || l.frac(100) != 0.5 {
		t.Errorf("log axis %+v", l)
	}
	for v, want := range map[float64]string{0: "0", 0.5: "0.5", 12: "12", 1500: "1.5k", 250000: "250k", 1533959: "1.53M", 2e6: "2M"} {
		if got := short(v); got != want {
			t.Errorf("short(%v) = %q, want %q", v, got, want)
		}
	}
}

// With the server's CPU in every run, a point carries the median CPU per
// delivery; a run without it leaves the point without one.
func TestCPUPerDelivery(t *testing.T) {
	c, err := newCollector(kindMax)
	if err != nil {
		t.Fatal(err)
	}
	lines := `{"mode":"fanout","label":"a","subs":10,"joined":10,"delivered_per_s":1,"received":1000000,"server_cpu_s":0.5,"latency":{"p99_us":1}}
{"mode":"fanout","label":"a","subs":10,"joined":10,"delivered_per_s":1,"received":1000000,"server_cpu_s":0.7,"latency":{"p99_us":1}}
{"mode":"fanout","label":"a","subs":10,"joined":10,"delivered_per_s":1,"received":2000000,"server_cpu_s":1.2,"latency":{"p99_us":1}}
{"mode":"fanout","label":"b","subs":10,"joined":10,"delivered_per_s":1,"received":1000000,"server_cpu_s":0.5,"latency":{"p99_us":1}}
{"mode":"fanout","label":"b","subs":10,"joined":10,"delivered_per_s":1,"received":1000000,"latency":{"p99_us":1}}
`
	if err := c.read(strings.NewReader(lines), "lines"); err != nil {
		t.Fatal(err)
	}
	s := c.series()
	if got := s[0].points[0].cpuUs; got != 0.6 {
		t.Errorf("a: %v µs per delivery, want the median 0.6", got)
	}
	if got := s[1].points[0].cpuUs; got != 0 {
		t.Errorf("b: %v µs per delivery, want none (one run has no CPU)", got)
	}
}
