package vcard_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/vcard"
)

// insert presents the profile's card on a locked vpcd slot and waits until
// pcscd reports it. The card is removed when the test ends; the returned
// function waits for Present's result.
func insert(t testing.TB, profile string) (pcsctest.Slot, *vcard.Card, *vcard.Profile, func() error) {
	t.Helper()
	slot := pcsctest.Acquire(t, 1)
	p, err := vcard.LoadProfile("testdata/pki/" + profile + ".json")
	if err != nil {
		t.Fatal(err)
	}
	card := vcard.NewCard(p)
	// A card left by the slot's previous holder would be taken for ours.
	waitState(t, slot.Reader, scard.StateEmpty)
	ctx, cancel := context.WithCancel(context.Background())
	var presentErr error
	done := make(chan struct{})
	go func() {
		presentErr = vcard.Present(ctx, slot.Addr, card)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		// Wait for pcscd to see the removal, so the next test on this slot
		// does not find a stale card.
		waitState(t, slot.Reader, scard.StateEmpty)
	})
	waitState(t, slot.Reader, scard.StatePresent)
	return slot, card, p, func() error { <-done; return presentErr }
}

// waitState blocks until the reader's state has want, through the PC/SC
// status-change call rather than sleeping: vpcd's insertion is seen within
// pcscd's poll interval.
func waitState(t testing.TB, reader string, want scard.StateFlag) {
	t.Helper()
	ctx, err := scard.EstablishContext()
	if err != nil {
		t.Fatalf("PC/SC context: %v (is pcscd running?)", err)
	}
	defer ctx.Release()
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.GetStatusChange(rs, time.Second); err != nil && !errors.Is(err, scard.ErrTimeout) {
			t.Fatalf("GetStatusChange(%s): %v", reader, err)
		}
		if rs[0].EventState&want != 0 {
			return
		}
		rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
	}
	t.Fatalf("reader %s never reached state %#x (last %#x)", reader, want, rs[0].EventState)
}

func connect(t testing.TB, reader string) *scard.Card {
	t.Helper()
	ctx, err := scard.EstablishContext()
	if err != nil {
		t.Fatalf("PC/SC context: %v", err)
	}
	t.Cleanup(func() { ctx.Release() })
	c, err := ctx.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		t.Fatalf("connect %s: %v", reader, err)
	}
	// LeaveCard, not ResetCard: resetting a card that was pulled makes pcscd
	// (1.9, with vpcd) miss the next insertion on that reader.
	t.Cleanup(func() { c.Disconnect(scard.LeaveCard) })
	return c
}

func transmit(t testing.TB, c *scard.Card, apdu []byte) []byte {
	t.Helper()
	r, err := c.Transmit(apdu)
	if err != nil {
		t.Fatalf("transmit % X: %v", apdu, err)
	}
	return r
}

func TestPCSCReadCertificate(t *testing.T) {
	slot, card, p, _ := insert(t, "card-001")
	c := connect(t, slot.Reader)
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.Atr, card.ATR()) {
		t.Errorf("pcscd reports ATR % X, want % X", st.Atr, card.ATR())
	}
	ok := []byte{0x90, 0x00}
	if r := transmit(t, c, append([]byte{0x00, 0xA4, 0x04, 0x0C, 0x0A}, vcard.AID...)); !bytes.Equal(r, ok) {
		t.Fatalf("SELECT AP: % X", r)
	}
	if r := transmit(t, c, []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A}); !bytes.Equal(r, ok) {
		t.Fatalf("SELECT EF 000A: % X", r)
	}
	blk, _ := pem.Decode([]byte(p.Certificate))
	var got []byte
	for len(got) < len(blk.Bytes) {
		n := min(256, len(blk.Bytes)-len(got))
		r := transmit(t, c, []byte{0x00, 0xB0, byte(len(got) >> 8), byte(len(got)), byte(n)})
		if len(r) != n+2 || !bytes.HasSuffix(r, ok) {
			t.Fatalf("READ BINARY at %d: %d bytes, SW % X", len(got), len(r), r[max(0, len(r)-2):])
		}
		got = append(got, r[:n]...)
	}
	if !bytes.Equal(got, blk.Bytes) {
		t.Fatal("certificate read through pcscd differs from the profile's")
	}
}

