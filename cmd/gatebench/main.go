// Command gatebench measures a gate end to end on this machine, through the real
// PC/SC stack: taps on the vpcd reader to decisions, APDUs per certificate read,
// and a whole `gateagent card read` against OpenSC's pkcs15-tool on the same
// virtual card. scripts/bench runs it and prints the rows with the Go benchmarks'
// as one table. Each row is one JSON object per line: name, value, unit, note.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mynagate/mynagate/offline/policy"
)

// row is one measured figure, named as in DESIGN.md §7.
type row struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Note  string  `json:"note,omitempty"`
}

func main() {
	taps := flag.Int("taps", 40, "taps to time for tap_to_decision")
	runs := flag.Int("runs", 15, "runs of each whole command for cert_read_vs_opensc_ratio")
	vpcd := flag.String("vpcd", "127.0.0.1:35963", "vpcd slot address")
	readerName := flag.String("reader", "Virtual PCD 00 00", "PC/SC name of that slot")
	gateagent := flag.String("gateagent", "bin/gateagent", "gateagent binary for the whole-command comparison")
	table := flag.Bool("table", false, "read rows (JSON lines) on stdin and print them as a table with the machine, instead of measuring")
	flag.Parse()
	if *table {
		if err := printTable(os.Stdin, os.Stdout); err != nil {
			fail(err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(os.Stdout)
	emit := func(r row) { enc.Encode(r) }
	unlock, err := lockSlot(*vpcd)
	if err != nil {
		fail(err)
	}
	defer unlock()
	dir, err := os.MkdirTemp("", "gatebench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	env := benchEnv{dir: dir, vpcd: *vpcd, reader: *readerName}
	if err := env.certReadAPDUs(ctx, emit); err != nil {
		fail(fmt.Errorf("cert_read_apdus: %w", err))
	}
	for _, level := range []string{policy.AssuranceCert, policy.AssurancePINLess} {
		if err := env.tapToDecision(ctx, *taps, level, emit); err != nil {
			fail(fmt.Errorf("tap_to_decision at %s: %w", level, err))
		}
	}
	if err := env.versusOpenSC(ctx, *gateagent, *runs, emit); err != nil {
		fail(fmt.Errorf("cert_read_vs_opensc_ratio: %w", err))
	}
}

// lockSlot takes the same per-slot lock as the tests (internal/pcsctest), so a
// bench run and a test run never present cards on one vpcd slot at once.
func lockSlot(vpcdAddr string) (func(), error) {
	slot := 0
	if strings.HasSuffix(vpcdAddr, ":35964") {
		slot = 1
	}
	f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("mynagate-vpcd-slot%d.lock", slot)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock vpcd slot %d: %w", slot, err)
	}
	return func() { f.Close() }, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gatebench:", err)
	os.Exit(1)
}
