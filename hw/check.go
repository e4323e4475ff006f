package hw

import (
	"context"
	"errors"
	"fmt"

	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/printer"
)

// Finding is one line of `gateagent doctor` for the hardware: a part, whether it
// is fine, what was found and what the operator can do about it.
type Finding struct {
	// Part is the config key checked: "hw", "hw.buzzer", "hw.leds.red",
	// "hw.relay", "hw.passage", "hw.printer".
	Part    string `json:"part"`
	OK      bool   `json:"ok"`
	Verdict string `json:"verdict"`
	// Hint says what to do; empty when there is nothing to do.
	Hint string `json:"hint,omitempty"`
}

// consumer is implemented by GPIO character-device lines, which know which
// process holds them.
type consumer interface{ Consumer() string }

// Check looks at every configured part without changing its state: pins are
// looked up but not driven (a doctor run must not click the relay or sound the
// buzzer), and the printer is asked for its real-time status within ctx and its
// timeout. It returns one Finding per part, in config order.
func Check(ctx context.Context, cfg Config) []Finding {
	var fs []Finding
	if err := cfg.Validate(); err != nil {
		fs = append(fs, Finding{Part: "hw", Verdict: err.Error(), Hint: "fix the hw section of the config; the daemon will not start with it"})
	}
	if cfg.Buzzer == nil && cfg.LEDs == nil {
		fs = append(fs, Finding{Part: "hw", OK: true, Verdict: "no buzzer or LEDs configured: signals go to the console",
			Hint: "on a gate with a buzzer, set hw.buzzer so people hear the completion sound"})
	}
	for _, kp := range cfg.pins() {
		fs = append(fs, checkPin(kp))
	}
	if cfg.Printer != nil {
		fs = append(fs, checkPrinter(ctx, *cfg.Printer))
	}
	return fs
}

func checkPin(kp keyedPin) Finding {
	f := Finding{Part: kp.key}
	p, err := pins.ByName(kp.Pin, kp.key+".pin")
	if err != nil {
		f.Verdict = err.Error()
		f.Hint = fmt.Sprintf("list the lines with gpioinfo and set %s.pin to one of them; check that the gate user may open /dev/gpiochip*", kp.key)
		return f
	}
	f.OK = true
	f.Verdict = fmt.Sprintf("pin %s found (%s)", kp.Pin, p.Name())
	if c, ok := p.(consumer); ok && c.Consumer() != "" {
		f.Verdict += fmt.Sprintf(", in use by %q", c.Consumer())
	}
	return f
}

func checkPrinter(ctx context.Context, cfg printer.Config) Finding {
	f := Finding{Part: "hw.printer"}
	p, err := printer.New(cfg, nil)
	if err != nil {
		f.Verdict, f.Hint = err.Error(), "fix hw.printer in the config"
		return f
	}
	st, err := p.Status(ctx)
	switch {
	case err == nil && st.Ready():
		f.OK, f.Verdict = true, "printer "+st.String()
		if len(st.Problems()) > 0 {
			f.Hint = st.String()
		}
	case err == nil:
		f.Verdict, f.Hint = "printer not ready: "+st.String(), "receipts will not print until this is fixed; gates keep deciding"
	case errors.Is(err, printer.ErrNoStatus):
		f.OK, f.Verdict = true, "printer reachable; "+err.Error()
		if cfg.Transport != printer.File {
			f.Hint = "paper out and cover open will not be detected; a printer with ESC/POS real-time status (DLE EOT) reports them"
		}
	default:
		f.Verdict, f.Hint = err.Error(), map[string]string{
			printer.USB:    "check the USB cable and that /dev/usb/lp* exists; the gate user needs group lp",
			printer.Serial: "check the cable and that baud, parity, data_bits and stop_bits match the printer's switches; the gate user needs group dialout",
			printer.TCP:    "check the printer's power and network; ping its address and that port 9100 is open",
			printer.File:   "check that the directory exists and the gate user may write to it",
		}[cfg.Transport]
	}
	return f
}
