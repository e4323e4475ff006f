package hub

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/sync/gateconfig"
)

func TestEmergencyWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  gateconfig.Doc
		want string
	}{
		{"no emergency", gateconfig.Doc{Fallback: []string{}}, ""},
		{"fallback none", gateconfig.Doc{Emergency: true, Fallback: []string{}}, NoFallback},
		{"gates' own fallback", gateconfig.Doc{Emergency: true}, GatesOwnFallback},
		{"fallback already accepted", gateconfig.Doc{Emergency: true, Accept: []string{"pinless", "cert"}, Fallback: []string{"cert"}}, FallbackAccepted},
		{"takes effect", gateconfig.Doc{Emergency: true, Accept: []string{"pinless"}, Fallback: []string{"cert"}}, ""},
		{"takes effect, gates' own accept", gateconfig.Doc{Emergency: true, Fallback: []string{"cert"}}, ""},
	} {
		if got := EmergencyWarning(tc.doc); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestEmergencyBanners reads the site configs as the dashboard does: one
// banner per site in an emergency, with its warning, in both languages; the
// last banners while a list command holds lists.db; its times in the site's
// zone (the default, Asia/Tokyo).
func TestEmergencyBanners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lists.db")
	sb := &siteBanners{path: path, zone: (&Config{}).Zone}
	if bs, busy, err := sb.read(langEN); err != nil || busy || len(bs) != 0 {
		t.Fatalf("before any list command: %v %v %v", bs, busy, err)
	}
	m, err := OpenMaster(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &retainer{retained: map[string][]byte{}}
	until := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	lapsed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for site, doc := range map[string]gateconfig.Doc{
		"shelter-1": {Emergency: true, EmergencyUntil: &until, Fallback: []string{}},
		"stadium":   {Emergency: true, EmergencyUntil: &until, Accept: []string{"pinless"}, Fallback: []string{"cert"}},
		"quiet":     {Fallback: []string{"cert"}},
		"lapsed":    {Emergency: true, EmergencyUntil: &lapsed, Fallback: []string{"cert"}},
	} {
		if _, err := m.PublishConfig(t.Context(), p, signKey, site, doc, PublishOptions{Prefix: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	// Held by a list command: the (empty) last banners, flagged.
	if _, busy, _ := sb.read(langEN); !busy {
		t.Fatal("lists.db held, not reported busy")
	}
	m.Close()
	bs, busy, err := sb.read(langEN)
	if err != nil || busy || len(bs) != 3 {
		t.Fatalf("%v %v %v", bs, busy, err)
	}
	if bs[0].Site != "lapsed" || !strings.Contains(bs[0].Text, "LAPSED at 2026-01-01T09:00:00+09:00") {
		t.Fatalf("lapsed banner %+v", bs[0])
	}
	bs = bs[1:]
	if bs[0].Site != "shelter-1" || bs[0].Warning != NoFallback || bs[1].Site != "stadium" || bs[1].Warning != "" || !strings.HasSuffix(bs[1].Text, "also accept cert (until 2099-01-01T09:00:00+09:00)") || !strings.HasSuffix(bs[0].Text, "no fallback level (until 2099-01-01T09:00:00+09:00)") {
		t.Fatalf("banners %+v", bs)
	}
	ja, _, _ := sb.read(langJA)
	ja = ja[1:]
	if !strings.Contains(ja[0].Text, "緊急事態宣言中 (shelter-1)") || !strings.Contains(ja[0].Warning, "何も変わりません") {
		t.Fatalf("Japanese banners %+v", ja)
	}
}
