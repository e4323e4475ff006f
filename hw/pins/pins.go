// Package pins finds GPIO pins by name through periph (the Linux GPIO character
// device on a gate) and gives them a logical polarity, so that drivers say "on" and
// "off" whatever way the buzzer, LED, relay or sensor is wired.
package pins

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

var (
	initOnce sync.Once
	initErr  error
)

// ByName initialises periph's host drivers once and returns the pin registered
// under name ("GPIO17", a gpiochip line name, or an alias). host.Init succeeds on
// machines without the board's drivers, so a missing pin is reported here, with the
// config key that named it, rather than as a nil pin later. key is the config path
// used in the error, for example "hw.relay.pin".
func ByName(name, key string) (gpio.PinIO, error) {
	if name == "" {
		return nil, fmt.Errorf("pins: %s is empty; name a GPIO pin such as \"GPIO17\"", key)
	}
	initOnce.Do(func() { _, initErr = host.Init() })
	if initErr != nil {
		return nil, fmt.Errorf("pins: host.Init: %w; check that /dev/gpiochip* exists and is readable", initErr)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("pins: pin %q not found; check %s in the config and that the gpiochip is visible (ls /dev/gpiochip*, gpioinfo)", name, key)
	}
	return p, nil
}

// Out is an output pin with a polarity. A nil *Out is not usable.
type Out struct {
	pin       gpio.PinOut
	activeLow bool
}

// NewOut wraps p, drives it to "off" at once so that a relay does not click and a
// buzzer does not sound at startup, and returns it. p must not be nil.
func NewOut(p gpio.PinOut, activeLow bool) (*Out, error) {
	o := &Out{pin: p, activeLow: activeLow}
	if err := o.Set(false); err != nil {
		return nil, err
	}
	return o, nil
}

// Set drives the pin to its active level when on is true, to its idle level otherwise.
func (o *Out) Set(on bool) error {
	if err := o.pin.Out(gpio.Level(on != o.activeLow)); err != nil {
		return fmt.Errorf("pins: set %s: %w", o.pin, err)
	}
	return nil
}

// String names the pin.
func (o *Out) String() string { return o.pin.String() }

// In is an input pin with a polarity that reports edges into its active state.
// A nil *In is not usable.
type In struct {
	pin gpio.PinIn
}

// NewIn configures p as an input that reports edges into the active level: rising
// when active-high, falling when active-low, with the pull that holds it idle.
// p must not be nil.
func NewIn(p gpio.PinIn, activeLow bool) (*In, error) {
	pull, edge := gpio.PullDown, gpio.RisingEdge
	if activeLow {
		pull, edge = gpio.PullUp, gpio.FallingEdge
	}
	if err := p.In(pull, edge); err != nil {
		return nil, fmt.Errorf("pins: configure %s as input with edge detection: %w; check that the pin supports interrupts", p, err)
	}
	return &In{pin: p}, nil
}

// WaitActive waits up to timeout for an edge into the active level and reports
// whether one came. A negative timeout waits until an edge or Halt.
func (i *In) WaitActive(timeout time.Duration) bool { return i.pin.WaitForEdge(timeout) }

// Halt interrupts a pending WaitActive where the driver supports it.
func (i *In) Halt() error { return i.pin.Halt() }

// String names the pin.
func (i *In) String() string { return i.pin.String() }
