package reader

import (
	"testing"

	"github.com/ebfe/scard"
)

func TestNewCard(t *testing.T) {
	const present = scard.StatePresent
	for _, tc := range []struct {
		name     string
		old, cur scard.StateFlag
		want     bool
	}{
		{"arrives", scard.StateEmpty, present, true},
		{"first look with a card", scard.StateUnaware, present, true},
		{"still there", present | 1<<16, present | 1<<16, false},
		{"swapped between polls", present | 1<<16, present | 2<<16, true},
		{"leaves", present, scard.StateEmpty, false},
		{"mute card", scard.StateEmpty, present | scard.StateMute, false},
	} {
		if got := newCard(tc.old, tc.cur); got != tc.want {
			t.Errorf("%s: newCard = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	w := &Watcher{Patterns: []string{"ACS ACR1252*", "Virtual PCD 00 01"}}
	got := w.match([]string{"ACS ACR1252 1S CL Reader PICC 00 00", "Virtual PCD 00 00", "Virtual PCD 00 01"})
	if len(got) != 2 || got[0] != "ACS ACR1252 1S CL Reader PICC 00 00" || got[1] != "Virtual PCD 00 01" {
		t.Fatalf("match = %q", got)
	}
	if all := (&Watcher{}).match([]string{"a", "b"}); len(all) != 2 {
		t.Fatalf("no patterns must match all readers, got %q", all)
	}
}
