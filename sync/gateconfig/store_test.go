package gateconfig

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/sync/lists"
)

// The store is what a gate registers for the config list.
var _ lists.RawApplier = (*Store)(nil)

const emergencyDoc = `{"emergency":true,"emergency_until":"2026-09-01T09:00:00Z","anti_passback":false,"accept":["pinless"],"fallback":["cert"],"note":"typhoon 12"}`

func openStore(t *testing.T, path string, changes *[]Doc) *Store {
	t.Helper()
	var s *Store
	s, err := Open(path, Options{OnChange: func(d Doc) {
		// OnChange may read the store: the new version is in force.
		if cur, _ := s.Current(); !reflect.DeepEqual(cur, d) {
			t.Errorf("OnChange got %+v while Current is %+v", d, cur)
		}
		*changes = append(*changes, d)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreApplyAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubconfig.json")
	var changes []Doc
	s := openStore(t, path, &changes)
	if d, v := s.Current(); v != 0 || !reflect.DeepEqual(d, Doc{}) || !s.AppliedAt().IsZero() {
		t.Fatalf("new store: %+v v%d", d, v)
	}
	if err := s.ApplyRaw(3, []byte(emergencyDoc)); err != nil {
		t.Fatal(err)
	}
	want, _ := Parse([]byte(emergencyDoc))
	if len(changes) != 1 || !reflect.DeepEqual(changes[0], want) {
		t.Fatalf("OnChange calls: %+v", changes)
	}
	if d, v := s.Current(); v != 3 || !reflect.DeepEqual(d, want) || s.Version() != 3 {
		t.Fatalf("after apply: %+v v%d", d, v)
	}
	// Current hands out copies.
	d, _ := s.Current()
	d.Accept[0], *d.AntiPassback = "cert", true
	if d2, _ := s.Current(); d2.Accept[0] != "pinless" || *d2.AntiPassback {
		t.Fatal("Current shares memory with the store")
	}

	var again []Doc
	r := openStore(t, path, &again)
	if d, v := r.Current(); v != 3 || !reflect.DeepEqual(d, want) || !r.AppliedAt().Equal(s.AppliedAt()) {
		t.Fatalf("after reopen: %+v v%d at %v", d, v, r.AppliedAt())
	}
	if len(again) != 0 {
		t.Fatal("Open called OnChange")
	}
	if err := r.ApplyRaw(4, []byte(`{"emergency":false,"note":"all clear"}`)); err != nil {
		t.Fatal(err)
	}
	if d, v := r.Current(); v != 4 || d.Emergency || d.Note != "all clear" || len(again) != 1 {
		t.Fatalf("emergency not ended: %+v v%d", d, v)
	}
}

func TestStoreRefuses(t *testing.T) {
	tests := []struct {
		name    string
		version uint64
		payload string
		wantErr string
	}{
		{"older version", 4, `{"emergency":false}`, "not above v5"},
		{"same version", 5, `{"emergency":false}`, "not above v5"},
		{"unknown key", 6, `{"emergency":false,"shutdown":true}`, `unknown key "shutdown"`},
		{"bad level", 6, `{"emergency":false,"accept":["none"]}`, `level "none"`},
		{"not json", 6, `emergency=false`, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hubconfig.json")
			var changes []Doc
			s := openStore(t, path, &changes)
			if err := s.ApplyRaw(5, []byte(emergencyDoc)); err != nil {
				t.Fatal(err)
			}
			err := s.ApplyRaw(tc.version, []byte(tc.payload))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
			for _, st := range []*Store{s, openStore(t, path, &changes)} {
				if d, v := st.Current(); v != 5 || !d.Emergency || len(changes) != 1 {
					t.Fatalf("previous config not in force: %+v v%d, %d changes", d, v, len(changes))
				}
			}
		})
	}
}

func TestStoreWriteFails(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "missing-dir", "hubconfig.json"), Options{OnChange: func(Doc) { t.Error("OnChange after a failed write") }})
	if err != nil {
		t.Fatal(err)
	}
	err = s.ApplyRaw(1, []byte(emergencyDoc))
	if err == nil || !strings.Contains(err.Error(), "check the gate's disk") {
		t.Fatalf("got %v", err)
	}
	if d, v := s.Current(); v != 0 || d.Emergency {
		t.Fatalf("failed write took effect: %+v v%d", d, v)
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"garbage", "{", "remove the file"},
		{"other format", `{"format":"x","version":1,"applied_at":"2026-11-25T00:00:00Z","doc":{"emergency":true}}`, `format "x"`},
		{"bad doc", `{"format":"mynagate-gateconfig/1","version":1,"applied_at":"2026-11-25T00:00:00Z","doc":{"emergency":1}}`, "must be true or false"},
		{"unknown field", `{"format":"mynagate-gateconfig/1","version":1,"doc":{"emergency":true},"x":1}`, "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hubconfig.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A temporary file left by a crash between write and rename is not the config
// in force: the last renamed file is.
func TestOpenIgnoresLeftoverTemp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubconfig.json")
	var changes []Doc
	if err := openStore(t, path, &changes).ApplyRaw(2, []byte(`{"emergency":false}`)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", []byte(`{"format":"mynagate-gateconfig/1","ver`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path, &changes)
	if d, v := s.Current(); v != 2 || d.Emergency {
		t.Fatalf("got %+v v%d", d, v)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("leftover temporary file kept: %v", err)
	}
}

// TestStoreEmergencyLapses: a declared emergency stops at its end by the
// gate's clock, with no word from the hub (which an attacker may cut off); a
// renewal before the end moves it; an emergency declared while Run waits arms
// its end.
func TestStoreEmergencyLapses(t *testing.T) {
	renewed := strings.Replace(emergencyDoc, "2026-09-01T09:00:00Z", "2026-09-01T12:00:00Z", 1)
	tests := []struct {
		name string
		// before are applied before Run starts, after once it waits.
		before, after []string
		// quiet is how long after the start no lapse may come; lapse when
		// it must come after that.
		quiet, lapse time.Duration
	}{
		{"declared", []string{emergencyDoc}, nil, 2*time.Hour - time.Second, time.Second},
		{"renewed before its end", []string{emergencyDoc, renewed}, nil, 4 * time.Hour, time.Hour},
		{"declared while waiting", []string{`{"emergency":false}`}, []string{emergencyDoc}, 2*time.Hour - time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(until.Add(-2 * time.Hour))
			changes := make(chan Doc, 8)
			s, err := Open(filepath.Join(t.TempDir(), "hubconfig.json"), Options{Clock: clk, OnChange: func(d Doc) { changes <- d }})
			if err != nil {
				t.Fatal(err)
			}
			v := uint64(0)
			apply := func(docs []string) {
				for _, d := range docs {
					v++
					if err := s.ApplyRaw(v, []byte(d)); err != nil {
						t.Fatal(err)
					}
					<-changes
				}
			}
			apply(tc.before)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			if tc.after != nil {
				apply(tc.after)
			}
			if err := clk.WaitTimers(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if !s.EmergencyActive() {
				t.Fatal("declared emergency not active before its end")
			}
			clk.Advance(tc.quiet)
			select {
			case d := <-changes:
				t.Fatalf("lapse reported before the end: %+v", d)
			default:
			}
			if !s.EmergencyActive() {
				t.Fatal("emergency not active before its end")
			}
			clk.Advance(tc.lapse)
			select {
			case d := <-changes:
				if d.Active(clk.Now()) || s.EmergencyActive() {
					t.Fatalf("emergency still active after its end: %+v", d)
				}
			case <-ctx.Done():
				t.Fatal("no lapse reported at the end of the emergency")
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
