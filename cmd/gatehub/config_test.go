package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
)

// TestConfigCommands drives what a disaster office does: declare an
// emergency at a site's gates, look at it, end it; and checks that a gate
// subscribed to the site receives the signed config.
func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	cfgPath := filepath.Join(dir, "gatehub.json")
	cfg := fmt.Sprintf(`{"data_dir": "data", "listen": "127.0.0.1:%d", "signing_key": "sign.pem", "demo_file_keys": true, "username": "hub", "password_file": "hub.password"}`, port)
	if err := os.WriteFile(filepath.Join(dir, "hub.password"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, stderr, code := runCmd(t, ctx, "keygen", "--out", filepath.Join(dir, "sign.pem")); code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	pub, err := lists.LoadPrivateKey(filepath.Join(dir, "sign.pem"))
	if err != nil {
		t.Fatal(err)
	}
	startRun(t, ctx, cfgPath)

	out, stderr, code := runCmd(t, ctx, "config", "show", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "no site has a config") {
		t.Fatalf("config show before any set: %d %s %s", code, out, stderr)
	}
	// The broker may still be starting.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, stderr, code = runCmd(t, ctx, "config", "set", "--config", cfgPath, "--site", "shelter",
			"--emergency", "--for", "12h", "--fallback", "cert", "--anti-passback=false", "--note", "typhoon 12: shelters open")
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "shelter: config v") || !strings.Contains(out, "EMERGENCY DECLARED until ") ||
		!strings.Contains(out, "; anti-passback off; accept each gate's own; fallback cert") || !strings.Contains(out, "signed until ") {
		t.Fatalf("config set: %d %s %s", code, out, stderr)
	}
	// Times in the site's zone: the config names none, so Asia/Tokyo.
	for _, re := range []string{`published \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+09:00`, `EMERGENCY DECLARED until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00;`, `signed until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("config set: %q not in the site's zone (want %s)", out, re)
		}
	}
	if strings.Contains(stderr, "WARNING") {
		t.Fatalf("config set warned about an emergency that takes effect: %s", stderr)
	}
	out, stderr, code = runCmd(t, ctx, "config", "show", "--config", cfgPath, "--site", "shelter", "--json")
	var sc hub.SiteConfig
	if code != 0 || json.Unmarshal([]byte(out), &sc) != nil {
		t.Fatalf("config show: %d %s %s", code, out, stderr)
	}
	want := gateconfig.Doc{Emergency: true, EmergencyUntil: sc.Doc.EmergencyUntil, AntiPassback: sc.Doc.AntiPassback, Fallback: []string{"cert"}, Note: "typhoon 12: shelters open"}
	if u := sc.Doc.EmergencyUntil; u == nil || u.Sub(sc.PublishedAt) < 11*time.Hour || u.Sub(sc.PublishedAt) > 13*time.Hour {
		t.Fatalf("config show: emergency until %v, want 12 h after %v", u, sc.PublishedAt)
	}
	if exp := sc.Expires.Sub(sc.PublishedAt); exp < 6*24*time.Hour || exp > 8*24*time.Hour {
		t.Fatalf("config show: signed until %v, want the default week after %v", sc.Expires, sc.PublishedAt)
	}
	if !sc.Published || sc.Doc.AntiPassback == nil || *sc.Doc.AntiPassback || !reflect.DeepEqual(sc.Doc, want) {
		t.Fatalf("config show: %+v", sc)
	}

	// Ending the emergency keeps the other settings; the note is per change.
	out, stderr, code = runCmd(t, ctx, "config", "set", "--config", cfgPath, "--site", "shelter", "--emergency=false", "--json")
	var ended hub.SiteConfig
	if code != 0 || json.Unmarshal([]byte(out), &ended) != nil || ended.Doc.Emergency || ended.Doc.EmergencyUntil != nil || ended.Doc.Note != "" ||
		!reflect.DeepEqual(ended.Doc.Fallback, []string{"cert"}) || ended.Version <= sc.Version {
		t.Fatalf("config set --emergency=false: %d %s %s", code, out, stderr)
	}

	// A gate of the site gets the latest config from the retained messages.
	sub := hubtest.Subscribe(t, provision(t, ctx, cfgPath, "shelter", "desk"), lists.Filter("mynagate/v1", "shelter"))
	msgs, ok := sub.Wait(2, 30*time.Second)
	if !ok {
		t.Fatalf("retained config: %d messages", len(msgs))
	}
	st, err := gateconfig.Open(filepath.Join(dir, "gate-hubconfig.json"), gateconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "mynagate/v1", Site: "shelter",
		Keys: []ed25519.PublicKey{pub.Public().(ed25519.PublicKey)}, Raw: map[string]lists.RawApplier{gateconfig.List: st}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go recv.Run(rctx)
	for _, m := range msgs {
		recv.Handle(m.Topic, m.Payload)
	}
	deadline = time.Now().Add(30 * time.Second)
	for st.Version() != ended.Version && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if d, v := st.Current(); v != ended.Version || !reflect.DeepEqual(d, ended.Doc) {
		t.Fatalf("gate has %+v v%d, want %+v v%d", d, v, ended.Doc, ended.Version)
	}

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--site", "shelter", "--accept", "face"}, `level "face"`},
		{[]string{"--site", "shelter", "--accept", "none"}, "--accept: no level given"},
		{[]string{"--site", "shelter", "--anti-passback", "maybe"}, "--anti-passback"},
		{[]string{"--emergency"}, "--site is required"},
		{[]string{"--site", "shelter", "--emergency", "false"}, "give values as --flag=value"},
		{[]string{"--site", "shelter", "--for", "12h"}, "--for: no emergency is declared"},
		{[]string{"--site", "shelter", "--emergency", "--for", "0s"}, "give a duration from 1m"},
		{[]string{"--site", "shelter", "--emergency", "--for", "800h"}, "give a duration from 1m"},
	} {
		_, stderr, code := runCmd(t, ctx, append([]string{"config", "set", "--config", cfgPath}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.wantErr) {
			t.Errorf("config set %v: exit %d, %s; want %q", tc.args, code, stderr, tc.wantErr)
		}
	}
	if sc := showConfig(t, cfgPath); sc.Version != ended.Version {
		t.Fatalf("a refused config set changed the config: %+v", sc)
	}
	// An emergency with no fallback level is published, with a warning.
	_, stderr, code = runCmd(t, ctx, "config", "set", "--config", cfgPath, "--site", "shelter", "--emergency", "--fallback=none")
	if code != 0 || !strings.Contains(stderr, "WARNING: the emergency changes nothing") {
		t.Fatalf("config set --fallback=none: %d %s", code, stderr)
	}
	// Without --for, an emergency lasts the default day.
	if sc := showConfig(t, cfgPath); sc.Doc.EmergencyUntil == nil || sc.Doc.EmergencyUntil.Sub(sc.PublishedAt).Round(time.Hour) != defaultEmergency {
		t.Fatalf("emergency without --for: %+v", sc)
	}
}

func showConfig(t *testing.T, cfgPath string) hub.SiteConfig {
	t.Helper()
	out, stderr, code := runCmd(t, context.Background(), "config", "show", "--config", cfgPath, "--json")
	var sc hub.SiteConfig
	if code != 0 || json.Unmarshal([]byte(out), &sc) != nil {
		t.Fatalf("config show: %d %s %s", code, out, stderr)
	}
	return sc
}

func TestParseFlags(t *testing.T) {
	f := false
	for _, tc := range []struct {
		in      string
		noneOK  bool
		want    []string
		wantErr bool
	}{
		{"pinless,pin", false, []string{"pinless", "pin"}, false},
		{" cert , pin ", false, []string{"cert", "pin"}, false},
		{"gate", false, nil, false},
		{"none", true, []string{}, false},
		{"none", false, nil, true},
		{"", true, nil, true},
	} {
		got, err := parseLevels(tc.in, tc.noneOK)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseLevels(%q, %v) = %#v, %v", tc.in, tc.noneOK, got, err)
		}
	}
	for _, tc := range []struct {
		in      string
		want    *bool
		wantErr bool
	}{
		{"false", &f, false},
		{"gate", nil, false},
		{"off", nil, true},
	} {
		got, err := parseOverride(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseOverride(%q) = %v, %v", tc.in, got, err)
		}
	}
}
