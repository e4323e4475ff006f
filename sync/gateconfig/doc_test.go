package gateconfig

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/policy"
)

func ptr[T any](v T) *T { return &v }

// until is the end of the test emergencies.
var until = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Doc
	}{
		{"emergency only", `{"emergency":true,"emergency_until":"2026-09-01T09:00:00Z"}`, Doc{Emergency: true, EmergencyUntil: &until}},
		{"until in another zone", `{"emergency":true,"emergency_until":"2026-09-01T18:00:00+09:00"}`, Doc{Emergency: true, EmergencyUntil: &until}},
		{"all", `{"emergency":false,"anti_passback":false,"accept":["pinless","pin"],"fallback":["cert"],"note":"typhoon 12: shelters open"}`,
			Doc{AntiPassback: ptr(false), Accept: []string{"pinless", "pin"}, Fallback: []string{"cert"}, Note: "typhoon 12: shelters open"}},
		{"nulls keep the gate's own", `{"emergency":true,"emergency_until":"2026-09-01T09:00:00Z","anti_passback":null,"accept":null,"fallback":null,"note":""}`, Doc{Emergency: true, EmergencyUntil: &until}},
		{"no fallback", `{"emergency":false,"fallback":[]}`, Doc{Fallback: []string{}}},
		{"whitespace", " {\n \"emergency\" : false } \n", Doc{}},
		{"japanese note", `{"emergency":true,"emergency_until":"2026-09-01T09:00:00Z","note":"避難所開設"}`, Doc{Emergency: true, EmergencyUntil: &until, Note: "避難所開設"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", ``, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"no emergency", `{}`, `"emergency" is required`},
		{"emergency without an end", `{"emergency":true}`, "an emergency needs an end"},
		{"end without an emergency", `{"emergency":false,"emergency_until":"2026-09-01T09:00:00Z"}`, "emergency_until without an emergency"},
		{"end not a time", `{"emergency":true,"emergency_until":"tomorrow"}`, "cannot parse"},
		{"unknown key", `{"emergency":true,"mode":"shelter"}`, `unknown key "mode"`},
		{"other case", `{"Emergency":true}`, `unknown key "Emergency"`},
		{"duplicate", `{"emergency":true,"emergency":false}`, "given twice"},
		{"trailing", `{"emergency":true}{}`, "trailing data"},
		{"trailing garbage", `{"emergency":true} x`, "trailing data"},
		{"truncated", `{"emergency":true`, "EOF"},
		{"wrong type", `{"emergency":"yes"}`, "must be true or false"},
		{"level not a string", `{"emergency":true,"accept":[1]}`, "cannot unmarshal"},
		{"emergency null", `{"emergency":null}`, "must be true or false"},
		{"unknown level", `{"emergency":true,"accept":["face"]}`, `level "face" is not one of`},
		{"fallback level", `{"emergency":true,"fallback":["CERT"]}`, `level "CERT" is not one of`},
		{"empty accept", `{"emergency":true,"accept":[]}`, "accept is empty"},
		{"repeated level", `{"emergency":true,"accept":["pin","pin"]}`, "given twice"},
		{"long note", `{"emergency":true,"note":"` + strings.Repeat("a", MaxNote+1) + `"}`, "note is"},
		{"note line break", `{"emergency":true,"note":"a\nb"}`, "control characters"},
		{"note bad utf8", "{\"emergency\":true,\"note\":\"\xff\"}", "UTF-8"},
		{"too big", `{"emergency":true,"note":"` + strings.Repeat(" ", MaxSize) + `"}`, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if !errors.Is(err, ErrDoc) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want ErrDoc with %q", err, tc.wantErr)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, d := range []Doc{
		{},
		{Emergency: true, EmergencyUntil: &until, AntiPassback: ptr(true), Accept: []string{"cert"}, Fallback: []string{}, Note: "drill"},
		{Fallback: []string{"cert", "pin"}},
	} {
		b, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b)
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("%s: got %+v, %v; want %+v", b, got, err, d)
		}
	}
	if _, err := (Doc{Accept: []string{"retina"}}).Marshal(); !errors.Is(err, ErrDoc) {
		t.Fatalf("Marshal of an invalid doc: %v", err)
	}
}

func TestPolicy(t *testing.T) {
	base := policy.Policy{Accept: []string{"pinless"}, Fallback: []string{"cert"}, AntiPassback: true}
	tests := []struct {
		name    string
		d       Doc
		want    policy.Policy
		wantErr bool
	}{
		{"nothing overridden", Doc{Emergency: true}, base, false},
		{"all overridden", Doc{AntiPassback: ptr(false), Accept: []string{"pin"}, Fallback: []string{}},
			policy.Policy{Accept: []string{"pin"}, Fallback: []string{}, AntiPassback: false}, false},
		{"accept only", Doc{Accept: []string{"cert", "pin"}},
			policy.Policy{Accept: []string{"cert", "pin"}, Fallback: []string{"cert"}, AntiPassback: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.d.Policy(base)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	// A policy that would accept nothing is refused and base comes back.
	empty := policy.Policy{Accept: []string{"pin"}}
	if got, err := (Doc{Accept: nil, Fallback: []string{}}).Policy(empty); err != nil || !reflect.DeepEqual(got.Accept, []string{"pin"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := (Doc{Accept: []string{"retina"}}).Policy(base); err == nil {
		t.Fatal("invalid level accepted into a policy")
	}
}

func TestLogValue(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "config", Doc{Emergency: true, EmergencyUntil: &until, Fallback: []string{}, Accept: []string{"pin", "cert"}, Note: "drill"})
	want := "config.emergency=true config.emergency_until=2026-09-01T09:00:00Z config.anti_passback=gate config.accept=pin,cert config.fallback=none config.note=drill"
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("log %q lacks %q", buf.String(), want)
	}
}
