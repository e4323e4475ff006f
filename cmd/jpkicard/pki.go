package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mynagate/mynagate/vcard/pki"
)

// pkiInit writes a test PKI and card profiles into DIR.
func pkiInit(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pki init", flag.ContinueOnError)
	cards := fs.Int("cards", 5, "number of valid numbered cards (the last is left off the whitelist)")
	// Flags may follow DIR, as the usage line shows.
	var dir string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() != 0 || dir == "" {
		return errors.New("pki init: want exactly one DIR")
	}
	if err := pki.Init(dir, pki.Options{Cards: *cards}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test PKI written to %s (see %s/README.txt)\n", dir, dir)
	return nil
}
