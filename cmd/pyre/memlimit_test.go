package main

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// writeTree makes files (path relative to the root → content) under a
// fresh root and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const meminfo = "MemTotal:       24684068 kB\nMemFree:        16855432 kB\n"

// auto derives the limit from the cgroup first, the machine second; the
// cgroup is looked up at the path /proc/self/cgroup names, then at the
// mount's root.
func TestMemoryLimitAuto(t *testing.T) {
	const gib = int64(1) << 30
	machine := int64(24684068) << 10 / 100 * machineLimitPercent
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
		src   memorySource
	}{
		{"v2 at its path", map[string]string{
			"proc/self/cgroup":                   "0::/pods/pyre\n",
			"sys/fs/cgroup/pods/pyre/memory.max": "8589934592\n",
			"sys/fs/cgroup/memory.max":           "max\n",
			"proc/meminfo":                       meminfo,
		}, 8 * gib / 100 * cgroupLimitPercent, sourceCgroupV2},
		{"v2 at the mount's root", map[string]string{
			"proc/self/cgroup":         "0::/not/mounted/here\n",
			"sys/fs/cgroup/memory.max": "4294967296\n",
			"proc/meminfo":             meminfo,
		}, 4 * gib / 100 * cgroupLimitPercent, sourceCgroupV2},
		{"v2 without a limit", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "max\n",
			"proc/meminfo":             meminfo,
		}, machine, sourceMachine},
		{"v1 at its path", map[string]string{
			"proc/self/cgroup": "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "2147483648\n",
			"proc/meminfo": meminfo,
		}, 2 * gib / 100 * cgroupLimitPercent, sourceCgroupV1},
		{"v1 without a limit", map[string]string{
			"proc/self/cgroup":                           "4:memory:/process_api/19b9\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			"proc/meminfo":                               meminfo,
		}, machine, sourceMachine},
		{"v1 garbled", map[string]string{
			"proc/self/cgroup":                           "4:memory:/\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "lots\n",
			"proc/meminfo":                               meminfo,
		}, machine, sourceMachine},
		{"no cgroup", map[string]string{"proc/meminfo": meminfo}, machine, sourceMachine},
		{"nothing readable", map[string]string{"proc/meminfo": "MemTotal: many\n"}, math.MaxInt64, sourceNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, tc.files)
			got, src := memoryLimit{mode: "auto"}.resolve(root, noEnv)
			if got != tc.want || src != tc.src {
				t.Errorf("resolve = %d (%s), want %d (%s)", got, src, tc.want, tc.src)
			}
		})
	}
}

// A size or off on the command line wins over everything auto reads, and
// auto leaves a GOMEMLIMIT alone.
func TestMemoryLimitExplicit(t *testing.T) {
	root := writeTree(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "1073741824\n",
		"proc/meminfo":             meminfo,
	})
	goEnv := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "100MiB"
		}
		return ""
	}
	for _, tc := range []struct {
		set  string
		env  func(string) string
		want int64
		src  memorySource
	}{
		{"6GiB", goEnv, 6 << 30, sourceFlag},
		{"off", goEnv, math.MaxInt64, sourceOff},
		{"OFF", nil, math.MaxInt64, sourceOff},
		{"auto", goEnv, -1, sourceGOMEMLIMT},
	} {
		var m memoryLimit
		if err := m.Set(tc.set); err != nil {
			t.Fatalf("Set(%q): %v", tc.set, err)
		}
		env := tc.env
		if env == nil {
			env = func(string) string { return "" }
		}
		if got, src := m.resolve(root, env); got != tc.want || src != tc.src {
			t.Errorf("%s: resolve = %d (%s), want %d (%s)", tc.set, got, src, tc.want, tc.src)
		}
	}
	for _, bad := range []string{"", "0", "lots", "-1GiB", "50%"} {
		var m memoryLimit
		if err := m.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted %v", bad, m)
		}
	}
}

// -memory-limit beats PYRE_MEMORY_LIMIT, which beats the default, auto;
// both serving commands have it.
func TestMemoryLimitFlagAndEnv(t *testing.T) {
	cfg, err := parseChat(nil, io.Discard)
	if err != nil || cfg.MemoryLimit.String() != "auto" {
		t.Fatalf("default: %v, %v; want auto", cfg.MemoryLimit.String(), err)
	}
	t.Setenv("PYRE_MEMORY_LIMIT", "512MiB")
	cfg, err = parseChat(nil, io.Discard)
	if err != nil || cfg.MemoryLimit != (memoryLimit{mode: "size", bytes: 512 << 20}) {
		t.Fatalf("from the environment: %+v, %v; want 512MiB", cfg.MemoryLimit, err)
	}
	cfg, err = parseChat([]string{"-memory-limit", "off"}, io.Discard)
	if err != nil || cfg.MemoryLimit.String() != "off" {
		t.Fatalf("flag over the environment: %+v, %v; want off", cfg.MemoryLimit, err)
	}
	dcfg, err := parseDonations([]string{"-memory-limit", "2GiB"}, io.Discard)
	if err != nil || dcfg.MemoryLimit.String() != "2GiB" {
		t.Fatalf("donations: %+v, %v; want 2GiB", dcfg.MemoryLimit, err)
	}
	if _, err := parseChat([]string{"-memory-limit", "lots"}, io.Discard); err == nil {
		t.Fatal("-memory-limit lots accepted")
	}
}
