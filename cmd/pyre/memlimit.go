package main

import (
	"bufio"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// The Go runtime's soft memory limit (runtime/debug.SetMemoryLimit): below
// it the collector runs at GOGC's pace, letting the heap grow to twice what
// is live; near it the collector runs as often as it must to stay under.
// The serving commands set it from -memory-limit: a size, "off", or "auto"
// (the default), which derives it from the memory the process may use.
//
// What auto chooses, in order:
//   - GOMEMLIMIT, when it is set, is left as the runtime read it;
//   - a cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes): 90 % of
//     it. The container is the node's alone; the tenth left over is for
//     what the limit does not count and the cgroup does (the kernel's
//     socket buffers, page cache) and for the collector to act before the
//     kernel's out-of-memory killer does;
//   - otherwise the machine's memory (MemTotal in /proc/meminfo): 75 % of
//     it. The machine is shared with the system and whatever else runs
//     there, and a limit above what is free only makes the collector work
//     hard once swapping or the killer is near anyway;
//   - otherwise (neither is readable): no limit.
//
// A limit costs nothing while the heap is well under it: at 10 000 idle
// connections on a 24 GiB machine the node behaves as with none. It pays
// as memory gets tight: a node holding N connections then needs about
// N × (live heap + stacks) instead of N × (twice the live heap + stacks),
// at the price of more collector CPU (BENCHMARKS.md, "Issue 22").

// Shares of the derived limits, in percent.
const (
	cgroupLimitPercent  = 90
	machineLimitPercent = 75
)

// memoryLimit is the -memory-limit flag's value.
type memoryLimit struct {
	mode  string // "auto", "off" or "size"
	bytes int64  // with mode "size"
}

func (m *memoryLimit) String() string {
	switch m.mode {
	case "", "auto":
		return "auto"
	case "off":
		return "off"
	}
	return (*byteSize)(&m.bytes).String()
}

// Get makes the flag a flag.Getter, of memoryLimit.
func (m *memoryLimit) Get() any { return *m }

func (m *memoryLimit) Set(s string) error {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "auto", "off":
		*m = memoryLimit{mode: v}
		return nil
	}
	var b byteSize
	if err := b.Set(s); err != nil || b == 0 {
		return errors.New(`want "auto", "off" or a size such as 6GiB`)
	}
	*m = memoryLimit{mode: "size", bytes: int64(b)}
	return nil
}

// memorySource says where the limit in force came from.
type memorySource string

const (
	sourceFlag      memorySource = "flag"
	sourceOff       memorySource = "off"
	sourceGOMEMLIMT memorySource = "GOMEMLIMIT"
	sourceCgroupV2  memorySource = "cgroup v2"
	sourceCgroupV1  memorySource = "cgroup v1"
	sourceMachine   memorySource = "machine"
	sourceNone      memorySource = "none found"
)

// resolve returns the limit m stands for (math.MaxInt64: none), reading
// the process's cgroup and the machine's memory under root ("/" outside
// tests) and GOMEMLIMIT through getenv.
func (m memoryLimit) resolve(root string, getenv func(string) string) (int64, memorySource) {
	switch m.mode {
	case "off":
		return math.MaxInt64, sourceOff
	case "size":
		return m.bytes, sourceFlag
	}
	if getenv("GOMEMLIMIT") != "" {
		return -1, sourceGOMEMLIMT
	}
	if n, src, ok := cgroupLimit(root); ok {
		return n / 100 * cgroupLimitPercent, src
	}
	if n, ok := machineMemory(root); ok {
		return n / 100 * machineLimitPercent, sourceMachine
	}
	return math.MaxInt64, sourceNone
}

// apply sets the runtime's memory limit from m and logs it.
func (m memoryLimit) apply(log zerolog.Logger) {
	n, src := m.resolve("/", os.Getenv)
	if n >= 0 {
		debug.SetMemoryLimit(n)
	} else {
		n = debug.SetMemoryLimit(-1) // as the runtime read GOMEMLIMIT
	}
	e := log.Info().Str("source", string(src))
	if n == math.MaxInt64 {
		e.Str("memory_limit", "off").Msg("memory limit")
		return
	}
	e.Int64("memory_limit", n).Int64("memory_limit_mib", n>>20).Msg("memory limit")
}

// cgroupLimit reads the memory limit of the process's cgroup: v2's
// memory.max, or v1's memory.limit_in_bytes, in the cgroup named by
// /proc/self/cgroup or, where that path is not mounted (inside a
// container the mount is usually the cgroup itself), at the mount's root.
// ok is false when there is no limit.
func cgroupLimit(root string) (n int64, src memorySource, ok bool) {
	var v2, v1 string // the process's cgroup paths
	if f, err := os.Open(filepath.Join(root, "proc/self/cgroup")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// hierarchy-ID:controllers:path
			parts := strings.SplitN(sc.Text(), ":", 3)
			if len(parts) != 3 {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				v2 = parts[2]
			case hasController(parts[1], "memory"):
				v1 = parts[2]
			}
		}
		f.Close()
	}
	mount := filepath.Join(root, "sys/fs/cgroup")
	if n, ok := readLimit(mount, v2, "memory.max"); ok {
		return n, sourceCgroupV2, true
	}
	if n, ok := readLimit(filepath.Join(mount, "memory"), v1, "memory.limit_in_bytes"); ok {
		return n, sourceCgroupV1, true
	}
	return 0, "", false
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// noLimitV1 is where cgroup v1 reports "no limit": the largest page-aligned
// int64 or close to it; anything above 2^60 bytes is taken as none.
const noLimitV1 = 1 << 60

// readLimit reads file in the cgroup dir/cg, else at dir's root.
func readLimit(dir, cg, file string) (int64, bool) {
	for _, p := range []string{filepath.Join(dir, cg, file), filepath.Join(dir, file)} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= noLimitV1 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// machineMemory reads MemTotal from /proc/meminfo.
func machineMemory(root string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(root, "proc/meminfo"))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 || kb > math.MaxInt64>>10 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
