package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
)

// TestExampleConfigs loads every shipped example of a gate config: an example
// that does not load is a broken promise to the operator who copies it. (The
// hub's, configs/gatehub.json, is the hub package's to check.)
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../configs/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("example configs: %v, %v", files, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "gatehub.json" {
			continue // the hub's example, checked by package hub
		}
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	base := `"site":"s","gate":"g","roots":["r.pem"],"card_key":{"secret_file":"k"}`
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown key", `{` + base + `,"turnstyle":1}`, `unknown key "turnstyle"`},
		{"unknown nested key", `{` + base + `,"mqtt":{"brokr":"tcp://x:1"}}`, `unknown key "brokr"`},
		{"syntax error line", "{\n" + base + ",\n\"mode\": venue}", "line 3"},
		{"type error", `{` + base + `,"mode":3}`, `key "mode"`},
		{"missing site", `{"gate":"g","roots":["r"],"card_key":{"secret_file":"k"}}`, "site is required"},
		{"slash in gate", `{"site":"s","gate":"a/b","roots":["r"],"card_key":{"secret_file":"k"}}`, "may not contain"},
		{"bad mode", `{` + base + `,"mode":"stadium"}`, `mode "stadium"`},
		{"bad kind", `{` + base + `,"lanes":[{"reader":"*","kind":"enter"}]}`, `kind "enter"`},
		{"bad broker", `{` + base + `,"mqtt":{"broker":"mqtt://x"}}`, "tcp://host:port"},
		{"plain TCP to another host", `{` + base + `,"mqtt":{"broker":"tcp://192.0.2.10:1883"}}`, "plain TCP off loopback"},
		{"plain TCP by name", `{` + base + `,"mqtt":{"broker":"tcp://hub.example.jp:1883"}}`, "plain TCP off loopback"},
		{"bad duration", `{` + base + `,"clock_skew":"5 minutes"}`, `duration "5 minutes"`},
		{"trailing", `{` + base + `} {}`, "trailing data"},
		{"peer events ahead below a second", `{` + base + `,"peers":{"max_ahead":"500ms"}}`, "peers.max_ahead 500ms: want at least 1s"},
		{"peer events ahead negative", `{` + base + `,"peers":{"max_ahead":"-10m"}}`, "peers.max_ahead -10m0s"},
		{"negative exchange bound", `{` + base + `,"pinless":{"max_exchange_ms":-1}}`, "pinless.max_exchange_ms -1"},
		{"next secret file beside hsm", `{"site":"s","gate":"g","roots":["r"],"hsm":{"module":"m","token_label":"t","pin_file":"p"},"card_key":{"next_secret_file":"k2"}}`, "next_secret_file is set but so is hsm"},
		{"next label without hsm", `{` + strings.Replace(base, `"secret_file":"k"`, `"secret_file":"k","next_hsm_label":"n"`, 1) + `}`, "next_hsm_label is set without hsm"},
		{"next label is the current one", `{"site":"s","gate":"g","roots":["r"],"hsm":{"module":"m","token_label":"t","pin_file":"p"},"card_key":{"next_hsm_label":"mynagate-cardkey"}}`, "is the current secret's label"},
		{"next file is the current one", `{` + strings.Replace(base, `"secret_file":"k"`, `"secret_file":"k","next_secret_file":"k"`, 1) + `}`, "next_secret_file is the current secret's file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gate.json")
	os.WriteFile(p, []byte(`{"site":"s","gate":"g","mode":"shelter","data_dir":"data","roots":["roots/a.pem"],"card_key":{"secret_file":"k"}}`), 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Roots[0] != filepath.Join(dir, "roots/a.pem") || c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("relative paths not resolved against the config's directory: %v %v", c.Roots, c.DataDir)
	}
	if len(c.Lanes) != 1 || c.Lanes[0].Kind != event.KindCheckin || c.Lanes[0].Reader != "*" {
		t.Errorf("shelter default lane = %+v", c.Lanes)
	}
	if time.Duration(c.ClockSkew) != 5*time.Minute || c.Log != "info" || time.Duration(c.Peers.MaxAhead) != 10*time.Minute {
		t.Errorf("defaults: skew %v log %q peers.max_ahead %v", time.Duration(c.ClockSkew), c.Log, time.Duration(c.Peers.MaxAhead))
	}
	c, err = Parse([]byte(`{"site":"s","gate":"g","roots":["r.pem"],"card_key":{"secret_file":"k"},"peers":{"max_ahead":"2m"}}`))
	if err != nil || time.Duration(c.Peers.MaxAhead) != 2*time.Minute {
		t.Errorf("peers.max_ahead \"2m\": %v, %v", err, c)
	}
}

// TestShelterKeys: place defaults to the gate, check-out by a second tap is on
// unless turned off, and the control socket's token sits next to it.
func TestShelterKeys(t *testing.T) {
	base := `"site":"city","gate":"es2-a","mode":"shelter","roots":["r.pem"],"card_key":{"secret_file":"k"}`
	for _, tc := range []struct {
		name, extra    string
		place, token   string
		toggle         bool
		wantErrContain string
	}{
		{"defaults", ``, "es2-a", "", true, ""},
		{"named place", `,"place":"elementary-school-2"`, "elementary-school-2", "", true, ""},
		{"toggle off", `,"shelter":{"checkout_toggle":false}`, "es2-a", "", false, ""},
		{"socket", `,"control":{"socket":"/run/mynagate/gateagent.sock"}`, "es2-a", "/run/mynagate/gateagent.sock.token", true, ""},
		{"slash in place", `,"place":"a/b"`, "", "", false, "place \"a/b\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(`{` + base + tc.extra + `}`))
			if tc.wantErrContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContain) {
					t.Fatalf("err %v, want %q", err, tc.wantErrContain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Place != tc.place || *c.Shelter.CheckoutToggle != tc.toggle || c.Control.TokenFile != tc.token {
				t.Fatalf("place %q toggle %v token %q", c.Place, *c.Shelter.CheckoutToggle, c.Control.TokenFile)
			}
		})
	}
}
