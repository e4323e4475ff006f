// Command jpkicard is a virtual My Number card for tests and demos: it presents
// a card profile to vsmartcard's vpcd reader, and writes the test PKI the
// profiles come from.
//
//	jpkicard tap --profile FILE [--vpcd HOST:PORT] [--hold DURATION] [--transcript]
//	jpkicard pki init DIR [--cards N]
//	jpkicard pki institution DIR --public-key FILE --out FILE [--code DIGITS] [--days N]
//	jpkicard pki crl DIR --out FILE [--card PROFILE]... [--serial HEX]... [--number N] [--hours N]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) >= 1 && args[0] == "tap":
		err = tap(ctx, args[1:], stdout)
	case len(args) >= 2 && args[0] == "pki" && args[1] == "init":
		err = pkiInit(args[2:], stdout)
	case len(args) >= 2 && args[0] == "pki" && args[1] == "institution":
		err = pkiInstitution(args[2:], stdout)
	case len(args) >= 2 && args[0] == "pki" && args[1] == "crl":
		err = pkiCRL(args[2:], stdout)
	default:
		fmt.Fprintln(stderr, "usage:\n  jpkicard tap --profile FILE [--vpcd HOST:PORT] [--hold DURATION] [--transcript]\n  jpkicard pki init DIR [--cards N]\n  jpkicard pki institution DIR --public-key FILE --out FILE [--code DIGITS] [--days N]\n  jpkicard pki crl DIR --out FILE [--card PROFILE]... [--serial HEX]... [--number N] [--hours N]")
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "jpkicard: %v\n", err)
		return 1
	}
	return 0
}
