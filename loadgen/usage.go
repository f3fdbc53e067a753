package loadgen

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The kernel reports CPU time in /proc in clock ticks of 1/100 s (USER_HZ,
// which is 100 on every Linux architecture Go runs on).
const clockTicks = 100

// procUsage is one reading of a process from /proc.
type procUsage struct {
	cpuS   float64 // user + system
	rssKiB int64   // VmRSS
	cpus   int     // CPUs it may run on (Cpus_allowed_list)
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procUsage, bool) {
	var p procUsage
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return p, false
	}
	// The command name in parentheses may hold spaces: count fields after
	// its closing parenthesis, where utime and stime are the 12th and 13th.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return p, false
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return p, false
	}
	p.cpuS = (utime + stime) / clockTicks
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return p, false
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		key, val, _ := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		switch key {
		case "VmRSS":
			p.rssKiB, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(val, "kB")), 10, 64)
		case "Cpus_allowed_list":
			p.cpus = countCPUs(val)
		}
	}
	return p, true
}

// countCPUs counts the CPUs in a list such as "0-3,6".
func countCPUs(list string) int {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		if !isRange {
			n++
			continue
		}
		if b, err := strconv.Atoi(hi); err == nil && b >= a {
			n += b - a + 1
		}
	}
	return n
}

// machineCPU is the CPU time the whole machine spent busy (user, nice,
// system, irq, softirq) and the time the hypervisor stole, summed over all
// CPUs, in seconds, from the first line of /proc/stat.
func machineCPU() (busy, steal float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	var v [9]float64
	for i := 1; i < 9; i++ {
		v[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return (v[1] + v[2] + v[3] + v[6] + v[7]) / clockTicks, v[8] / clockTicks, true
}

// usageMark is the state at the start of a measured window.
type usageMark struct {
	at           time.Time
	self         float64
	busy, steal  float64
	machineOK    bool
	server       procUsage
	serverOK     bool
	serverPID    int
	selfCPUCount int
}

// markUsage reads the clocks at the start of a window; pid 0 skips the
// server.
func markUsage(pid int) usageMark {
	m := usageMark{at: time.Now(), self: selfCPU(), serverPID: pid, selfCPUCount: runtime.NumCPU()}
	m.busy, m.steal, m.machineOK = machineCPU()
	if pid > 0 {
		m.server, m.serverOK = readProc(pid)
	}
	return m
}

// fill writes the window that began at m into h.
func (m usageMark) fill(h *Header) {
	h.Start = m.at.UTC().Format(time.RFC3339)
	wall := time.Since(m.at).Seconds()
	h.WallS = round3(wall)
	h.LoadgenCPUS = round3(selfCPU() - m.self)
	share := func(cpuS float64, cpus int) float64 {
		if wall <= 0 {
			return 0
		}
		return round1(100 * cpuS / (wall * float64(max(cpus, 1))))
	}
	h.LoadgenBusyPct = share(h.LoadgenCPUS, m.selfCPUCount)
	other := -h.LoadgenCPUS
	if m.serverOK {
		if p, ok := readProc(m.serverPID); ok {
			h.ServerPID = m.serverPID
			h.ServerCPUS = round3(p.cpuS - m.server.cpuS)
			h.ServerBusyPct = share(h.ServerCPUS, p.cpus)
			h.ServerRSSKiB = p.rssKiB
			if m.serverPID != os.Getpid() {
				other -= h.ServerCPUS
			}
		}
	}
	if m.machineOK {
		if busy, steal, ok := machineCPU(); ok {
			h.OtherCPUS = round3(max(busy-m.busy+other, 0))
			h.StealS = round3(steal - m.steal)
		}
	}
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
func round1(f float64) float64 { return math.Round(f*10) / 10 }
