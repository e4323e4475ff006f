package policy_test

import (
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
)

var jst = time.FixedZone("JST", 9*3600)

func at(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, jst) }

func TestDecide(t *testing.T) {
	gatePolicy := policy.Policy{
		Accept:       []string{policy.AssurancePINLess, policy.AssurancePIN},
		Fallback:     []string{policy.AssuranceCert},
		Location:     jst,
		ExitGrace:    30 * time.Minute,
		AntiPassback: true,
		CRLMaxStale:  72 * time.Hour,
	}
	ticket := whitelist.Entry{ServiceID: "T-1", Kind: whitelist.KindTicket,
		ValidFrom: at(1, 17, 0), ValidUntil: at(1, 22, 0), Zones: []string{"A", "B"}}
	staff := whitelist.Entry{ServiceID: "S-1", Kind: whitelist.KindStaff,
		Daily: whitelist.Daily{From: 8 * 60, Until: 20 * 60}}
	night := whitelist.Entry{ServiceID: "S-2", Kind: whitelist.KindStaff,
		Daily: whitelist.Daily{From: 22 * 60, Until: 6 * 60}}
	resident := whitelist.Entry{ServiceID: "R-1", Kind: whitelist.KindResident}
	gateOnly := whitelist.Entry{ServiceID: "T-2", Kind: whitelist.KindTicket, Zones: []string{"north-3"}}

	base := policy.Input{Now: at(1, 18, 0), Gate: "north-1", Zone: "A", Kind: event.KindEntry,
		Entry: ticket, Listed: true, Assurance: policy.AssurancePINLess}
	with := func(f func(*policy.Input)) policy.Input { in := base; f(&in); return in }

	tests := []struct {
		name string
		in   policy.Input
		want event.Reason
	}{
		{"admit", base, event.ReasonAdmit},
		{"revoked beats everything", with(func(in *policy.Input) { in.Revoked = true; in.Listed = false; in.Assurance = "cert" }), event.ReasonRevoked},
		{"CRL current", with(func(in *policy.Input) { in.CRLNextUpdate = at(1, 12, 0).Add(24 * time.Hour) }), event.ReasonAdmit},
		{"CRL stale within the bound", with(func(in *policy.Input) { in.CRLNextUpdate = at(1, 18, 0).Add(-71 * time.Hour) }), event.ReasonAdmit},
		{"CRL stale past the bound", with(func(in *policy.Input) { in.CRLNextUpdate = at(1, 18, 0).Add(-73 * time.Hour) }), event.ReasonRevocationStale},
		{"revoked beats a stale CRL", with(func(in *policy.Input) { in.Revoked = true; in.CRLNextUpdate = at(1, 18, 0).Add(-100 * time.Hour) }), event.ReasonRevoked},
		{"a stale CRL beats not listed", with(func(in *policy.Input) { in.Listed = false; in.CRLNextUpdate = at(1, 18, 0).Add(-100 * time.Hour) }), event.ReasonRevocationStale},
		{"not listed", with(func(in *policy.Input) { in.Listed = false; in.Entry = whitelist.Entry{} }), event.ReasonNotListed},
		{"not listed beats window", with(func(in *policy.Input) { in.Listed = false; in.Now = at(9, 0, 0) }), event.ReasonNotListed},
		{"before window", with(func(in *policy.Input) { in.Now = at(1, 16, 59) }), event.ReasonOutsideWindow},
		{"at window start", with(func(in *policy.Input) { in.Now = at(1, 17, 0) }), event.ReasonAdmit},
		{"at window end (exclusive)", with(func(in *policy.Input) { in.Now = at(1, 22, 0) }), event.ReasonOutsideWindow},
		{"expired entry, wrong zone too", with(func(in *policy.Input) { in.Now = at(2, 18, 0); in.Zone = "C" }), event.ReasonOutsideWindow},
		{"expired entry never admits at cert in emergency", with(func(in *policy.Input) { in.Now = at(5, 18, 0); in.Emergency = true; in.Assurance = "cert" }), event.ReasonOutsideWindow},
		{"exit within grace", with(func(in *policy.Input) { in.Now = at(1, 22, 10); in.Kind = event.KindExit }), event.ReasonAdmit},
		{"exit after grace", with(func(in *policy.Input) { in.Now = at(1, 22, 30); in.Kind = event.KindExit }), event.ReasonOutsideWindow},
		{"entry gets no grace", with(func(in *policy.Input) { in.Now = at(1, 22, 10) }), event.ReasonOutsideWindow},
		{"staff inside daily window", with(func(in *policy.Input) { in.Entry = staff; in.Now = at(3, 8, 0) }), event.ReasonAdmit},
		{"staff before daily window", with(func(in *policy.Input) { in.Entry = staff; in.Now = at(3, 7, 59) }), event.ReasonOutsideWindow},
		{"staff at daily end", with(func(in *policy.Input) { in.Entry = staff; in.Now = at(3, 20, 0) }), event.ReasonOutsideWindow},
		{"daily window in the policy's zone, not UTC", with(func(in *policy.Input) { in.Entry = staff; in.Now = at(3, 9, 0).UTC() }), event.ReasonAdmit},
		{"night shift after midnight", with(func(in *policy.Input) { in.Entry = night; in.Now = at(3, 2, 0) }), event.ReasonAdmit},
		{"night shift at noon", with(func(in *policy.Input) { in.Entry = night; in.Now = at(3, 12, 0) }), event.ReasonOutsideWindow},
		{"wrong zone", with(func(in *policy.Input) { in.Zone = "C" }), event.ReasonWrongZone},
		{"zone by gate name", with(func(in *policy.Input) { in.Entry = gateOnly; in.Gate = "north-3"; in.Zone = "" }), event.ReasonAdmit},
		{"gate not listed", with(func(in *policy.Input) { in.Entry = gateOnly; in.Zone = "" }), event.ReasonWrongZone},
		{"no zones admits everywhere", with(func(in *policy.Input) { in.Entry = resident; in.Zone = "anything" }), event.ReasonAdmit},
		{"cert not accepted", with(func(in *policy.Input) { in.Assurance = policy.AssuranceCert }), event.ReasonAssuranceNotAccepted},
		{"cert in declared emergency", with(func(in *policy.Input) { in.Assurance = policy.AssuranceCert; in.Emergency = true }), event.ReasonAdmit},
		{"pin accepted", with(func(in *policy.Input) { in.Assurance = policy.AssurancePIN }), event.ReasonAdmit},
		{"unknown level", with(func(in *policy.Input) { in.Assurance = ""; in.Emergency = true }), event.ReasonAssuranceNotAccepted},
		{"wrong zone beats assurance", with(func(in *policy.Input) { in.Zone = "C"; in.Assurance = policy.AssuranceCert }), event.ReasonWrongZone},
		{"already inside", with(func(in *policy.Input) { in.Inside = true }), event.ReasonAlreadyInside},
		{"inside may exit", with(func(in *policy.Input) { in.Inside = true; in.Kind = event.KindExit }), event.ReasonAdmit},
		{"wrong zone beats already inside", with(func(in *policy.Input) { in.Inside = true; in.Zone = "C" }), event.ReasonWrongZone},
		{"already inside beats assurance", with(func(in *policy.Input) { in.Inside = true; in.Assurance = policy.AssuranceCert }), event.ReasonAlreadyInside},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, r := policy.Decide(gatePolicy, tt.in)
			if r != tt.want {
				t.Fatalf("Decide = %s/%s, want reason %s", d, r, tt.want)
			}
			if (d == event.Admit) != (r == event.ReasonAdmit) {
				t.Fatalf("decision %s with reason %s", d, r)
			}
		})
	}
	if d, r := policy.Decide(policy.Policy{}, base); d != event.Deny || r != event.ReasonAssuranceNotAccepted {
		t.Fatalf("zero policy: %s/%s, want deny (fail closed)", d, r)
	}
}

