package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// result is what the plot reads from one JSON line: the fields that
// `pyre bench fanout -json` and the team's harness both write.
type result struct {
	Mode          string  `json:"mode"`
	Label         string  `json:"label"`
	Subs          int     `json:"subs"`
	Joined        int     `json:"joined"`
	Rate          float64 `json:"rate_target"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	Received      float64 `json:"received"`
	ServerCPUS    float64 `json:"server_cpu_s"` // 0 when the run had no server pid
	Stopped       string  `json:"stopped"`
	Latency       struct {
		P99Us float64 `json:"p99_us"`
	} `json:"latency"`
}

// Which fan-out runs to plot.
const (
	kindMax  = "max"  // flow control: rate_target 0
	kindRate = "rate" // a fixed publish rate
	kindAll  = "all"
)

// point is the median of the runs of one series at one subscriber count.
type point struct {
	x          float64 // subscribers that joined
	deliveries float64 // per second
	p99ms      float64
	cpuUs      float64 // server CPU per delivery, µs; 0 if unknown
	runs       int
}

type series struct {
	label  string
	points []point // by x
	runs   int
}

func (s series) legend() string {
	if s.runs == 1 {
		return s.label + " (1 run)"
	}
	return fmt.Sprintf("%s (%d runs)", s.label, s.runs)
}

// collector gathers fan-out results by label and subscriber count.
type collector struct {
	kind    string
	byLabel map[string]map[int][]result
	skipped int // fan-out runs cut short or without subscribers
}

func newCollector(kind string) (*collector, error) {
	switch kind {
	case kindMax, kindRate, kindAll:
	default:
		return nil, fmt.Errorf("kind %q: want max, rate or all", kind)
	}
	return &collector{kind: kind, byLabel: map[string]map[int][]result{}}, nil
}

// read takes every fan-out line of r; other modes are passed over, and
// lines that are not JSON objects are an error.
func (c *collector) read(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
		c.add(res)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (c *collector) add(res result) {
	if res.Mode != "fanout" {
		return
	}
	switch {
	case c.kind == kindMax && res.Rate != 0, c.kind == kindRate && res.Rate == 0:
		return
	}
	subs := res.Joined
	if subs == 0 {
		subs = res.Subs
	}
	if subs <= 0 || res.Stopped != "" || res.DeliveredPerS <= 0 {
		c.skipped++
		return
	}
	label := res.Label
	if label == "" {
		label = "unlabelled"
	}
	if c.byLabel[label] == nil {
		c.byLabel[label] = map[int][]result{}
	}
	c.byLabel[label][subs] = append(c.byLabel[label][subs], res)
}

// series returns one series per label, by name, each point the median of
// its runs.
func (c *collector) series() []series {
	var out []series
	for label, bySubs := range c.byLabel {
		s := series{label: label}
		for subs, runs := range bySubs {
			d := make([]float64, len(runs))
			l := make([]float64, len(runs))
			var cpu []float64
			for i, r := range runs {
				d[i], l[i] = r.DeliveredPerS, r.Latency.P99Us/1000
				if r.ServerCPUS > 0 && r.Received > 0 {
					cpu = append(cpu, r.ServerCPUS*1e6/r.Received)
				}
			}
			p := point{x: float64(subs), deliveries: median(d), p99ms: median(l), runs: len(runs)}
			if len(cpu) == len(runs) {
				p.cpuUs = median(cpu)
			}
			s.points = append(s.points, p)
			s.runs += len(runs)
		}
		sort.Slice(s.points, func(i, j int) bool { return s.points[i].x < s.points[j].x })
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].label < out[j].label })
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
