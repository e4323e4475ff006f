package pins_test

import (
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/mynagate/mynagate/hw/pins"
)

func TestByName(t *testing.T) {
	if err := gpioreg.Register(&gpiotest.Pin{N: "PINSTEST_OK", Num: 901}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gpioreg.Unregister("PINSTEST_OK") })
	if p, err := pins.ByName("PINSTEST_OK", "hw.relay.pin"); err != nil || p.Name() != "PINSTEST_OK" {
		t.Errorf("ByName(registered) = %v, %v", p, err)
	}
	tests := []struct{ name, want string }{
		{"GPIO_NOPE", `pin "GPIO_NOPE" not found; check hw.relay.pin`},
		{"", "hw.relay.pin is empty"},
	}
	for _, tt := range tests {
		p, err := pins.ByName(tt.name, "hw.relay.pin")
		if err == nil || p != nil {
			t.Fatalf("ByName(%q) = %v, %v; want an error", tt.name, p, err)
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "pins: ") {
			t.Errorf("ByName(%q) error %q, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestOutPolarity(t *testing.T) {
	tests := []struct {
		activeLow bool
		idle, lit gpio.Level
	}{
		{false, gpio.Low, gpio.High},
		{true, gpio.High, gpio.Low},
	}
	for _, tt := range tests {
		p := &gpiotest.Pin{N: "OUT", L: tt.lit}
		o, err := pins.NewOut(p, tt.activeLow)
		if err != nil {
			t.Fatal(err)
		}
		if p.Read() != tt.idle {
			t.Errorf("activeLow=%v: NewOut left the pin %v, want idle %v", tt.activeLow, p.Read(), tt.idle)
		}
		if err := o.Set(true); err != nil || p.Read() != tt.lit {
			t.Errorf("activeLow=%v: Set(true) -> %v, %v; want %v", tt.activeLow, p.Read(), err, tt.lit)
		}
	}
}

func TestInPolarity(t *testing.T) {
	tests := []struct {
		activeLow bool
		pull      gpio.Pull
		idle      gpio.Level
	}{
		{false, gpio.PullDown, gpio.Low},
		{true, gpio.PullUp, gpio.High},
	}
	for _, tt := range tests {
		p := &gpiotest.Pin{N: "IN", EdgesChan: make(chan gpio.Level, 1)}
		in, err := pins.NewIn(p, tt.activeLow)
		if err != nil {
			t.Fatal(err)
		}
		if p.P != tt.pull {
			t.Errorf("activeLow=%v: pull %v, want %v", tt.activeLow, p.P, tt.pull)
		}
		if p.Read() != tt.idle {
			t.Errorf("activeLow=%v: input idles at %v, want %v", tt.activeLow, p.Read(), tt.idle)
		}
		p.EdgesChan <- !tt.idle
		if !in.WaitActive(-1) || p.Read() == tt.idle {
			t.Errorf("activeLow=%v: edge to the active level not seen", tt.activeLow)
		}
	}
}

func TestInWithoutEdgeSupport(t *testing.T) {
	// gpiotest refuses edge detection without an edge channel, as a real pin
	// without interrupt support does.
	if _, err := pins.NewIn(&gpiotest.Pin{N: "NOIRQ"}, false); err == nil || !strings.Contains(err.Error(), "NOIRQ") {
		t.Errorf("NewIn on a pin without edges = %v, want an error naming the pin", err)
	}
}
