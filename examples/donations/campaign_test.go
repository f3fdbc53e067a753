package donations

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/protocol"
)

func TestJoinPushesCampaignState(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	c := donor(t, app, srv, "ann")
	mustJoin(t, c, "campaign:alpha")

	m, got := awaitState(t, c, "campaign:alpha")
	want := CampaignState{Campaign: Campaign{ID: "alpha", Name: "Alpha", Goal: 1000}}
	if got != want {
		t.Errorf("campaign_state = %+v, want %+v", got, want)
	}
	if m.JoinRef != c.JoinRef("campaign:alpha") {
		t.Errorf("campaign_state join_ref = %q, want the join's %q", m.JoinRef, c.JoinRef("campaign:alpha"))
	}
}

func TestJoinUnknownCampaignIsRefused(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	c := donor(t, app, srv, "ann")
	for _, topic := range []string{"campaign:nope", "campaign:", "campaign:ALPHA"} {
		r, err := c.Join(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "error" || string(r.Response) != `{"reason":"unknown campaign"}` {
			t.Errorf("join %s = %s %s, want error unknown campaign", topic, r.Status, r.Response)
		}
	}
}

func TestDonationRepliesTotalAndBroadcasts(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	ann, bob := donor(t, app, srv, "ann"), donor(t, app, srv, "bob")
	const topic = "campaign:beta"
	mustJoin(t, ann, topic)
	mustJoin(t, bob, topic)

	clients := map[string]*channeltest.Client{"ann": ann, "bob": bob}
	steps := []struct {
		from      string
		amount    int
		donor     string
		wantDonor string
		wantTotal int64
	}{
		{"ann", 25, "Ann", "Ann", 25},
		{"bob", 10, "", "anonymous", 35},
		{"ann", MaxAmount, "  Ann  ", "Ann", 10_035},
	}
	for _, s := range steps {
		r := give(t, clients[s.from], topic, s.amount, s.donor)
		var reply map[string]int64
		if err := r.Decode(&reply); err != nil || r.Status != "ok" || !reflect.DeepEqual(reply, map[string]int64{"total": s.wantTotal}) {
			t.Fatalf("%s gives %d: reply %s %s, want ok {total: %d}", s.from, s.amount, r.Status, r.Response, s.wantTotal)
		}
		for who, c := range clients {
			m, err := c.AwaitPush(topic, "donation_received")
			if err != nil {
				t.Fatalf("%s: %v", who, err)
			}
			var got struct {
				Donor  string `json:"donor"`
				Amount int    `json:"amount"`
				Total  int64  `json:"total"`
			}
			if err := m.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Donor != s.wantDonor || got.Amount != s.amount || got.Total != s.wantTotal {
				t.Errorf("%s got donation_received %s, want donor %q amount %d total %d",
					who, m.Payload, s.wantDonor, s.amount, s.wantTotal)
			}
		}
	}
	snap, err := app.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := stateOf(*snap, "beta"); st.Total != 10_035 || st.Count != 3 {
		t.Errorf("ledger has beta at %d from %d donations, want 10035 from 3", st.Total, st.Count)
	}
}

func TestDonationValidation(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	c := donor(t, app, srv, "ann")
	const topic = "campaign:gamma"
	mustJoin(t, c, topic)

	cases := []struct {
		name    string
		payload any
		want    string // the errors object
	}{
		{"zero", map[string]any{"amount": 0}, `{"amount":["must be greater than 0"]}`},
		{"negative", map[string]any{"amount": -5}, `{"amount":["must be greater than 0"]}`},
		{"fraction", map[string]any{"amount": 2.5}, `{"amount":["must be a whole number"]}`},
		{"string", map[string]any{"amount": "10"}, `{"amount":["must be a whole number"]}`},
		{"too large", map[string]any{"amount": MaxAmount + 1}, `{"amount":["must be at most 10000"]}`},
		{"missing", map[string]any{"donor": "ann"}, `{"amount":["can't be blank"]}`},
		{"null", map[string]any{"amount": nil}, `{"amount":["can't be blank"]}`},
		{"donor not a string", map[string]any{"amount": 5, "donor": 7}, `{"donor":["must be a string"]}`},
		{"donor too long", map[string]any{"amount": 5, "donor": strings.Repeat("é", 65)},
			`{"donor":["should be at most 64 characters"]}`},
		{"both", map[string]any{"amount": 0, "donor": true},
			`{"amount":["must be greater than 0"],"donor":["must be a string"]}`},
		{"not an object", []int{5}, `{"payload":["must be an object"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Request(topic, "new_donation", tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Errors json.RawMessage `json:"errors"`
			}
			if err := r.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if r.Status != "error" || string(got.Errors) != tc.want {
				t.Errorf("reply = %s %s, want error {errors: %s}", r.Status, r.Response, tc.want)
			}
		})
	}
	// Nothing was recorded or broadcast: the first good donation starts
	// from zero, and its broadcast is the first one.
	r := give(t, c, topic, 1, "ann")
	if r.Status != "ok" || string(r.Response) != `{"total":1}` {
		t.Errorf("good donation after the bad ones: %s %s, want ok {total: 1}", r.Status, r.Response)
	}
	m, err := c.AwaitPush(topic, "donation_received")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Payload), `"total":1`) {
		t.Errorf("first donation_received = %s, want the good donation's", m.Payload)
	}
}

func TestUnknownEventIsUnmatched(t *testing.T) {
	app, srv := newTestApp(t, Config{})
	c := donor(t, app, srv, "ann")
	mustJoin(t, c, "campaign:alpha")
	r, err := c.Request("campaign:alpha", "refund", map[string]int{"amount": 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "error" || string(r.Response) != `{"reason":"unmatched event"}` {
		t.Errorf("reply = %s %s, want error unmatched event", r.Status, r.Response)
	}
}

// A crash restarts the channel in place: no phx_error, Join runs again and
// pushes a fresh campaign_state, pushes sent meanwhile are handled by the
// new behaviour, broadcasts still arrive, and the totals are intact.
func TestCrashRestartsPermanentChannel(t *testing.T) {
	logs := &logBuffer{}
	app, srv := newTestApp(t, Config{Logger: zerolog.New(logs)})
	const topic = "campaign:alpha"
	ann, bob := donor(t, app, srv, "ann"), donor(t, app, srv, "bob")
	mustJoin(t, ann, topic)
	mustJoin(t, bob, topic)
	awaitState(t, ann, topic)
	if r := give(t, ann, topic, 40, "ann"); r.Status != "ok" {
		t.Fatalf("donation before the crash: %s %s", r.Status, r.Response)
	}

	if _, err := ann.Push(topic, "crash", nil); err != nil {
		t.Fatal(err)
	}
	// Sent while the channel is down: it waits in the mailbox.
	during, err := ann.Push(topic, "new_donation", map[string]any{"amount": 2, "donor": "ann"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ann.AwaitReply(during)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "ok" || string(r.Response) != `{"total":42}` {
		t.Errorf("donation sent during the restart: %s %s, want ok {total: 42}", r.Status, r.Response)
	}
	m, st := awaitState(t, ann, topic)
	if st.Total != 42 || st.Count != 2 {
		t.Errorf("campaign_state after the restart = %+v, want total 42 from 2 donations", st)
	}
	if m.JoinRef != ann.JoinRef(topic) {
		t.Errorf("campaign_state after the restart has join_ref %q, want the original %q", m.JoinRef, ann.JoinRef(topic))
	}

	// Still subscribed: bob's donation reaches ann.
	if r := give(t, bob, topic, 8, "bob"); r.Status != "ok" {
		t.Fatalf("bob's donation: %s %s", r.Status, r.Response)
	}
	if _, err := ann.Await(func(m channeltest.Message) bool {
		return m.Topic == topic && m.Event == "donation_received" && strings.Contains(string(m.Payload), `"donor":"bob"`)
	}); err != nil {
		t.Fatalf("bob's donation_received after the restart: %v", err)
	}
	noFrame(t, ann, topic, "phx_error")
	noFrame(t, bob, topic, "phx_error")

	ev, ok := logs.find(func(ev map[string]any) bool { return ev["message"] == "channel crashed" })
	if !ok || ev["decision"] != "restart" || ev["policy"] != "permanent" || ev["topic"] != topic {
		t.Errorf("crash report = %v, want decision restart, policy permanent, topic %s", ev, topic)
	}
}

// More crashes than the policy allows within its period stop the channel:
// the client gets phx_error and may join again, to the same totals.
func TestCrashesBeyondIntensityStopChannel(t *testing.T) {
	logs := &logBuffer{}
	app, srv := newTestApp(t, Config{Logger: zerolog.New(logs)})
	const topic = "campaign:beta"
	c := donor(t, app, srv, "ann")
	mustJoin(t, c, topic)
	awaitState(t, c, topic)
	if r := give(t, c, topic, 9, "ann"); r.Status != "ok" {
		t.Fatalf("donation: %s %s", r.Status, r.Response)
	}
	joinRef := c.JoinRef(topic)

	for range campaignPolicy.Intensity + 1 {
		if _, err := c.Push(topic, "crash", nil); err != nil {
			t.Fatal(err)
		}
	}
	m, err := c.AwaitPush(topic, "phx_error")
	if err != nil {
		t.Fatal(err)
	}
	if m.JoinRef != joinRef {
		t.Errorf("phx_error join_ref = %q, want %q", m.JoinRef, joinRef)
	}
	ev, ok := logs.find(func(ev map[string]any) bool {
		return ev["message"] == "channel crashed" && ev["decision"] != "restart"
	})
	if !ok || ev["decision"] != "stop: restart intensity exceeded" || ev["policy"] != "permanent" {
		t.Errorf("final crash report = %v, want decision %q", ev, "stop: restart intensity exceeded")
	}

	mustJoin(t, c, topic)
	if _, st := awaitState(t, c, topic); st.Total != 9 {
		t.Errorf("campaign_state after rejoining = %+v, want total 9", st)
	}
}

func TestParseDonation(t *testing.T) {
	cases := []struct {
		in        string
		donor     string
		amount    int64
		wantError bool
	}{
		{`{"amount": 1}`, "anonymous", 1, false},
		{`{"amount": 10000, "donor": "Zoë"}`, "Zoë", 10000, false},
		{`{"amount": 5, "donor": null}`, "anonymous", 5, false},
		{`{"amount": 5, "donor": "   "}`, "anonymous", 5, false},
		{`{"amount": 1e3}`, "", 0, true},
		{`{"amount": 5.0}`, "", 0, true},
		{`{"amount": 99999999999999999999}`, "", 0, true},
		{`"5"`, "", 0, true},
		{`null`, "", 0, true},
	}
	for _, tc := range cases {
		donor, amount, errs := parseDonation(protocol.RawJSON([]byte(tc.in)))
		if (errs != nil) != tc.wantError || donor != tc.donor || amount != tc.amount {
			t.Errorf("parseDonation(%s) = %q, %d, %v; want %q, %d, errors %v",
				tc.in, donor, amount, errs, tc.donor, tc.amount, tc.wantError)
		}
	}
}
