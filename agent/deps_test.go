package agent_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the tap pipeline free of transports: it talks to MQTT,
// GPIO, serial printers, the HSM and HTTP only through its own interfaces, so
// it stays small, testable on a laptop, and unchanged when a part is replaced.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/mynagate/mynagate/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt/server/v2",
		"periph.io/x/", "go.bug.st/serial", "github.com/ThalesGroup/crypto11", "github.com/miekg/pkcs11",
		"net/http", "github.com/mynagate/mynagate/hub", "github.com/mynagate/mynagate/sync/uplink",
		"github.com/mynagate/mynagate/hw/printer", "github.com/mynagate/mynagate/cmd/",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("agent depends on %s; reach it through an interface the agent owns", dep)
			}
		}
	}
}
