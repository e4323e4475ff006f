// Command gatehub is MynaGate's central hub: it runs (or connects to) the MQTT
// broker, ingests every gate's events and health, and publishes signed lists.
//
//	gatehub run --config FILE
//	gatehub keygen --out FILE
//	gatehub enroll import --config FILE --site SITE [--list whitelist] [--replace] FILE.csv
//	gatehub revoke --config FILE --site SITE [--list whitelist] [--undo] CARDKEY...
//	gatehub publish --config FILE --site SITE [--list whitelist] [--snapshot]
//	gatehub lists --config FILE --site SITE [--list whitelist]
//
// Each command prints human text, or one JSON object per line with --json.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"run":           {"run the hub: broker, ingest, dashboard", cmdRun},
	"keygen":        {"create the list-signing key and print its public key for the gates", cmdKeygen},
	"enroll import": {"enrol whitelist entries from a CSV file", cmdEnrollImport},
	"revoke":        {"revoke (or --undo) card keys; takes effect at the next publish", cmdRevoke},
	"publish":       {"sign and publish the next list version (delta or snapshot)", cmdPublish},
	"lists":         {"show a list's size and publishing state", cmdLists},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	for n := min(2, len(args)); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		if c, ok := commands[name]; ok {
			if err := c.run(ctx, args[n:], stdout, stderr); err != nil {
				fmt.Fprintf(stderr, "gatehub %s: %v\n", name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintln(stderr, "usage: gatehub COMMAND [flags]\n\ncommands:")
	for _, name := range []string{"run", "keygen", "enroll import", "revoke", "publish", "lists"} {
		fmt.Fprintf(stderr, "  %-14s %s\n", name, commands[name].summary)
	}
	return 2
}
