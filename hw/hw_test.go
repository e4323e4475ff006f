package hw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
	"github.com/mynagate/mynagate/hw/printer/printertest"
	"github.com/mynagate/mynagate/hw/receipt"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/hw/turnstile"
)

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// decode reads a config as the lead's loader does: unknown keys are errors.
func decode(t *testing.T, b []byte) hw.Config {
	t.Helper()
	var c hw.Config
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// board registers fake pins under the names of testdata/venue-gate.json, as a
// board driver would, and unregisters them when the test ends.
type board struct {
	clk                              *clocktest.Clock
	buzzer, green, red, amber, relay *pinstest.Recorder
	passage                          *gpiotest.Pin
}

func newBoard(t *testing.T) *board {
	t.Helper()
	b := &board{clk: clocktest.New(epoch)}
	names := map[string]**pinstest.Recorder{"HWTEST_BUZZER": &b.buzzer, "HWTEST_GREEN": &b.green, "HWTEST_RED": &b.red, "HWTEST_AMBER": &b.amber, "HWTEST_RELAY": &b.relay}
	register := func(p gpio.PinIO) {
		if err := gpioreg.Register(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gpioreg.Unregister(p.Name()) })
	}
	for name, r := range names {
		*r = pinstest.NewRecorder(name, b.clk)
		register(*r)
	}
	b.passage = &gpiotest.Pin{N: "HWTEST_PASSAGE", EdgesChan: make(chan gpio.Level)}
	register(b.passage)
	return b
}

func TestExampleConfigDecodesStrictly(t *testing.T) {
	raw, err := os.ReadFile("testdata/venue-gate.json")
	if err != nil {
		t.Fatal(err)
	}
	c := decode(t, raw)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Relay.Pin != "HWTEST_RELAY" || !c.Relay.ActiveLow || c.Relay.PulseMS != 500 || c.Passage.TimeoutMS != 10000 ||
		c.LEDs.Patterns[signal.Admit][0] != 400 || c.Printer.Address != "192.0.2.40:9100" || c.Buzzer.GapMS != 100 {
		t.Errorf("decoded %+v", c)
	}
	var strict hw.Config
	d := json.NewDecoder(strings.NewReader(`{"relay": {"pin": "GPIO17", "pulse": 500}}`))
	d.DisallowUnknownFields()
	if err := d.Decode(&strict); err == nil {
		t.Error("unknown key hw.relay.pulse accepted")
	}
}

