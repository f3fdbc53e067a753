package topics

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSubjectTokenRoundTrip(t *testing.T) {
	tests := []struct{ topic, want string }{
		{"room:lobby", "room:lobby"},
		{"", "~"},
		{"a.b", "a~2Eb"},
		{"a b", "a~20b"},
		{"*", "~2A"},
		{">", "~3E"},
		{"~", "~7E"},
		{"users_socket:42", "users_socket:42"},
		{"é", "~C3~A9"},
		{"room:\x00\xff", "room:~00~FF"},
	}
	for _, tt := range tests {
		got := SubjectToken(tt.topic)
		if got != tt.want {
			t.Errorf("SubjectToken(%q) = %q, want %q", tt.topic, got, tt.want)
		}
		back, err := TopicOf(got)
		if err != nil || back != tt.topic {
			t.Errorf("TopicOf(%q) = %q, %v; want %q", got, back, err, tt.topic)
		}
	}
	long := strings.Repeat("ü.* >", 205)[:1024]
	if back, err := TopicOf(SubjectToken(long)); err != nil || back != long {
		t.Fatalf("1 KiB topic did not round-trip: %v", err)
	}
}

func TestTopicOfRejects(t *testing.T) {
	for _, tok := range []string{"", "~", "a~", "a~4", "~zz", "~41", "a.b", "a b", "~2a"} {
		if tok == "~" {
			continue // the empty topic
		}
		if _, err := TopicOf(tok); err == nil {
			t.Errorf("TopicOf(%q) accepted a token SubjectToken never makes", tok)
		}
	}
}

func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{"", "room:lobby", "a.b.c", "*", ">", "~", "é ü", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		tok := SubjectToken(topic)
		if tok == "" || strings.ContainsAny(tok, ". *>\t\r\n") || !utf8.ValidString(tok) {
			t.Fatalf("SubjectToken(%q) = %q is not a single safe token", topic, tok)
		}
		back, err := TopicOf(tok)
		if err != nil || back != topic {
			t.Fatalf("round trip of %q: %q, %v", topic, back, err)
		}
	})
}
