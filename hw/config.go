package hw

import (
	"fmt"
	"time"

	"github.com/mynagate/mynagate/hw/printer"
	"github.com/mynagate/mynagate/hw/signal"
)

// Config is the hw section of a gate's config: one struct per part, each nil when
// the part is not fitted. It is decoded strictly (unknown keys are errors); keys
// are snake_case and durations are integer milliseconds.
type Config struct {
	Buzzer  *BuzzerConfig   `json:"buzzer,omitempty"`
	LEDs    *LEDConfig      `json:"leds,omitempty"`
	Relay   *RelayConfig    `json:"relay,omitempty"`
	Passage *PassageConfig  `json:"passage,omitempty"`
	Printer *printer.Config `json:"printer,omitempty"`
}

// PinConfig names a GPIO pin and how it is wired.
type PinConfig struct {
	// Pin is the periph name of the pin: "GPIO17", a gpiochip line name or an alias.
	Pin string `json:"pin"`
	// ActiveLow is true when the part is on at the low level (a relay board whose
	// inputs are pulled up, an LED wired to the supply, a sensor that pulls down).
	ActiveLow bool `json:"active_low,omitempty"`
}

// BuzzerConfig is a buzzer on one output pin; the embedded Timing sets its tones.
type BuzzerConfig struct {
	PinConfig
	signal.Timing
}

// LEDConfig is the gate's signal LEDs; any colour may be absent, not all. They
// blink with the embedded Timing.
type LEDConfig struct {
	Green *PinConfig `json:"green,omitempty"`
	Red   *PinConfig `json:"red,omitempty"`
	Amber *PinConfig `json:"amber,omitempty"`
	signal.Timing
}

// RelayConfig is the turnstile or door relay.
type RelayConfig struct {
	PinConfig
	// PulseMS is how long the relay is energised per opening; 0 means 500.
	PulseMS int `json:"pulse_ms,omitempty"`
}

// PassageConfig is an optional passage sensor behind the relay's lane. When
// nobody passes within TimeoutMS of an admit, the entry is reported for annulment.
type PassageConfig struct {
	PinConfig
	// TimeoutMS is how long a passage is awaited after an admit; 0 means 10000.
	TimeoutMS int `json:"timeout_ms,omitempty"`
	// DebounceMS is the shortest time between two passages; 0 means 300.
	DebounceMS int `json:"debounce_ms,omitempty"`
}

// ms converts a config value in milliseconds; 0 stays 0 so that defaults apply.
func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }

// Validate checks the config without touching hardware, naming the bad key.
func (c Config) Validate() error {
	if c.Passage != nil && c.Relay == nil {
		return fmt.Errorf("hw: hw.passage is set without hw.relay; a passage sensor watches the lane a relay opens")
	}
	used := map[string]string{}
	for _, kp := range c.pins() {
		key, p := kp.key, kp.PinConfig
		if p.Pin == "" {
			return fmt.Errorf("hw: %s.pin is empty; name a GPIO pin such as \"GPIO17\"", key)
		}
		if other, dup := used[p.Pin]; dup {
			return fmt.Errorf("hw: pin %q is used by both %s and %s; give each part its own pin", p.Pin, other, key)
		}
		used[p.Pin] = key
	}
	if c.Buzzer != nil {
		if err := c.Buzzer.Timing.Validate("hw.buzzer"); err != nil {
			return err
		}
	}
	if c.LEDs != nil {
		if c.LEDs.Green == nil && c.LEDs.Red == nil && c.LEDs.Amber == nil {
			return fmt.Errorf("hw: hw.leds has no green, red or amber LED; remove it or name a pin")
		}
		if err := c.LEDs.Timing.Validate("hw.leds"); err != nil {
			return err
		}
	}
	if c.Relay != nil && (c.Relay.PulseMS < 0 || c.Relay.PulseMS > 10000) {
		return fmt.Errorf("hw: hw.relay.pulse_ms %d out of range; use 0 (default 500) to 10000", c.Relay.PulseMS)
	}
	if c.Passage != nil {
		if c.Passage.TimeoutMS < 0 || c.Passage.TimeoutMS > 900000 {
			return fmt.Errorf("hw: hw.passage.timeout_ms %d out of range; use 0 (default 10000) to 900000", c.Passage.TimeoutMS)
		}
		if c.Passage.DebounceMS < 0 || c.Passage.DebounceMS > 5000 {
			return fmt.Errorf("hw: hw.passage.debounce_ms %d out of range; use 0 (default 300) to 5000", c.Passage.DebounceMS)
		}
	}
	if c.Printer != nil {
		p := *c.Printer
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// keyedPin is a configured pin with its config key ("hw.leds.red").
type keyedPin struct {
	key string
	PinConfig
}

// pins returns every configured pin, in a fixed order.
func (c Config) pins() []keyedPin {
	var out []keyedPin
	add := func(key string, p *PinConfig) {
		if p != nil {
			out = append(out, keyedPin{key, *p})
		}
	}
	if c.Buzzer != nil {
		add("hw.buzzer", &c.Buzzer.PinConfig)
	}
	if c.LEDs != nil {
		add("hw.leds.green", c.LEDs.Green)
		add("hw.leds.red", c.LEDs.Red)
		add("hw.leds.amber", c.LEDs.Amber)
	}
	if c.Relay != nil {
		add("hw.relay", &c.Relay.PinConfig)
	}
	if c.Passage != nil {
		add("hw.passage", &c.Passage.PinConfig)
	}
	return out
}
