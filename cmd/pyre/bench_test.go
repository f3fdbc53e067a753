package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/internal/testutil/chatserver"
	"github.com/pyrehq/pyre/loadgen"
)

func TestBenchModes(t *testing.T) {
	url := chatserver.Start(t).URL
	for _, tc := range []struct {
		args  []string
		check func(t *testing.T, m map[string]any)
	}{
		{[]string{"storm", "-conns", "8", "-src-ips", "2"}, func(t *testing.T, m map[string]any) {
			if m["joined"] != 8.0 || m["failed"] != 0.0 || m["src_ips"] != 2.0 {
				t.Errorf("storm: joined %v, failed %v, src_ips %v; want 8, 0, 2", m["joined"], m["failed"], m["src_ips"])
			}
		}},
		{[]string{"reconnect", "-conns", "6", "-jitter", "0.5", "-duration", "20s"}, func(t *testing.T, m map[string]any) {
			if m["joined"] != 6.0 || m["failed"] != 0.0 || m["attempts"] != 6.0 || m["jitter"] != 0.5 {
				t.Errorf("reconnect: joined %v, failed %v, attempts %v, jitter %v; want 6, 0, 6, 0.5", m["joined"], m["failed"], m["attempts"], m["jitter"])
			}
		}},
		{[]string{"fanout", "-subs", "4", "-count", "10", "-window", "2", "-label", "pyre"}, func(t *testing.T, m map[string]any) {
			if m["received"] != 40.0 || m["lost"] != 0.0 || m["reordered"] != 0.0 || m["label"] != "pyre" {
				t.Errorf("fanout: received %v, lost %v, reordered %v, label %v; want 40, 0, 0, pyre", m["received"], m["lost"], m["reordered"], m["label"])
			}
		}},
		{[]string{"fanout", "-subs", "3", "-slow", "1", "-count", "10", "-drain", "200ms"}, func(t *testing.T, m map[string]any) {
			// The default queue never fills with ten messages: the slow
			// subscriber stays open, and the healthy two get everything.
			if m["slow"] != 1.0 || m["slow_closed"] != 0.0 || m["received"] != 20.0 || m["expected"] != 20.0 || m["lost"] != 0.0 {
				t.Errorf("fanout -slow: slow %v, slow_closed %v, received %v of %v, lost %v; want 1, 0, 20 of 20, 0",
					m["slow"], m["slow_closed"], m["received"], m["expected"], m["lost"])
			}
		}},
		{[]string{"ping", "-clients", "2", "-duration", "200ms"}, func(t *testing.T, m map[string]any) {
			if r, _ := m["replies"].(float64); r <= 0 || m["failed"] != 0.0 {
				t.Errorf("ping: replies %v, failed %v; want some and none", m["replies"], m["failed"])
			}
		}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(tc.args, "-target", url, "-json")
			if err := bench(t.Context(), args, &out, &errOut); err != nil {
				t.Fatalf("bench %v: %v\n%s", args, err, errOut.String())
			}
			var m map[string]any
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
			}
			if m["mode"] != tc.args[0] || m["tool"] != "pyre bench" {
				t.Errorf("mode %v, tool %v", m["mode"], m["tool"])
			}
			tc.check(t, m)
		})
	}
}

func TestBenchSummary(t *testing.T) {
	url := chatserver.Start(t).URL
	var out bytes.Buffer
	if err := bench(t.Context(), []string{"fanout", "-target", url, "-subs", "2", "-count", "5"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fanout " + url, "delivered     10 of 10", "lost 0 (0.000%)", "latency       p50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want error
	}{
		{[]string{"storm", "-target", "http://192.0.2.1:4000"}, loadgen.ErrNotLoopback},
		{[]string{"fanout", "-target", "example.com:80"}, loadgen.ErrNotLoopback},
		{[]string{"ping", "-h"}, flag.ErrHelp},
		{[]string{"-h"}, flag.ErrHelp},
	} {
		var out bytes.Buffer
		if err := bench(t.Context(), tc.args, &out, &out); !errors.Is(err, tc.want) {
			t.Errorf("bench %v: %v, want %v", tc.args, err, tc.want)
		}
	}
	for _, args := range [][]string{
		nil,
		{"flood"},
		{"storm", "-allow-remote"},
		{"storm", "-token", "t", "-no-login"},
		{"fanout", "-window", "-1"},
		{"fanout", "-slow", "-1"},
		{"fanout", "-subs", "2", "-slow", "2"},
		{"ping", "extra"},
	} {
		var out bytes.Buffer
		if err := bench(t.Context(), args, &out, &out); err == nil {
			t.Errorf("bench %v: no error", args)
		}
	}
}
