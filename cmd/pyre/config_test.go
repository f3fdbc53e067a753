package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The serving commands' flag sets, fresh each call.
var flagSets = map[string]func() *flagSet{
	"chat":      func() *flagSet { return chatFlags(&chatConfig{}) },
	"donations": func() *flagSet { return donationsFlags(&donationsConfig{}) },
}

// sample returns two values of f's type that differ from each other and
// from its default, as its flag would take them and print them back.
func sample(t *testing.T, f *flag.Flag) (a, b string) {
	t.Helper()
	getter, ok := f.Value.(flag.Getter)
	if !ok {
		t.Fatalf("-%s: a value of type %T, which the test cannot fill", f.Name, f.Value)
	}
	switch getter.Get().(type) {
	case string:
		return "from-env", "from-command-line"
	case int:
		return "7", "9"
	case float64:
		return "7.5", "9.25"
	case int64:
		return "128MiB", "3GiB"
	case time.Duration:
		return "7s", "9m0s"
	case memoryLimit:
		return "off", "3GiB"
	case bool:
		return "true", "false"
	}
	t.Fatalf("-%s: a value of type %T, which the test cannot fill", f.Name, getter.Get())
	return "", ""
}

// Every flag of every serving command is set by its PYRE_ variable, and
// the command line wins over it. The flags come from the commands' own
// flag sets, so a flag added without its variable fails here.
func TestEveryFlagHasItsEnvVar(t *testing.T) {
	for cmd, newSet := range flagSets {
		n := 0
		newSet().VisitAll(func(f *flag.Flag) {
			n++
			t.Run(cmd+" -"+f.Name, func(t *testing.T) {
				env, cli := sample(t, f)
				if env == f.DefValue || (f.DefValue == "" && env == "false") {
					env, cli = cli, env
				}
				if cli == f.DefValue {
					// A bool whose default is what the command line
					// gives: the variable sets the other value.
					env, cli = cli, env
				}
				key := envVar(f.Name)
				if !regexp.MustCompile(`^PYRE_[A-Z0-9_]+$`).MatchString(key) {
					t.Fatalf("variable %q", key)
				}
				t.Setenv(key, env)
				fs := newSet()
				if err := fs.parse(nil, io.Discard); err != nil {
					t.Fatalf("%s=%s: %v", key, env, err)
				}
				if got := fs.Lookup(f.Name).Value.String(); got != env {
					t.Errorf("%s=%s set -%s to %q", key, env, f.Name, got)
				}
				fs = newSet()
				if err := fs.parse([]string{"-" + f.Name + "=" + cli}, io.Discard); err != nil {
					t.Fatal(err)
				}
				if got := fs.Lookup(f.Name).Value.String(); got != cli {
					t.Errorf("-%s=%s with %s=%s: %q, want the command line's", f.Name, cli, key, env, got)
				}
			})
		})
		if n < 10 {
			t.Errorf("%s has only %d flags", cmd, n)
		}
	}
}

// The variables pyre read before every flag had one still work.
func TestLegacyEnvVars(t *testing.T) {
	for key, name := range map[string]string{
		"PYRE_ADMIN_KEY": "admin-key", "PYRE_SECRET": "secret", "PYRE_NODE": "node", "PYRE_ASSETS": "assets",
		"PYRE_NATS": "nats", "PYRE_JETSTREAM": "jetstream", "PYRE_NATS_PASSWORD": "nats-password", "PYRE_NATS_TOKEN": "nats-token",
	} {
		t.Setenv(key, "legacy-value-"+name)
		fs := flagSets["chat"]()
		if err := fs.parse(nil, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := fs.Lookup(name).Value.String(); got != "legacy-value-"+name {
			t.Errorf("%s set -%s to %q", key, name, got)
		}
		t.Setenv(key, "")
	}
}

// pyre help CMD and pyre CMD -h list every flag once, under its group,
// with its variable.
func TestHelpListsEveryFlagInAGroup(t *testing.T) {
	heading := regexp.MustCompile(`^([A-Z][A-Za-z -]*):$`)
	flagLine := regexp.MustCompile(`^  -([a-z0-9-]+)\b.*\$(PYRE_[A-Z0-9_]+)$`)
	for cmd, newSet := range flagSets {
		for _, args := range [][]string{{"help", cmd}, {cmd, "-h"}, {cmd, "-help"}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var out bytes.Buffer
				if err := run(context.Background(), args[0], args[1:], io.Discard, &out); !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err %v, want flag.ErrHelp", err)
				}
				listed := map[string]string{} // flag → the group it is listed under
				group := ""
				for line := range strings.Lines(out.String()) {
					line = strings.TrimRight(line, "\n")
					if m := heading.FindStringSubmatch(line); m != nil {
						group = m[1]
						continue
					}
					m := flagLine.FindStringSubmatch(line)
					if m == nil {
						continue
					}
					if _, dup := listed[m[1]]; dup {
						t.Errorf("-%s listed twice", m[1])
					}
					if m[2] != envVar(m[1]) {
						t.Errorf("-%s listed with $%s, want $%s", m[1], m[2], envVar(m[1]))
					}
					listed[m[1]] = group
				}
				fs := newSet()
				fs.VisitAll(func(f *flag.Flag) {
					g, ok := listed[f.Name]
					switch {
					case !ok:
						t.Errorf("-%s is not listed:\n%s", f.Name, out.String())
					case g == "":
						t.Errorf("-%s is listed under no group", f.Name)
					case g != fs.groups[f.Name]:
						t.Errorf("-%s is listed under %q, want %q", f.Name, g, fs.groups[f.Name])
					}
					delete(listed, f.Name)
				})
				for name := range listed {
					t.Errorf("-%s is listed but is no flag", name)
				}
			})
		}
	}
}

