package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/vcard"
)

// runGate runs `gateagent run` on cfg until the returned stop is called,
// once it has connected to the broker.
func runGate(t *testing.T, cfgPath string, cfg map[string]any) (stop func(), stderr *syncBuffer) {
	t.Helper()
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncBuffer{}
	exited := make(chan int, 1)
	go func() { exited <- dispatch(ctx, []string{"run", "--config", cfgPath}, &syncBuffer{}, stderr) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("run exited %d: %s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not stop within 15 s")
		}
	}
	t.Cleanup(stop)
	waitLog(t, stderr, "uplink connected")
	return stop, stderr
}

// waitLog waits until the daemon's log says want.
func waitLog(t *testing.T, log *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never logged %q:\n%s", want, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tapEvent presents a card and returns the event of that tap: the first
// message on sub with an id not seen before. A gate without a hub gets no
// receipts, so it publishes its backlog again on each start and every 30 s;
// those resent events are skipped.
func tapEvent(t *testing.T, sub *mqtttest.Sub, slot pcsctest.Slot, p *vcard.Profile) event.Event {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range sub.Messages() {
		if e, err := event.Decode(m.Payload); err == nil {
			seen[e.ID] = true
		}
	}
	remove := taptest.Present(t, slot, p)
	defer remove()
	var tapped event.Event
	_, ok := sub.WaitFor(15*time.Second, func(msgs []mqtttest.Message) bool {
		for _, m := range msgs {
			if e, err := event.Decode(m.Payload); err == nil && !seen[e.ID] {
				tapped = e
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatal("no event for the tap within 15 s")
	}
	return tapped
}

// certOf returns the user-authentication certificate of a test card.
func certOf(t *testing.T, profile string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(taptest.Profile(t, profile).Certificate))
	if blk == nil {
		t.Fatalf("%s: no PEM certificate", profile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCardKeyRotation is a gate through a card-key rotation, as the README
// tells the operator to run it: both secrets in a SoftHSM2 token, the list as
// the hub publishes it before, during and after the rotation (bbolt on disk),
// and cards tapped through pcscd+vpcd. During the window a card is admitted
// whether the list holds it under the current or the next key, a card revoked
// under either key stays revoked, and every event carries both keys; after the
// switch the next secret alone keys the cards.
func TestCardKeyRotation(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	tok := hsmtest.NewToken(t, "gate-rotation")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	hsmArgs := []string{"--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile}
	secrets := map[string][]byte{"mynagate-cardkey": bytes.Repeat([]byte{0x11}, 32), "mynagate-cardkey-2": bytes.Repeat([]byte{0x22}, 32)}
	importSecret := func(label string) {
		f := filepath.Join(dir, label+".secret")
		os.WriteFile(f, []byte(hex.EncodeToString(secrets[label])), 0o600)
		args := append([]string{"hsm", "init", "--hsm-cardkey-label", label, "--import-secret", f}, hsmArgs...)
		if code, _, errOut := run(t, args...); code != 0 {
			t.Fatalf("hsm init %s: %s", label, errOut)
		}
		os.Remove(f)
	}
	importSecret("mynagate-cardkey")

	cards := map[string]string{"T-0001": "card-001.json", "T-0002": "card-002.json", "T-0003": "card-003.json"}
	key := func(label, service string) cardkey.Key {
		k, err := cardkey.ForCert(cardkey.NewSoftware(secrets[label]), certOf(t, cards[service]))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	const old, next = "mynagate-cardkey", "mynagate-cardkey-2"
	entry := func(label, service string) whitelist.Record {
		return whitelist.Record{Key: key(label, service), Entry: whitelist.Entry{ServiceID: service, Kind: whitelist.KindTicket}}
	}
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	version := uint64(0)
	publish := func(puts []whitelist.Record, revoked []cardkey.Key) {
		t.Helper()
		s, err := whitelist.Open(filepath.Join(data, "whitelist.db"), whitelist.Options{})
		if err != nil {
			t.Fatal(err)
		}
		version++
		if err := s.Apply(version, true, puts, nil, revoked, nil); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	cfg := map[string]any{
		"site": "arena", "gate": "north-1", "mode": "venue", "data_dir": data,
		"lanes":  []map[string]string{{"name": "in-1", "reader": slot.Reader, "kind": "entry"}},
		"roots":  []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":    map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile},
		"mqtt":   map[string]string{"broker": broker.Addr()},
		"policy": map[string]any{"accept": []string{"cert"}, "anti_passback": false},
	}
	cfgPath := filepath.Join(dir, "gateagent.json")
	sub := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/arena/north-1/events")
	type tap struct {
		service, reason string
		card, cardNext  string // labels of the secrets the event's keys are under; "" none
	}
	tapAll := func(stage string, taps []tap) {
		t.Helper()
		for _, tc := range taps {
			e := tapEvent(t, sub, slot, taptest.Profile(t, cards[tc.service]))
			wantNext := ""
			if tc.cardNext != "" {
				wantNext = key(tc.cardNext, tc.service).String()
			}
			if string(e.Reason) != tc.reason || e.Card != key(tc.card, tc.service).String() || e.CardNext != wantNext {
				t.Errorf("%s, %s: reason %s, card %s, card_next %q; want %s under %s, next under %q",
					stage, tc.service, e.Reason, e.Card, e.CardNext, tc.reason, tc.card, tc.cardNext)
			}
		}
	}

	// Before: the list and the gate under the current secret; T-0003 revoked.
	publish([]whitelist.Record{entry(old, "T-0001"), entry(old, "T-0002"), entry(old, "T-0003")}, []cardkey.Key{key(old, "T-0003")})
	stop, _ := runGate(t, cfgPath, cfg)
	tapAll("before", []tap{{"T-0001", "admit", old, ""}, {"T-0003", "revoked", old, ""}})
	stop()

	// The window: the next secret in the token and named in the config; the
	// hub is part-way through re-keying: T-0001 still under the current key,
	// T-0002 under the next key only, T-0003 listed under the next key while
	// its revocation is still under the current key only.
	importSecret(next)
	cfg["card_key"] = map[string]string{"hsm_label": old, "next_hsm_label": next}
	publish([]whitelist.Record{entry(old, "T-0001"), entry(next, "T-0002"), entry(next, "T-0003")}, []cardkey.Key{key(old, "T-0003")})
	stop, stderr := runGate(t, cfgPath, cfg)
	tapAll("window", []tap{{"T-0001", "admit", old, next}, {"T-0002", "admit", old, next}, {"T-0003", "revoked", old, next}})
	// The re-keyed list, revocation carried over: still revoked under the
	// next key alone.
	stop()
	publish([]whitelist.Record{entry(next, "T-0001"), entry(next, "T-0002"), entry(next, "T-0003")}, []cardkey.Key{key(next, "T-0003")})
	stop, _ = runGate(t, cfgPath, cfg)
	tapAll("window, re-keyed", []tap{{"T-0001", "admit", old, next}, {"T-0003", "revoked", old, next}})
	stop()
	if !strings.Contains(stderr.String(), "card-key rotation") {
		t.Errorf("the gate did not log that it looks up under two secrets:\n%s", stderr.String())
	}

	// After: the next secret is the current one; the old one is gone from the config.
	cfg["card_key"] = map[string]string{"hsm_label": next}
	stop, _ = runGate(t, cfgPath, cfg)
	tapAll("after", []tap{{"T-0001", "admit", next, ""}, {"T-0002", "admit", next, ""}, {"T-0003", "revoked", next, ""}})
	stop()
}
