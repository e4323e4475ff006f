package escpos

import (
	"fmt"
	"strings"
)

// StatusRequests are the real-time status requests DLE EOT 1 to 4 (printer,
// offline cause, error cause, roll paper sensor), in the order ParseStatus expects
// their one-byte answers.
var StatusRequests = [4][]byte{
	{0x10, 0x04, 1},
	{0x10, 0x04, 2},
	{0x10, 0x04, 3},
	{0x10, 0x04, 4},
}

// Status is the printer's state as reported by DLE EOT. The zero value means ready.
type Status struct {
	Offline         bool // DLE EOT 1 bit 3
	CoverOpen       bool // DLE EOT 2 bit 2
	PaperOut        bool // DLE EOT 2 bit 5 or DLE EOT 4 bits 5-6
	PaperNearEnd    bool // DLE EOT 4 bits 2-3
	CutterError     bool // DLE EOT 3 bit 3
	Unrecoverable   bool // DLE EOT 3 bit 5
	AutoRecoverable bool // DLE EOT 3 bit 6: head too hot, for example
}

// Ready reports whether the printer can print now. A near-end roll still prints.
func (s Status) Ready() bool {
	return !s.Offline && !s.CoverOpen && !s.PaperOut && !s.CutterError && !s.Unrecoverable && !s.AutoRecoverable
}

// Problems lists what an operator should do, one phrase each; empty when Ready and
// the roll is not near its end.
func (s Status) Problems() []string {
	var p []string
	if s.PaperOut {
		p = append(p, "paper out: load a new roll")
	}
	if s.CoverOpen {
		p = append(p, "cover open: close the printer cover")
	}
	if s.CutterError {
		p = append(p, "cutter error: open the cover, remove jammed paper")
	}
	if s.Unrecoverable {
		p = append(p, "unrecoverable error: power the printer off and on")
	}
	if s.AutoRecoverable {
		p = append(p, "temporary error (head temperature): wait a moment")
	}
	if s.Offline && len(p) == 0 {
		p = append(p, "offline: check the printer's power and error lamp")
	}
	if s.PaperNearEnd {
		p = append(p, "paper near end: prepare a new roll")
	}
	return p
}

// String is "ready" or the problems joined by "; ".
func (s Status) String() string {
	if p := s.Problems(); len(p) > 0 {
		return strings.Join(p, "; ")
	}
	return "ready"
}

// ParseStatus decodes the four answers to StatusRequests, in order. Each answer has
// fixed bits (0xx1xx10); an answer that breaks them is not a status byte (line
// noise, a printer in another mode, an Automatic Status Back packet) and is an error.
func ParseStatus(answers []byte) (Status, error) {
	if len(answers) != len(StatusRequests) {
		return Status{}, fmt.Errorf("escpos: status: got %d answer bytes, want %d", len(answers), len(StatusRequests))
	}
	for i, b := range answers {
		if b&0x93 != 0x12 {
			return Status{}, fmt.Errorf("escpos: status: answer %#02x to DLE EOT %d breaks the fixed bits; is this an ESC/POS printer?", b, i+1)
		}
	}
	printer, offline, errs, paper := answers[0], answers[1], answers[2], answers[3]
	return Status{
		Offline:         printer&0x08 != 0,
		CoverOpen:       offline&0x04 != 0,
		PaperOut:        offline&0x20 != 0 || paper&0x60 == 0x60,
		PaperNearEnd:    paper&0x0c == 0x0c,
		CutterError:     errs&0x08 != 0,
		Unrecoverable:   errs&0x20 != 0,
		AutoRecoverable: errs&0x40 != 0,
	}, nil
}
