package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		tty  bool
		want []string
		not  string
	}{
		{"terminal: one line redrawn", true, []string{"\rimporting  [###############...............]  50% 500/1,000 rows\x1b[K", "100% 1,000/1,000 rows\x1b[K\n"}, ""},
		{"log: a line per tenth", false, []string{"importing:  50% (500 of 1,000 rows)\n", "importing: 100% (1,000 of 1,000 rows)\n"}, "\r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			p := &progress{w: &b, tty: tc.tty}
			p.start("importing", "rows")
			p.update(500, 1000)
			p.update(520, 1000) // not a new tenth
			p.update(1000, 1000)
			p.end()
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%q", w, out)
				}
			}
			if tc.not != "" && strings.Contains(out, tc.not) {
				t.Errorf("output has %q:\n%q", tc.not, out)
			}
			if !tc.tty && strings.Contains(out, "52%") {
				t.Errorf("logged 52%% right after 50%%:\n%q", out)
			}
		})
	}
	if count(1234567) != "1,234,567" || count(999) != "999" {
		t.Fatal(count(1234567))
	}
}
