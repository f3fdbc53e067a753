package loadgen

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Header opens every report: what ran against what, and what the measured
// window cost. The JSON names match the team's load harness.
type Header struct {
	Tool   string `json:"tool"`
	Mode   string `json:"mode"` // storm, reconnect, fanout or ping
	Label  string `json:"label,omitempty"`
	Proto  string `json:"proto"` // always "phx": Phoenix V2 JSON
	Target string `json:"target"`
	Start  string `json:"start"` // RFC 3339, UTC
	SrcIPs int    `json:"src_ips"`
	// WallS is the length of the measured window in seconds.
	WallS float64 `json:"wall_s"`
	// LoadgenCPUS is the CPU time this process used in the window, and
	// LoadgenBusyPct that time as a share of the CPUs it may run on.
	LoadgenCPUS    float64 `json:"loadgen_cpu_s"`
	LoadgenBusyPct float64 `json:"loadgen_busy_pct"`
	// The server's figures, when its process id was given.
	ServerPID     int     `json:"server_pid,omitempty"`
	ServerCPUS    float64 `json:"server_cpu_s,omitempty"`
	ServerBusyPct float64 `json:"server_busy_pct,omitempty"`
	ServerRSSKiB  int64   `json:"server_rss_kib,omitempty"` // at the end of the window
	// Servers has each server's figures when several process ids were
	// given; the four above are then their sums (ServerPID the first id,
	// ServerBusyPct a share of the CPUs any of them may run on).
	Servers []ServerUsage `json:"servers,omitempty"`
	// OtherCPUS is the CPU time the rest of the machine used in the window
	// (approximate), StealS the time the hypervisor took, all CPUs.
	OtherCPUS float64 `json:"other_cpu_s"`
	StealS    float64 `json:"steal_s"`
	// Stopped is StoppedLimit or StoppedInterrupted when the run was cut
	// short, and empty when it finished.
	Stopped string `json:"stopped,omitempty"`
}

// ServerUsage is what one server process used in the measured window.
type ServerUsage struct {
	PID     int     `json:"pid"`
	CPUS    float64 `json:"cpu_s"`
	BusyPct float64 `json:"busy_pct"` // of the CPUs it may run on
	RSSKiB  int64   `json:"rss_kib"`  // at the end of the window
}

// Noisy reports whether other work on the machine took more than 5% of
// the window, which makes the figures less trustworthy.
func (h Header) Noisy() bool { return h.OtherCPUS+h.StealS > 0.05*h.WallS }

// notes lists the caveats of a window, for the summaries.
func (h Header) notes() string {
	var b strings.Builder
	if h.Stopped != "" {
		fmt.Fprintf(&b, "  STOPPED EARLY (%s): the figures cover only part of the run\n", h.Stopped)
	}
	if h.LoadgenBusyPct >= 90 {
		fmt.Fprintf(&b, "  note: the load generator was %.0f%% busy; the server may be able to do more\n", h.LoadgenBusyPct)
	}
	if h.Noisy() {
		fmt.Fprintf(&b, "  note: other processes used %.1fs of CPU and steal was %.1fs: noisy\n", h.OtherCPUS, h.StealS)
	}
	return b.String()
}

// cpuLine is the summary line about CPU and memory.
func (h Header) cpuLine() string {
	s := fmt.Sprintf("  cpu           bench %.2fs (%.0f%%)", h.LoadgenCPUS, h.LoadgenBusyPct)
	servers := "server"
	if len(h.Servers) > 1 {
		servers = fmt.Sprintf("%d servers", len(h.Servers))
	}
	if h.ServerPID > 0 {
		s += fmt.Sprintf(", %s %.2fs (%.0f%%), %s RSS %s", servers, h.ServerCPUS, h.ServerBusyPct, servers, kib(h.ServerRSSKiB))
	}
	s += fmt.Sprintf(" over %.2fs\n", h.WallS)
	for _, v := range h.Servers {
		s += fmt.Sprintf("    pid %-8d %.2fs (%.0f%%), RSS %s\n", v.PID, v.CPUS, v.BusyPct, kib(v.RSSKiB))
	}
	return s
}

func (l Latency) line(name string) string {
	if l.Count == 0 {
		return fmt.Sprintf("  %-13s none measured\n", name)
	}
	return fmt.Sprintf("  %-13s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)\n",
		name, ms(l.P50Us), ms(l.P90Us), ms(l.P99Us), ms(l.P999Us), ms(l.MaxUs), l.Count)
}

// ms prints microseconds as milliseconds with three significant digits or
// so.
func ms(us float64) string {
	m := us / 1000
	switch {
	case m < 1:
		return fmt.Sprintf("%.3fms", m)
	case m < 100:
		return fmt.Sprintf("%.2fms", m)
	default:
		return fmt.Sprintf("%.0fms", m)
	}
}

func kib(k int64) string {
	if k >= 10<<10 {
		return fmt.Sprintf("%.1f MiB", float64(k)/1024)
	}
	return fmt.Sprintf("%d KiB", k)
}

// errorLines lists counted errors, most frequent first.
func errorLines(errs map[string]int) string {
	msgs := make([]string, 0, len(errs))
	for m := range errs {
		msgs = append(msgs, m)
	}
	sort.Slice(msgs, func(i, j int) bool {
		if errs[msgs[i]] != errs[msgs[j]] {
			return errs[msgs[i]] > errs[msgs[j]]
		}
		return msgs[i] < msgs[j]
	})
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "  error ×%d: %s\n", errs[m], m)
	}
	return b.String()
}

// perSecond divides n by seconds, 0 when there is no time.
func perSecond(n float64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return round3(n / seconds)
}

// errorSummary lists counted errors on one line, with the run's own reason
// to stop if it has one.
func errorSummary(ctx context.Context, errs map[string]int) string {
	var b strings.Builder
	for m, n := range errs {
		fmt.Fprintf(&b, "; %d× %s", n, m)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(&b, "; %v", context.Cause(ctx))
	}
	return b.String()
}
