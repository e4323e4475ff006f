package hub

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	// Mosquitto's own hash of "s3cret" (mosquitto_passwd 2.0.11, 101
	// rounds): the formats agree both ways (Mosquitto reading ours is
	// TestMosquittoWithGateEntries).
	const mosq = "$7$101$Dq5zktxgDS8V8fAN$CNjXjixhFr2OOZUFhbk2tnQmOk3n0XL1cV42q2XZJXkSdC2upp6JASJzIRooaS9FlwtLMRexYkSlpllkPtOCcQ=="
	for _, tc := range []struct {
		name, hash, pw string
		ok             bool
	}{
		{"ours", h, "s3cret", true},
		{"mosquitto_passwd's", mosq, "s3cret", true},
		{"mosquitto_passwd's, wrong password", mosq, "s3cre", false},
		{"wrong password", h, "s3cret ", false},
		{"empty password", h, "", false},
		{"not $7$", "$6$abc$def", "s3cret", false},
		{"truncated", h[:len(h)-4], "s3cret", false},
		{"huge rounds", "$7$99999999$AAAA$AAAA", "s3cret", false},
		{"garbage", "s3cret", "s3cret", false},
	} {
		if got := CheckPassword(tc.hash, tc.pw); got != tc.ok {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestAddGateNames(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if _, _, err := AddGate(dir, "stadium", "north", false, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ site, gate, want string }{
		{"stadium", "north", "already provisioned"},
		{"hub", "x", "the hub's"},
		{"hub-a", "x", "the hub's"},
		{"stadium", "north-doctor", "share client id"},
		{"a/b", "x", "without '/'"},
		{"s", "g:1", "':'"},
		{"s", "", "non-empty"},
		{"s", "lists", "reserved"},
	} {
		if _, _, err := AddGate(dir, tc.site, tc.gate, false, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("add %s/%s: %v, want %q", tc.site, tc.gate, err, tc.want)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, gatesFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("registry: %v, want owner-only", err)
	}
	if _, err := RevokeGate(dir, "stadium", "south", now); !errors.Is(err, ErrNoGate) {
		t.Fatalf("revoke unknown: %v", err)
	}
}
