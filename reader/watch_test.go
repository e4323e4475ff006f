package reader_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
)

// watch runs a Watcher until the test ends.
func watch(t *testing.T, patterns []string, h reader.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		(&reader.Watcher{Patterns: patterns, Poll: 200 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}).Run(ctx, h)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func readLabel(tap reader.Tap) (string, error) {
	c := jpki.New(tap.Card, tap.Caps)
	if err := c.SelectAP(); err != nil {
		return "", err
	}
	tok, err := c.ReadToken()
	return tok.Label, err
}

// TestTwoLanesConcurrently proves lanes do not wait for each other: the handler
// on slot 0 does not return until slot 1's handler has run.
func TestTwoLanesConcurrently(t *testing.T) {
	slots := pcsctest.AcquireAll(t)
	slot1Done := make(chan struct{})
	got := make(chan string, 2)
	watch(t, []string{slots[0].Reader, slots[1].Reader}, func(ctx context.Context, tap reader.Tap) {
		label, err := readLabel(tap)
		if err != nil {
			t.Errorf("%s: %v", tap.Reader, err)
		}
		if tap.Reader == slots[0].Reader {
			select {
			case <-slot1Done:
			case <-time.After(10 * time.Second):
				t.Error("slot 1 was not served while slot 0's tap was in progress")
			}
		} else {
			close(slot1Done)
		}
		got <- tap.Reader + " " + label
	})
	remove0 := taptest.Present(t, slots[0], taptest.Profile(t, "card-001.json"))
	defer remove0()
	time.Sleep(100 * time.Millisecond) // slot 0 first, so it is the one waiting
	remove1 := taptest.Present(t, slots[1], taptest.Profile(t, "card-002.json"))
	defer remove1()
	seen := map[string]bool{}
	for range 2 {
		select {
		case s := <-got:
			seen[s] = true
		case <-time.After(15 * time.Second):
			t.Fatalf("taps handled: %v", seen)
		}
	}
	for _, s := range slots {
		if !seen[s.Reader+" JPKIAPICCTOKEN2"] {
			t.Errorf("no tap read on %s: %v", s.Reader, seen)
		}
	}
}

// TestOneTapPerPresentation: a card left on the reader is read once, and read
// again only after it is taken off and put back.
func TestOneTapPerPresentation(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	taps := make(chan string, 8)
	watch(t, []string{slot.Reader}, func(ctx context.Context, tap reader.Tap) { taps <- tap.Reader })
	for i := range 2 {
		remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
		select {
		case <-taps:
		case <-time.After(10 * time.Second):
			t.Fatalf("presentation %d not seen", i+1)
		}
		time.Sleep(time.Second) // several status polls with the card lying there
		remove()
	}
	if n := len(taps); n != 0 {
		t.Fatalf("%d extra taps for cards lying on the reader", n)
	}
}

// TestSurvivesPCSCDRestart stops pcscd under a running watcher and starts it
// again: the watcher re-establishes its context and reads the next tap.
func TestSurvivesPCSCDRestart(t *testing.T) {
	slots := pcsctest.AcquireAll(t)
	taps := make(chan string, 8)
	watch(t, []string{slots[0].Reader}, func(ctx context.Context, tap reader.Tap) {
		label, err := readLabel(tap)
		if err != nil {
			t.Errorf("read after restart: %v", err)
		}
		taps <- label
	})
	tapOnce := func(what string) {
		remove := taptest.Present(t, slots[0], taptest.Profile(t, "card-001.json"))
		defer remove()
		select {
		case l := <-taps:
			if l != "JPKIAPICCTOKEN2" {
				t.Errorf("%s: label %q", what, l)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no tap within 20 s", what)
		}
	}
	tapOnce("before the restart")
	pcsctest.StopPCSCD(t)
	time.Sleep(1500 * time.Millisecond) // the watcher meets a dead pcscd and keeps waiting
	pcsctest.EnsurePCSCD(t)
	tapOnce("after the restart")
}

// TestTransactionExcludesOthers: while a tap holds its transaction, another
// PC/SC client cannot interleave APDUs; it gets the card only afterwards.
func TestTransactionExcludesOthers(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	order := make(chan string, 2)
	handlerIn := make(chan struct{})
	watch(t, []string{slot.Reader}, func(ctx context.Context, tap reader.Tap) {
		close(handlerIn)
		time.Sleep(300 * time.Millisecond)
		if _, err := readLabel(tap); err != nil {
			t.Error(err)
		}
		order <- "tap"
	})
	remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
	defer remove()
	select {
	case <-handlerIn:
	case <-time.After(10 * time.Second):
		t.Fatal("no tap")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reader.Once(ctx, slot.Reader, func(tap reader.Tap) error {
		order <- "other"
		_, err := readLabel(tap)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if first := <-order; first != "tap" {
		t.Fatalf("%q got the card while the tap's transaction was open", first)
	}
}

// TestList sees both vpcd readers and which has a card.
func TestList(t *testing.T) {
	slots := pcsctest.AcquireAll(t)
	remove := taptest.Present(t, slots[1], taptest.Profile(t, "card-001.json"))
	defer remove()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reader.Once(ctx, slots[1].Reader, func(reader.Tap) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rs, err := reader.List()
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]bool{}
	for _, r := range rs {
		state[r.Name] = r.Card
	}
	if c, ok := state[slots[0].Reader]; !ok || c {
		t.Errorf("%s: listed %v, card %v; want listed, empty", slots[0].Reader, ok, c)
	}
	if c, ok := state[slots[1].Reader]; !ok || !c {
		t.Errorf("%s: listed %v, card %v; want listed with a card", slots[1].Reader, ok, c)
	}
}

func TestOnceNoReader(t *testing.T) {
	pcsctest.EnsurePCSCD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := reader.Once(ctx, "No Such Reader 99", func(reader.Tap) error { return nil })
	if !errors.Is(err, reader.ErrNoReader) {
		t.Fatalf("err = %v, want ErrNoReader", err)
	}
}