// The configuration is logged at debug level at start-up, every flag's
// value in it and no secret: secrets given by variable and by flag alike.
func TestConfigLogHasNoSecret(t *testing.T) {
	secrets := map[string]string{
		"PYRE_ADMIN_KEY":     "admin-S3CRET-one",
		"PYRE_NATS_PASSWORD": "nats-S3CRET-two",
		"PYRE_NATS_TOKEN":    "nats-S3CRET-three",
	}
	for key, v := range secrets {
		t.Setenv(key, v)
	}
	for cmd, newSet := range flagSets {
		t.Run(cmd, func(t *testing.T) {
			c := startCommand(t, cmd, "-log-level", "debug", "-secret", "signing-S3CRET-four", "-drain", "3s")
			line := c.Log.await(t, `"configuration"`, c.done, func(s string) bool {
				return strings.Contains(s, `"message":"configuration"`)
			})
			if strings.Contains(line, "S3CRET") {
				t.Fatalf("the configuration line shows a secret: %s", line)
			}
			for _, want := range []string{`"admin-key":"[redacted]"`, `"secret":"[redacted]"`, `"drain":"3s"`, `"log-level":"debug"`} {
				if !strings.Contains(line, want) {
					t.Errorf("the configuration line has no %s: %s", want, line)
				}
			}
			newSet().VisitAll(func(f *flag.Flag) {
				if !strings.Contains(line, fmt.Sprintf("%q:", f.Name)) {
					t.Errorf("the configuration line has no -%s: %s", f.Name, line)
				}
			})
			c.login(t, "alice")
			for _, l := range c.Log.All() {
				if strings.Contains(l, "S3CRET") {
					t.Errorf("a log line shows a secret: %s", l)
				}
			}
		})
	}
}

// Credentials in NATS URLs are redacted too, the rest of the URLs kept.
func TestConfigLogRedactsNATSURLs(t *testing.T) {
	fs := flagSets["chat"]()
	nats := "nats://bob:pw-S3CRET@10.0.0.1:4222, nats://tok-S3CRET@10.0.0.2:4222,nats://10.0.0.3:4222,tls://x:S3CRET@[bad"
	if err := fs.parse([]string{"-nats", nats, "-nats-password", "S3CRET"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fs.logConfig(zerolog.New(&out))
	got := out.String()
	if strings.Contains(got, "S3CRET") {
		t.Fatalf("a secret in the configuration: %s", got)
	}
	want := `"nats":"nats://redacted@10.0.0.1:4222,nats://redacted@10.0.0.2:4222,nats://10.0.0.3:4222,[redacted]"`
	if !strings.Contains(got, want) {
		t.Errorf("configuration %s, want %s", got, want)
	}
	// Above debug level nothing is logged.
	out.Reset()
	fs.logConfig(zerolog.New(&out).Level(zerolog.InfoLevel))
	if out.Len() != 0 {
		t.Errorf("logged at info level: %s", out.String())
	}
}

// A size flag takes plain bytes or a binary unit, and refuses the rest.
func TestSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"67108864": 64 << 20, "64MiB": 64 << 20, "512KiB": 512 << 10, " 2GiB": 2 << 30, "1000": 1000, "7B": 7} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, int64(b), err, want)
		}
	}
	for _, in := range []string{"", "64MB", "-1", "1.5GiB", "9999999999GiB", "MiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) accepted %d", in, int64(b))
		}
	}
	cfg, err := parseChat([]string{"-history-budget", "16MiB", "-history-idle", "5m"}, io.Discard)
	if err != nil || cfg.Cluster.HistoryBudget != 16<<20 || cfg.Cluster.HistoryIdleTTL != 5*time.Minute {
		t.Fatalf("parseChat = %+v, %v; want a 16 MiB budget and a 5m TTL", cfg.Cluster, err)
	}
}
