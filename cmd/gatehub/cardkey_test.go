package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/offline/cardkey"
)

// TestCardKeyRotationAtTheHub runs the hub's side of a card-key rotation as
// the README tells the operator: the next secret named in the config, the
// list carried over with cardkey rekey from the enrolment file (rows by
// issuer key id and serial) and from a gate's event in the window (a card
// enrolled by card key at a kiosk), a revocation carried with it, a finish
// refused while it would lose cards, and a finish that leaves the list keyed
// by the next secret alone (lists.db and hub.db on disk).
func TestCardKeyRotationAtTheHub(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	res := initHub(t, ctx, dir)
	cfgPath := res.Config
	secretHex, err := os.ReadFile(res.CardKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	curSecret, _ := cardkey.DecodeSecret(secretHex)
	nextSecret := make([]byte, 32)
	copy(nextSecret, "the next card-key secret, 32 b.")
	nextFile := filepath.Join(dir, "cardkey-2.secret")
	os.WriteFile(nextFile, []byte(hex.EncodeToString(nextSecret)), 0o600)
	cur, next := cardkey.NewSoftware(curSecret), cardkey.NewSoftware(nextSecret)

	issuer := []byte{0x1a, 0xc1, 0x00, 0xf5}
	serial := func(i int) []byte { return []byte{0x01, byte(i)} }
	key := func(k cardkey.Keyer, i int) cardkey.Key {
		v, err := k.CardKey(issuer, serial(i))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The kiosk-enrolled card is known to the hub by its card key only.
	kioskCur, kioskNext := key(cur, 9), key(next, 9)
	csv := "issuer_key_id,serial,service_id,kind\n"
	for i := 1; i <= 3; i++ {
		csv += fmt.Sprintf("%x,%x,T-%d,ticket\n", issuer, serial(i), i)
	}
	csvPath, kioskPath := filepath.Join(dir, "tickets.csv"), filepath.Join(dir, "kiosk.csv")
	os.WriteFile(csvPath, []byte(csv), 0o600)
	os.WriteFile(kioskPath, []byte("card_key,service_id,kind\n"+kioskCur.String()+",K-9,resident\n"), 0o600)
	cmd := func(wantOK bool, verb, noun string, rest ...string) string {
		t.Helper()
		args := append([]string{verb, noun, "--config", cfgPath, "--site", "arena"}, rest...)
		out, stderr, code := runCmd(t, ctx, args...)
		if (code == 0) != wantOK {
			t.Fatalf("gatehub %v: exit %d: %s %s", args, code, out, stderr)
		}
		return out + stderr
	}
	cmd(true, "enroll", "import", csvPath)
	cmd(true, "enroll", "import", kioskPath)
	if out, stderr, code := runCmd(t, ctx, "revoke", "--config", cfgPath, "--site", "arena", "--service-id", "T-3"); code != 0 {
		t.Fatalf("revoke: %s %s", out, stderr)
	}

	// Without a next secret there is nothing to rotate to.
	if out := cmd(false, "cardkey", "rekey", "--enrolment", csvPath); !strings.Contains(out, "no next card-key secret") {
		t.Errorf("rekey without a next secret: %s", out)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(cfgPath)
	json.Unmarshal(b, &cfg)
	cfg["next_card_key_secret"] = nextFile
	b, _ = json.Marshal(cfg)
	os.WriteFile(cfgPath, b, 0o600)

	// A gate in the window reported the kiosk card's two keys.
	store, err := hub.OpenStore(filepath.Join(res.DataDir, "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := event.Event{ID: "01JDZ0000000000000000000K9", Seq: 1, At: time.Now(), Site: "arena", Gate: "north-1", Kind: event.KindEntry,
		Decision: event.Admit, Reason: event.ReasonAdmit, Card: kioskCur.String(), CardNext: kioskNext.String(), ServiceID: "K-9", Assurance: "pinless"}
	payload, _ := json.Marshal(e)
	if _, err := store.Ingest(ctx, "arena", "north-1", payload, time.Now()); err != nil {
		t.Fatal(err)
	}
	store.Close()

	var rk struct {
		hub.RekeyResult
		FromEnrolment int `json:"pairs_from_enrolment"`
		FromEvents    int `json:"pairs_from_events"`
	}
	out := cmd(true, "cardkey", "rekey", "--enrolment", csvPath, "--json")
	if err := json.Unmarshal([]byte(out[:strings.Index(out, "\n")]), &rk); err != nil || rk.FromEnrolment != 3 || rk.FromEvents != 1 ||
		rk.Rekeyed != 4 || rk.Carried != 1 || rk.Unpaired != 0 {
		t.Fatalf("rekey: %s (%v)", out, err)
	}
	lists := func() (entries, revoked int) {
		var st struct{ Entries, Revoked int }
		out, stderr, code := runCmd(t, ctx, "lists", "--config", cfgPath, "--site", "arena", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("lists: %s %s", out, stderr)
		}
		return st.Entries, st.Revoked
	}
	if n, r := lists(); n != 8 || r != 2 {
		t.Errorf("during the window the list has %d entries and %d revocations, want each card under both keys: 8 and 2", n, r)
	}
	// Without the enrolment file the finish cannot tell the re-keyed
	// entries from cards it would lose: it refuses and changes nothing.
	if out := cmd(false, "cardkey", "finish"); !strings.Contains(out, "no next key") {
		t.Errorf("finish without the enrolment file: %s", out)
	}
	cmd(true, "cardkey", "finish", "--enrolment", csvPath)
	if n, r := lists(); n != 4 || r != 1 {
		t.Errorf("after the finish the list has %d entries and %d revocations, want 4 and 1", n, r)
	}
	m, err := hub.OpenMaster(filepath.Join(res.DataDir, "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.CardsByService("arena", "whitelist", []string{"T-1", "T-3", "K-9"})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]cardkey.Key{"T-1": key(next, 1), "T-3": key(next, 3), "K-9": kioskNext} {
		if len(got[id]) != 1 || got[id][0] != want {
			t.Errorf("%s listed under %v, want the next key %s alone", id, got[id], want)
		}
	}
}
