package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/mynagate/mynagate/config"
)

func init() {
	register("kiosk url", "print the address that opens the kiosk page with its token (for the kiosk's browser)", kioskURLCmd)
}

// kioskURLCmd prints the example page's address with the running daemon's
// token in the fragment, which the browser keeps to itself.
func kioskURLCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent kiosk url", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/mynagate/gateagent.json", "gate config, for kiosk and control")
	lane := fs.String("lane", "", "the kiosk lane the page serves (default: the first enrol or identify lane)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	lanes := cfg.KioskLanes()
	switch {
	case len(lanes) == 0:
		return fmt.Errorf("kiosk url: %s has no enrol or identify lane", *path)
	case !cfg.Kiosk.Page:
		return fmt.Errorf("kiosk url: kiosk.page is off in %s; turn it on (with kiosk.listen) and restart gateagent", *path)
	case *lane == "":
		*lane = lanes[0]
	case !slices.Contains(lanes, *lane):
		return fmt.Errorf("kiosk url: %q is not an enrol or identify lane of %s (have %s)", *lane, *path, strings.Join(lanes, ", "))
	}
	tok, err := os.ReadFile(cfg.Control.TokenFile)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kiosk url: no token at %s: is gateagent running?", cfg.Control.TokenFile)
	}
	if err != nil {
		return fmt.Errorf("kiosk url: read the token: %w; run as the service user (sudo -u mynagate) or root", err)
	}
	frag := url.Values{"token": {strings.TrimSpace(string(tok))}, "lane": {*lane}}.Encode()
	_, err = fmt.Fprintf(stdout, "http://%s/kiosk/#%s\n", cfg.Kiosk.Listen, frag)
	return err
}
