package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeCommands returns the pyre (or bin/pyre) command lines of the
// README's sh blocks, without their comments.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	inBlock := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock && line == "```sh"
		case inBlock && (strings.HasPrefix(line, "pyre ") || strings.HasPrefix(line, "bin/pyre ")):
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// Every pyre command the README shows takes the flags it is given and
// passes the command's checks, as written: the way a newcomer copies it.
// (It is parsed, not run: several of them name fixed ports.)
func TestREADMECommands(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 5 {
		t.Fatalf("found only %d pyre commands in the README: %q", len(cmds), cmds)
	}
	// A README command may name -assets node_modules/phoenix/priv/static
	// (where `npm install phoenix` puts the client); this directory has one.
	dir := t.TempDir()
	static := filepath.Join(dir, "node_modules", "phoenix", "priv", "static")
	if err := os.MkdirAll(static, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(static, "phoenix.mjs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("PYRE_SECRET", "")
	t.Setenv("PYRE_NATS", "")
	t.Setenv("PYRE_ASSETS", "")
	for _, line := range cmds {
		args := strings.Fields(line)[1:]
		var err error
		switch args[0] {
		case "chat":
			_, err = parseChat(args[1:], io.Discard)
		case "donations":
			_, err = parseDonations(args[1:], io.Discard)
		default:
			t.Errorf("%s: not a serving command the test knows", line)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
}
