package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
)

// TestDoctor checks a healthy gate, then breaks it the ways operators do.
func TestDoctor(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	dir := t.TempDir()
	secretFile, _ := writeSecret(t, dir)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	if code, _, errOut := run(t, "whitelist", "import", "--db", filepath.Join(data, "whitelist.db"), "--secret-file", secretFile, filepath.Join(taptest.PKI(t), "whitelist.csv")); code != 0 {
		t.Fatal(errOut)
	}
	writeCfg := func(mod func(map[string]any)) string {
		cfg := map[string]any{
			"site": "s", "gate": "g", "data_dir": data,
			"lanes":    []map[string]string{{"reader": slot.Reader}},
			"roots":    []string{filepath.Join(taptest.PKI(t), "root.pem")},
			"card_key": map[string]string{"secret_file": secretFile},
			"mqtt":     map[string]string{"broker": broker.Addr()},
		}
		if mod != nil {
			mod(cfg)
		}
		b, _ := json.Marshal(cfg)
		p := filepath.Join(dir, "gate.json")
		os.WriteFile(p, b, 0o600)
		return p
	}
	remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
	code, out, errOut := run(t, "doctor", "--config", writeCfg(nil))
	remove()
	if code != 0 {
		t.Fatalf("healthy gate: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"card answers: JPKIAPICCTOKEN2", "4 entries", "reachable", "MiB free"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}

	broker.Stop()
	os.Chmod(secretFile, 0o644)
	code, out, _ = run(t, "doctor", "--json", "--config", writeCfg(func(c map[string]any) {
		c["lanes"] = []map[string]string{{"reader": "ACS ACR1252*"}}
		c["hw"] = map[string]any{"relay": map[string]string{"pin": "GPIO_NOT_THERE"}}
	}))
	os.Chmod(secretFile, 0o600)
	if code != 1 {
		t.Fatalf("broken gate: exit %d", code)
	}
	failed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if !f.OK {
			failed[f.Part] = f.Hint
		}
	}
	for _, part := range []string{"broker", "card key", "lane lane-1", "hw.relay"} {
		if hint, ok := failed[part]; !ok || hint == "" {
			t.Errorf("%s: not reported as failed with a hint (failed: %v)", part, failed)
		}
	}
}
