package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v4"
	"github.com/rs/zerolog"
)

// The serving commands' flags: every one is also read from the environment
// as PYRE_ and its name upper-cased, dashes as underscores (-admin-key is
// PYRE_ADMIN_KEY); a flag on the command line wins over its variable.
// Each flag belongs to a group, under which -h lists it.

// envPrefix is the prefix of the environment variables that set flags.
const envPrefix = "PYRE"

// The groups of flags, in the order -h lists them.
const (
	groupServer   = "Server"
	groupSecurity = "Security"
	groupLimits   = "Limits"
	groupLongPoll = "Long-poll"
	groupCluster  = "Cluster"
	groupLogging  = "Logging and profiling"
)

var groupOrder = []string{groupServer, groupSecurity, groupLimits, groupLongPoll, groupCluster, groupLogging}

// flagSet is a command's flags, each in a group; flags marked secret are
// redacted in the logged configuration.
type flagSet struct {
	*flag.FlagSet
	group  string            // where the next flags go
	groups map[string]string // flag name → group
	order  []string          // flag names as registered
	secret map[string]func(string) string
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse prints nothing; -h is printed by usage
	return &flagSet{FlagSet: fs, groups: map[string]string{}, secret: map[string]func(string) string{}}
}

// in makes the flags registered next belong to group.
func (fs *flagSet) in(group string) *flagSet { fs.group = group; return fs }

// add records the group of the flag just registered as name.
func (fs *flagSet) add(name string) {
	if fs.group == "" {
		panic("pyre: flag -" + name + " registered outside a group")
	}
	fs.groups[name] = fs.group
	fs.order = append(fs.order, name)
}

func (fs *flagSet) str(p *string, name, def, usage string) {
	fs.StringVar(p, name, def, usage)
	fs.add(name)
}

// secretStr is a string flag whose value is never logged.
func (fs *flagSet) secretStr(p *string, name, usage string) {
	fs.str(p, name, "", usage)
	fs.secret[name] = redact
}

// urls is a string flag of comma-separated URLs whose credentials are
// never logged.
func (fs *flagSet) urls(p *string, name, def, usage string) {
	fs.str(p, name, def, usage)
	fs.secret[name] = redactURLs
}

func (fs *flagSet) int(p *int, name string, def int, usage string) {
	fs.IntVar(p, name, def, usage)
	fs.add(name)
}

// size is a flag of a number of bytes, written plain or with a KiB, MiB or
// GiB suffix.
func (fs *flagSet) size(p *int64, name string, def int64, usage string) {
	*p = def
	fs.Var((*byteSize)(p), name, usage)
	fs.add(name)
}

// byteSize is a size flag's value.
type byteSize int64

var sizeUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b *byteSize) String() string {
	for _, u := range sizeUnits {
		if *b != 0 && int64(*b)%u.n == 0 {
			if u.suffix == "B" {
				return strconv.FormatInt(int64(*b), 10)
			}
			return strconv.FormatInt(int64(*b)/u.n, 10) + u.suffix
		}
	}
	return "0"
}

// Get makes a size flag a flag.Getter, of int64.
func (b *byteSize) Get() any { return int64(*b) }

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return errors.New("want a number of bytes, such as 67108864 or 64MiB")
	}
	*b = byteSize(n * mult)
	return nil
}

func (fs *flagSet) float(p *float64, name string, def float64, usage string) {
	fs.Float64Var(p, name, def, usage)
	fs.add(name)
}

func (fs *flagSet) duration(p *time.Duration, name string, def time.Duration, usage string) {
	fs.DurationVar(p, name, def, usage)
	fs.add(name)
}

func (fs *flagSet) bool(p *bool, name string, def bool, usage string) {
	fs.BoolVar(p, name, def, usage)
	fs.add(name)
}

// envVar is the environment variable that sets the flag name.
func envVar(name string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parse reads args, then the environment for the flags args did not set.
// -h (or -help) prints the grouped usage on errOut and returns
// flag.ErrHelp.
func (fs *flagSet) parse(args []string, errOut io.Writer) error {
	ffs := ff.NewFlagSetFrom(fs.Name(), fs.FlagSet)
	err := ff.Parse(ffs, args, ff.WithEnvVarPrefix(envPrefix))
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.usage(errOut)
		return flag.ErrHelp
	case err != nil:
		return fmt.Errorf("%s: %w (pyre %s -h lists the flags)", fs.Name(), unwrapParse(err), fs.Name())
	}
	if rest := ffs.GetArgs(); len(rest) > 0 {
		return fmt.Errorf("%s: unexpected argument %q (pyre %s -h lists the flags)", fs.Name(), rest[0], fs.Name())
	}
	return nil
}

// unwrapParse drops ff's "parse args: " in front of a flag's error.
func unwrapParse(err error) error {
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "parse args: ") {
		return u
	}
	return err
}

// usage prints every flag under its group, with its environment variable
// and default.
func (fs *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: pyre %s [flags]\n\n", fs.Name())
	fmt.Fprintf(w, "Every flag can also be set by the environment variable named after it, as\n"+
		"shown (%s_ and the name in capitals, dashes as underscores);\n"+
		"a flag on the command line wins over its variable.\n", envPrefix)
	for _, group := range groupOrder {
		first := true
		for _, name := range fs.order {
			if fs.groups[name] != group {
				continue
			}
			if first {
				fmt.Fprintf(w, "\n%s:\n", group)
				first = false
			}
			f := fs.Lookup(name)
			kind, use := flag.UnquoteUsage(f)
			line := "  -" + name
			if kind != "" {
				line += " " + kind
			}
			fmt.Fprintf(w, "%-36s $%s\n", line, envVar(name))
			if def := f.DefValue; def != "" && def != "false" && def != "0" {
				if kind == "string" {
					def = fmt.Sprintf("%q", def)
				}
				use += " (default " + def + ")"
			}
			fmt.Fprint(w, wrap(use, "        ", 78))
		}
	}
}

// logConfig logs the effective configuration at debug level, one field
// per flag, secrets redacted.
func (fs *flagSet) logConfig(log zerolog.Logger) {
	e := log.Debug()
	if !e.Enabled() {
		return
	}
	cfg := zerolog.Dict()
	for _, name := range fs.order {
		v := fs.Lookup(name).Value.String()
		if hide := fs.secret[name]; hide != nil {
			v = hide(v)
		}
		cfg.Str(name, v)
	}
	e.Str("command", fs.Name()).Dict("config", cfg).Msg("configuration")
}

// redacted stands for a secret in the logged configuration.
const redacted = "[redacted]"

// redact hides a secret value; an empty one says that it is unset.
func redact(v string) string {
	if v == "" {
		return ""
	}
	return redacted
}

// redactURLs hides the credentials of comma-separated URLs; a part that
// is no URL is hidden whole, as it may be one mistyped.
func redactURLs(v string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" || !strings.Contains(p, "@") {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			parts[i] = redacted
			continue
		}
		u.User = url.User("redacted")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// wrap breaks text into lines of at most width columns (a longer word
// stands alone), each starting with indent and ending with a newline.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}
