package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
)

// TestShelterWithoutHSMAndStaffCLI is a shelter station whose HSM token is
// missing: it starts anyway, checks in a card at the cert level flagged to
// reconcile (pcscd+vpcd), and records a staff check-in and check-out typed on
// the box (`gateagent staff`) through the control socket; every record reaches
// the broker with the station's place, the note included.
func TestShelterWithoutHSMAndStaffCLI(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	tok := hsmtest.NewToken(t, "shelter-nohsm")
	dir := t.TempDir()
	run, err := os.MkdirTemp("", "ga") // a unix socket path must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	pkiDir := taptest.PKI(t)
	cfg := map[string]any{
		"site": "example-city", "gate": "es2-a", "mode": "shelter", "place": "elementary-school-2", "data_dir": filepath.Join(dir, "data"),
		"lanes":   []map[string]string{{"name": "entrance", "reader": slot.Reader, "kind": "checkin"}},
		"roots":   []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":     map[string]any{"module": tok.Module, "token_label": "not-plugged-in", "pin_file": tok.PINFile},
		"mqtt":    map[string]string{"broker": broker.Addr()},
		"policy":  map[string]any{"accept": []string{"cert"}},
		"control": map[string]string{"socket": filepath.Join(run, "gateagent.sock")},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "shelter.json")
	os.WriteFile(cfgPath, b, 0o600)
	sub := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/example-city/es2-a/events")

	ctx, stop := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- dispatch(ctx, []string{"run", "--config", cfgPath}, &stdout, &stderr) }()
	defer func() {
		stop()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("run exited %d: %s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not stop within 15 s")
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "gate ready") {
		if time.Now().After(deadline) {
			t.Fatalf("the shelter did not start without its HSM:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
	sub.WaitN(1, 15*time.Second)
	remove()

	staff := func(args ...string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, out, errOut := run2(append(args, "--config", cfgPath)...)
			if code == 0 {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateagent %v: %s", args, errOut)
			}
			time.Sleep(100 * time.Millisecond) // the socket may still be coming up
		}
	}
	if out := staff("staff", "checkin", "--slip", "0042", "--note", "子ども・保護者同伴"); !strings.Contains(out, "recorded: checkin at elementary-school-2") {
		t.Fatalf("staff checkin printed %q", out)
	}
	staff("staff", "checkout", "--slip", "0042")
	if code, _, errOut := run2("staff", "open", "--reason", "forgotten_card", "--config", cfgPath); code == 0 || !strings.Contains(errOut, "no entry lane") {
		t.Fatalf("staff open at a shelter: code %d, %s", code, errOut)
	}

	msgs := sub.WaitN(3, 15*time.Second)
	var got []string
	for _, m := range msgs {
		e, err := event.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if e.Place != "elementary-school-2" || e.Decision != event.Admit {
			t.Errorf("event %+v", e)
		}
		got = append(got, strings.Join([]string{string(e.Kind), string(e.Reason), e.Assurance, boolStr(e.Reconcile), e.Slip, e.Note}, "/"))
	}
	want := []string{"checkin/not_listed/cert/reconcile//", "checkin/staff/staff//0042/子ども・保護者同伴", "checkout/staff/staff//0042/"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(stderr.String(), "HSM unavailable") {
		t.Errorf("no log line says the HSM is unavailable:\n%s", stderr.String())
	}
}

func run2(args ...string) (int, string, string) {
	var out, errOut syncBuffer
	code := dispatch(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func boolStr(b bool) string {
	if b {
		return "reconcile"
	}
	return ""
}
