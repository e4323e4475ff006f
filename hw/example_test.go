package hw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/hw/signal"
)

// Without pins, as in the demo, the gate signals on the console.
func ExampleOpen() {
	g, err := hw.OpenWith(hw.Config{}, hw.Options{Console: os.Stdout})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	_ = g.Signal(context.Background(), signal.Admit)
	// Output: ♪ beep (admit)
}

// The doctor prints one line per part.
func ExampleCheck() {
	cfg := hw.Config{Relay: &hw.RelayConfig{PinConfig: hw.PinConfig{Pin: "GPIO_EXAMPLE_RELAY"}}}
	for _, f := range hw.Check(context.Background(), cfg) {
		fmt.Printf("%-8s ok=%v\n", f.Part, f.OK)
	}
	// Output:
	// hw       ok=true
	// hw.relay ok=false
}

// A venue gate with buzzer, LEDs, a turnstile relay, a passage sensor and a
// network printer, as the lead's loader decodes it (unknown keys rejected).
func ExampleConfig() {
	const venueGate = `{
	  "buzzer":  {"pin": "GPIO18", "short_ms": 120, "long_ms": 600, "gap_ms": 100},
	  "leds":    {"green": {"pin": "GPIO5"}, "red": {"pin": "GPIO6"}, "amber": {"pin": "GPIO13"}},
	  "relay":   {"pin": "GPIO17", "active_low": true, "pulse_ms": 500},
	  "passage": {"pin": "GPIO27", "active_low": true, "timeout_ms": 10000},
	  "printer": {"transport": "tcp", "address": "192.168.10.50:9100", "timeout_ms": 3000}
	}`
	var cfg hw.Config
	d := json.NewDecoder(strings.NewReader(venueGate))
	d.DisallowUnknownFields()
	if err := d.Decode(&cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Validate(), cfg.Relay.Pin, cfg.Passage.TimeoutMS, cfg.Printer.Transport)
	// Output: <nil> GPIO17 10000 tcp
}
