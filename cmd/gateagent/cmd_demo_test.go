package main

import (
	"os"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/testenv"
)

// TestDemo runs `gateagent demo` as scripts/demo does and checks what the
// operator would see: every scripted tap decided with its reason and
// assurance, and every event received by the embedded hub.
func TestDemo(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	testenv.LookPath(t, "softhsm2-util", "softhsm2")
	t.Setenv("SOFTHSM2_CONF", os.Getenv("SOFTHSM2_CONF")) // the demo points it at its own token
	code, out, errOut := run(t, "demo", "--dir", t.TempDir(), "--reader", slot.Reader, "--vpcd", slot.Addr)
	if code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"card-001.json", "ADMIT admit", "assurance pinless",
		"not_listed", "unknown_root", "card_removed", "not_my_number_card", "cert_expired", "pinless_unsupported",
		"♪ beep (admit)", "♪ beep beep beep (deny)",
		"8 taps decided, recorded and received by the hub.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if n := strings.Count(out, "hub received event"); n != 8 {
		t.Errorf("hub received %d events, want 8\n%s", n, out)
	}
}
