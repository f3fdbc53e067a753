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
	cpuS    float64 // user + system
	rssKiB  int64   // VmRSS
	cpuList string  // CPUs it may run on (Cpus_allowed_list)
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
			p.cpuList = val
		}
	}
	return p, true
}

// countCPUs counts the CPUs in lists such as "0-3,6", a CPU in several
// lists once.
func countCPUs(lists ...string) int {
	cpus := map[int]bool{}
	for _, list := range lists {
		for part := range strings.SplitSeq(list, ",") {
			lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
			a, err := strconv.Atoi(lo)
			if err != nil || a < 0 {
				continue
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil || b < a {
					continue
				}
			}
			for c := a; c <= b && c < a+maxCPUs; c++ {
				cpus[c] = true
			}
		}
	}
	return len(cpus)
}

// maxCPUs bounds one range of a CPU list, against a malformed one.
const maxCPUs = 1 << 14

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
	serverPIDs   []int
	servers      []procUsage // in the order of serverPIDs
	serversOK    bool
	selfCPUCount int
}

// markUsage reads the clocks at the start of a window, and the servers'
// if pids are given; a server that cannot be read leaves out the server
// figures.
func markUsage(pids ...int) usageMark {
	m := usageMark{at: time.Now(), self: selfCPU(), serverPIDs: pids, selfCPUCount: runtime.NumCPU()}
	m.busy, m.steal, m.machineOK = machineCPU()
	m.servers, m.serversOK = readProcs(pids)
	return m
}

// readProcs reads every process of pids, or fails.
func readProcs(pids []int) ([]procUsage, bool) {
	if len(pids) == 0 {
		return nil, false
	}
	ps := make([]procUsage, len(pids))
	for i, pid := range pids {
		p, ok := readProc(pid)
		if !ok {
			return nil, false
		}
		ps[i] = p
	}
	return ps, true
}

// fill writes the window that began at m into h. With several servers the
// server figures are sums, their share taken of the CPUs any of them may
// run on, and h.Servers has each one's.
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
	if m.serversOK {
		if now, ok := readProcs(m.serverPIDs); ok {
			var cpuS float64
			var lists []string
			for i, p := range now {
				s := ServerUsage{PID: m.serverPIDs[i], CPUS: round3(p.cpuS - m.servers[i].cpuS), RSSKiB: p.rssKiB}
				s.BusyPct = share(s.CPUS, countCPUs(p.cpuList))
				if len(now) > 1 {
					h.Servers = append(h.Servers, s)
				}
				cpuS += p.cpuS - m.servers[i].cpuS
				lists = append(lists, p.cpuList)
				h.ServerRSSKiB += p.rssKiB
				if s.PID != os.Getpid() {
					other -= s.CPUS
				}
			}
			h.ServerPID = m.serverPIDs[0]
			h.ServerCPUS = round3(cpuS)
			h.ServerBusyPct = share(cpuS, countCPUs(lists...))
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