func TestPCSCPulledCard(t *testing.T) {
	slot, _, _, wait := insert(t, "pulled")
	c := connect(t, slot.Reader)
	transmit(t, c, append([]byte{0x00, 0xA4, 0x04, 0x0C, 0x0A}, vcard.AID...))
	transmit(t, c, []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A})
	transmit(t, c, []byte{0x00, 0xB0, 0x00, 0x00, 0x04})
	// vpcd answers the APDU during which the card vanished with an empty
	// response and no error; the next one fails.
	if r, err := c.Transmit([]byte{0x00, 0xB0, 0x00, 0x00, 0x00}); err == nil && len(r) >= 2 {
		t.Fatalf("4th APDU answered % X after the card was pulled", r)
	}
	if err := wait(); !errors.Is(err, vcard.ErrPulled) {
		t.Errorf("Present returned %v, want ErrPulled", err)
	}
}

// TestOpenSC checks the card against an independent implementation: OpenSC's
// jpki driver must list the four JPKI certificates and read the user-auth
// certificate byte for byte.
func TestOpenSC(t *testing.T) {
	tool := testenv.LookPath(t, "pkcs15-tool", "opensc")
	slot, _, p, _ := insert(t, "card-001")
	// By name, not index: the index shifts when a real reader is plugged in.
	reader := slot.Reader
	out, err := exec.Command(tool, "--list-certificates", "--reader", reader).CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs15-tool --list-certificates: %v\n%s", err, out)
	}
	for _, want := range []string{"User Authentication Certificate", "Path           : 000a", "User Authentication Certificate CA"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("pkcs15-tool --list-certificates lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(tool, "--read-certificate", "01", "--reader", reader).Output()
	if err != nil {
		t.Fatalf("pkcs15-tool --read-certificate 01: %v", err)
	}
	got, _ := pem.Decode(out)
	want, _ := pem.Decode([]byte(p.Certificate))
	if got == nil || !bytes.Equal(got.Bytes, want.Bytes) {
		t.Fatalf("OpenSC read a different certificate:\n%s", out)
	}
}

// BenchmarkPCSCCertRead reads EF 000A through pcscd and vpcd the way a gate
// does: short APDUs (4-byte header, then 256-byte chunks) on card-001, one
// extended READ BINARY on card-002. It reports APDUs per read for the
// cert_read_apdus_* rows of scripts/bench.
func BenchmarkPCSCCertRead(b *testing.B) {
	selectAP := append([]byte{0x00, 0xA4, 0x04, 0x0C, 0x0A}, vcard.AID...)
	b.Run("short", func(b *testing.B) {
		slot, _, _, _ := insert(b, "card-001")
		c := connect(b, slot.Reader)
		apdus := 0
		for b.Loop() {
			transmit(b, c, selectAP)
			transmit(b, c, []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A})
			hdr := transmit(b, c, []byte{0x00, 0xB0, 0x00, 0x00, 0x04})
			total := 4 + (int(hdr[2])<<8 | int(hdr[3]))
			apdus = 1
			for off := 0; off < total; off += 256 {
				transmit(b, c, []byte{0x00, 0xB0, byte(off >> 8), byte(off), byte(min(256, total-off))})
				apdus++
			}
		}
		b.ReportMetric(float64(apdus), "readapdus/op")
	})
	b.Run("extended", func(b *testing.B) {
		slot, _, _, _ := insert(b, "card-002")
		c := connect(b, slot.Reader)
		for b.Loop() {
			transmit(b, c, selectAP)
			if r := transmit(b, c, []byte{0x00, 0xB0, 0x8A, 0x00, 0x00, 0x00, 0x00}); len(r) < 1000 {
				b.Fatalf("extended READ BINARY returned %d bytes", len(r))
			}
		}
		b.ReportMetric(1, "readapdus/op")
	})
}