func TestVenueGate(t *testing.T) {
	b := newBoard(t)
	raw, _ := os.ReadFile("testdata/venue-gate.json")
	cfg := decode(t, raw)
	fake, err := printertest.ListenTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfg.Printer.Address = fake.Addr
	g, err := hw.OpenWith(cfg, hw.Options{Clock: b.clk, Logger: quiet(), Console: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	// Outputs start idle: active-low relay and red LED high, the rest low.
	idle := map[string]gpio.Level{"buzzer": b.buzzer.Read(), "green": b.green.Read(), "red": b.red.Read(), "amber": b.amber.Read(), "relay": b.relay.Read()}
	for name, want := range map[string]gpio.Level{"buzzer": gpio.Low, "green": gpio.Low, "red": gpio.High, "amber": gpio.Low, "relay": gpio.High} {
		if idle[name] != want {
			t.Errorf("%s idles at %v, want %v", name, idle[name], want)
		}
	}
	for _, r := range []*pinstest.Recorder{b.buzzer, b.green, b.red, b.amber, b.relay} {
		r.Reset()
	}

	// Admit sounds the buzzer and lights green; exact timing is the buzzer and led
	// packages' tests.
	if err := b.clk.Run(func() error { return g.Signal(context.Background(), signal.Admit) }); err != nil {
		t.Fatal(err)
	}
	levels := func(r *pinstest.Recorder) []gpio.Level {
		var l []gpio.Level
		for _, c := range r.Changes() {
			l = append(l, c.L)
		}
		return l
	}
	if got := levels(b.buzzer); len(got) != 2 || got[0] != gpio.High || got[1] != gpio.Low {
		t.Errorf("buzzer on admit: %v", b.buzzer.Changes())
	}
	if got := levels(b.green); len(got) != 2 || got[0] != gpio.High || got[1] != gpio.Low {
		t.Errorf("green on admit: %v", b.green.Changes())
	}
	if len(b.red.Changes())+len(b.amber.Changes()) != 0 {
		t.Errorf("red or amber lit on admit: %v %v", b.red.Changes(), b.amber.Changes())
	}

	// Open: the relay pulses (active low) and nobody passes, so the entry is
	// reported for annulment.
	done := make(chan error)
	go func() { done <- g.Open(context.Background(), "01JDQENTRY") }()
	if err := b.clk.WaitTimers(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(10 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := levels(b.relay); len(got) != 2 || got[0] != gpio.Low || got[1] != gpio.High {
		t.Errorf("relay pulse: %v", b.relay.Changes())
	}
	select {
	case res := <-g.Results():
		if res.EntryID != "01JDQENTRY" || res.Outcome != turnstile.NotPassed {
			t.Errorf("result %+v, want NotPassed for 01JDQENTRY", res)
		}
	case <-time.After(10 * time.Second): // only stops a hung test
		t.Fatal("no result")
	}

	// The receipt reaches the printer.
	seat := receipt.Seat{Event: "ライブ", At: epoch, Gate: "東3", Seat: "A-1", TicketRef: "T-1"}
	if err := g.Print(context.Background(), seat); err != nil {
		t.Fatal(err)
	}
	want, _ := seat.ESCPOS()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got, err := fake.WaitReceived(ctx, len(want)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("printer received %d bytes (%v), want the receipt's %d", len(got), err, len(want))
	}
	if st, err := g.PrinterStatus(context.Background()); err != nil || !st.Ready() {
		t.Errorf("PrinterStatus = %v, %v", st, err)
	}
}

func TestConsoleWhenNoPins(t *testing.T) {
	var out bytes.Buffer
	clk := clocktest.New(epoch)
	g, err := hw.OpenWith(hw.Config{}, hw.Options{Console: &out, Clock: clk, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Signal(context.Background(), signal.Deny); err != nil {
		t.Fatal(err)
	}
	if err := clk.Run(func() error { return g.Open(context.Background(), "E1") }); err != nil {
		t.Fatal(err)
	}
	if want := "♪ beep beep beep (deny)\n⇥ turnstile open\n"; out.String() != want {
		t.Errorf("console = %q, want %q", out.String(), want)
	}
	if err := g.Print(context.Background(), receipt.Shelter{}); !errors.Is(err, hw.ErrNoPrinter) {
		t.Errorf("Print without a printer = %v, want ErrNoPrinter", err)
	}
	if _, err := g.PrinterStatus(context.Background()); !errors.Is(err, hw.ErrNoPrinter) {
		t.Errorf("PrinterStatus without a printer = %v, want ErrNoPrinter", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string
	}{
		{"missing pin", `{"relay": {"pin": "GPIO_NOT_ON_THIS_BOARD"}}`, `pins: pin "GPIO_NOT_ON_THIS_BOARD" not found; check hw.relay.pin`},
		{"missing led", `{"leds": {"red": {"pin": "GPIO_NO_RED"}}}`, `check hw.leds.red.pin`},
		{"empty pin", `{"buzzer": {"short_ms": 100}}`, `hw.buzzer.pin is empty`},
		{"passage without relay", `{"passage": {"pin": "GPIO27"}}`, "without hw.relay"},
		{"pin used twice", `{"relay": {"pin": "GPIO17"}, "passage": {"pin": "GPIO17"}}`, `used by both hw.relay and hw.passage`},
		{"no leds", `{"leds": {"short_ms": 100}}`, "no green, red or amber"},
		{"bad pattern", `{"buzzer": {"pin": "GPIO18", "patterns": {"fanfare": [100]}}}`, `unknown pattern "fanfare"`},
		{"bad pulse", `{"relay": {"pin": "GPIO17", "pulse_ms": 60000}}`, "pulse_ms"},
		{"bad timeout", `{"relay": {"pin": "GPIO17"}, "passage": {"pin": "GPIO27", "timeout_ms": -1}}`, "timeout_ms"},
		{"bad printer", `{"printer": {"transport": "lpt"}}`, `transport "lpt" unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := hw.OpenWith(decode(t, []byte(tt.cfg)), hw.Options{Logger: quiet(), Console: io.Discard})
			if err == nil {
				g.Close()
				t.Fatal("Open = nil error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