func TestValidate(t *testing.T) {
	for name, tt := range map[string]struct {
		p  policy.Policy
		ok bool
	}{
		"pinless only":   {policy.Policy{Accept: []string{"pinless"}}, true},
		"shelter":        {policy.Policy{Accept: []string{"pinless"}, Fallback: []string{"cert"}}, true},
		"nothing":        {policy.Policy{}, false},
		"typo":           {policy.Policy{Accept: []string{"PIN"}}, false},
		"negative grace": {policy.Policy{Accept: []string{"pin"}, ExitGrace: -time.Second}, false},
	} {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", name, err, tt.ok)
		}
	}
}

// TestStaleCRLNeverDeniesWithoutBound: a shelter (CRLMaxStale 0) admits a card
// whose CA's CRL is long stale.
func TestStaleCRLNeverDeniesWithoutBound(t *testing.T) {
	p := policy.Policy{Accept: []string{policy.AssuranceCert}}
	in := policy.Input{Now: at(1, 18, 0), Kind: event.KindCheckin, Listed: true, Assurance: policy.AssuranceCert,
		Entry: whitelist.Entry{ServiceID: "R-1", Kind: whitelist.KindResident}, CRLNextUpdate: at(1, 18, 0).Add(-1000 * time.Hour)}
	if _, r := policy.Decide(p, in); r != event.ReasonAdmit {
		t.Fatalf("reason %s, want admit without a staleness bound", r)
	}
}
