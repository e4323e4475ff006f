package hw_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the layering: receipt bytes do not need GPIO or serial
// code, drivers take interfaces rather than periph's host, and hw is a leaf that
// imports nothing of the agent.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbidden := map[string][]string{
		"./escpos":    {"periph.io/", "go.bug.st/serial", "net"},
		"./receipt":   {"periph.io/", "go.bug.st/serial", "net"},
		"./signal":    {"periph.io/"},
		"./buzzer":    {"periph.io/"},
		"./led":       {"periph.io/"},
		"./turnstile": {"periph.io/"},
		"./printer":   {"periph.io/"},
		".":           {"github.com/mynagate/mynagate/agent", "github.com/mynagate/mynagate/offline", "github.com/mynagate/mynagate/sync", "github.com/mynagate/mynagate/reader"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b) && strings.HasSuffix(b, "/") || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
