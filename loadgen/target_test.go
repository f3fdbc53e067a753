package loadgen

import "testing"

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4000":     "ws://127.0.0.1:4000",
		"127.0.0.1:4000":            "ws://127.0.0.1:4000",
		"localhost:4000":            "ws://127.0.0.1:4000",
		"http://LocalHost:4000/x":   "ws://127.0.0.1:4000",
		"ws://127.9.8.7:1":          "ws://127.9.8.7:1",
		"https://127.0.0.1":         "wss://127.0.0.1:443",
		"http://[::1]:4000":         "ws://[::1]:4000",
		"http://[::ffff:127.0.0.1]": "ws://127.0.0.1:80",
	} {
		tgt, err := parseTarget(in)
		if err != nil {
			t.Errorf("parseTarget(%q): %v", in, err)
			continue
		}
		if got := tgt.ws.String(); got != want {
			t.Errorf("parseTarget(%q) = %s, want %s", in, got, want)
		}
	}
	if _, err := parseTarget("ftp://127.0.0.1"); err == nil {
		t.Error("ftp scheme accepted")
	}
}
