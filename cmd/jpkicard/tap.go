package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mynagate/mynagate/vcard"
)

// tap presents the card for --hold, then removes it and reports the APDUs.
func tap(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tap", flag.ContinueOnError)
	profile := fs.String("profile", "", "card profile JSON (from jpkicard pki init)")
	addr := fs.String("vpcd", vcard.DefaultVPCD, "vpcd address of the reader slot (slot 1: 127.0.0.1:35964)")
	hold := fs.Duration("hold", 3*time.Second, "how long the card stays on the reader")
	transcript := fs.Bool("transcript", false, "print every APDU and response in hex")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profile == "" || fs.NArg() != 0 {
		return errors.New("tap: --profile FILE is required and takes no arguments")
	}
	p, err := vcard.LoadProfile(*profile)
	if err != nil {
		return err
	}
	card := vcard.NewCard(p)
	ctx, cancel := context.WithTimeout(ctx, *hold)
	defer cancel()
	err = vcard.Present(ctx, *addr, card)
	ex := card.Transcript()
	if *transcript {
		for _, e := range ex {
			fmt.Fprintf(stdout, "> %s\n< %s\n", hex.EncodeToString(e.Command), hex.EncodeToString(e.Response))
		}
	}
	fmt.Fprintf(stdout, "%d APDUs\n", len(ex))
	if errors.Is(err, vcard.ErrPulled) {
		fmt.Fprintln(stdout, "card pulled by the profile's remove_after_apdus")
		return nil
	}
	return err
}
