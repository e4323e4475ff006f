package hw_test

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/hw/escpos"
	"github.com/mynagate/mynagate/hw/printer"
	"github.com/mynagate/mynagate/hw/printer/printertest"
)

func TestCheck(t *testing.T) {
	newBoard(t)
	fake, err := printertest.ListenTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name   string
		cfg    hw.Config
		before func()
		want   []string // "part ok|FAIL verdict-fragment | hint-fragment"
	}{
		{"pins found and missing", hw.Config{
			Relay:   &hw.RelayConfig{PinConfig: hw.PinConfig{Pin: "HWTEST_RELAY"}},
			Passage: &hw.PassageConfig{PinConfig: hw.PinConfig{Pin: "GPIO_GONE"}},
		}, nil, []string{
			"hw ok signals go to the console | set hw.buzzer",
			"hw.relay ok pin HWTEST_RELAY found | ",
			`hw.passage FAIL pin "GPIO_GONE" not found | gpioinfo`,
		}},
		{"printer ready", hw.Config{Buzzer: &hw.BuzzerConfig{PinConfig: hw.PinConfig{Pin: "HWTEST_BUZZER"}}, Printer: &printer.Config{Transport: "tcp", Address: fake.Addr}},
			func() { fake.SetStatus(escpos.Status{}) }, []string{
				"hw.buzzer ok pin HWTEST_BUZZER found | ",
				"hw.printer ok printer ready | ",
			}},
		{"printer paper out", hw.Config{Buzzer: &hw.BuzzerConfig{PinConfig: hw.PinConfig{Pin: "HWTEST_BUZZER"}}, Printer: &printer.Config{Transport: "tcp", Address: fake.Addr}},
			func() { fake.SetStatus(escpos.Status{PaperOut: true}) }, []string{
				"hw.buzzer ok found | ",
				"hw.printer FAIL paper out: load a new roll | gates keep deciding",
			}},
		{"printer near end", hw.Config{Buzzer: &hw.BuzzerConfig{PinConfig: hw.PinConfig{Pin: "HWTEST_BUZZER"}}, Printer: &printer.Config{Transport: "tcp", Address: fake.Addr}},
			func() { fake.SetStatus(escpos.Status{PaperNearEnd: true}) }, []string{
				"hw.buzzer ok found | ",
				"hw.printer ok near end | prepare a new roll",
			}},
		{"printer unreachable", hw.Config{Buzzer: &hw.BuzzerConfig{PinConfig: hw.PinConfig{Pin: "HWTEST_BUZZER"}}, Printer: &printer.Config{Transport: "tcp", Address: closed}}, nil, []string{
			"hw.buzzer ok found | ",
			"hw.printer FAIL " + closed + " | port 9100",
		}},
		{"file printer", hw.Config{LEDs: &hw.LEDConfig{Green: &hw.PinConfig{Pin: "HWTEST_GREEN"}}, Printer: &printer.Config{Transport: "file", Path: filepath.Join(t.TempDir(), "r.bin")}}, nil, []string{
			"hw.leds.green ok found | ",
			"hw.printer ok does not read | ",
		}},
		{"file printer in a missing directory", hw.Config{LEDs: &hw.LEDConfig{Green: &hw.PinConfig{Pin: "HWTEST_GREEN"}}, Printer: &printer.Config{Transport: "file", Path: "/nonexistent/dir/r.bin"}}, nil, []string{
			"hw.leds.green ok found | ",
			"hw.printer FAIL /nonexistent/dir/r.bin | directory exists",
		}},
		{"invalid config", hw.Config{Relay: &hw.RelayConfig{PinConfig: hw.PinConfig{Pin: "HWTEST_RELAY"}, PulseMS: -1}}, nil, []string{
			"hw FAIL pulse_ms | fix the hw section",
			"hw ok console | ",
			"hw.relay ok found | ",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			got := hw.Check(context.Background(), tt.cfg)
			if len(got) != len(tt.want) {
				t.Fatalf("Check = %d findings, want %d:\n%s", len(got), len(tt.want), dump(got))
			}
			for i, w := range tt.want {
				head, hint, _ := strings.Cut(w, " | ")
				part, rest, _ := strings.Cut(head, " ")
				ok, verdict, _ := strings.Cut(rest, " ")
				f := got[i]
				if f.Part != part || f.OK != (ok == "ok") || !strings.Contains(f.Verdict, verdict) || !strings.Contains(f.Hint, hint) {
					t.Errorf("finding %d = %+v\nwant part %s ok=%v verdict ~%q hint ~%q", i, f, part, ok == "ok", verdict, hint)
				}
				if !f.OK && f.Hint == "" {
					t.Errorf("finding %d fails without a hint: %+v", i, f)
				}
			}
		})
	}
}

func dump(fs []hw.Finding) string {
	b, _ := json.MarshalIndent(fs, "", "  ")
	return string(b)
}
