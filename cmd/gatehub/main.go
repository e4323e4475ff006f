// Command gatehub is MynaGate's central hub: it runs (or connects to) the MQTT
// broker, ingests every gate's events and health, and publishes signed lists.
//
//	gatehub run --config FILE
//	gatehub keygen --out FILE
//	gatehub hsm init --config FILE [--import-secret FILE] [--public-out FILE]
//	gatehub enroll import --config FILE --site SITE [--list whitelist] [--replace] FILE.csv
//	gatehub revoke --config FILE --site SITE [--list whitelist] [--undo] CARDKEY...
//	gatehub revoke import --config FILE --site SITE [--list whitelist] --roots ROOT.pem CRLFILE
//	gatehub publish --config FILE --site SITE [--list whitelist] [--snapshot]
//	gatehub lists --config FILE --site SITE [--list whitelist]
//	gatehub config set --config FILE --site SITE [--emergency=true|false] [--anti-passback=true|false|gate]
//	        [--accept=LEVELS|gate] [--fallback=LEVELS|none|gate] [--note=TEXT]
//	gatehub config show --config FILE [--site SITE]
//	gatehub config check FILE
//	gatehub gate add --config FILE --site SITE --gate GATE [--out BUNDLE]
//	gatehub gate revoke --config FILE --site SITE --gate GATE
//	gatehub gate list --config FILE [--site SITE]
//	gatehub version
//
// Each command prints human text, or one JSON object per line with --json.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mynagate/mynagate/internal/cli"
)

var commands = cli.Set{
	"run":           {Summary: "run the hub: broker, ingest, dashboard", Run: cmdRun},
	"keygen":        {Summary: "create a demo list-signing key file and print its public key for the gates (production: hsm init)", Run: cmdKeygen},
	"hsm init":      {Summary: "create the list-signing key in the PKCS#11 token and import the card-key secret there; prints the public key for the gates", Run: cmdHSMInit},
	"enroll import": {Summary: "enrol whitelist entries from a CSV file", Run: cmdEnrollImport},
	"revoke":        {Summary: "revoke (or --undo) card keys; takes effect at the next publish", Run: cmdRevoke},
	"revoke import": {Summary: "revoke every certificate of an X.509 CRL checked against a pinned root; takes effect at the next publish", Run: cmdRevokeImport},
	"publish":       {Summary: "sign and publish the next list version (delta or snapshot)", Run: cmdPublish},
	"lists":         {Summary: "show a list's size and publishing state", Run: cmdLists},
	"config check":  {Summary: "check a hub config file and the keys and password files it names", Run: cmdConfigCheck},
	"config set":    {Summary: "change a site's gate config (emergency, anti-passback, levels) and publish it signed", Run: cmdConfigSet},
	"config show":   {Summary: "show the gate config the hub keeps for a site, or for every site", Run: cmdConfigShow},
	"init":          {Summary: "make a hub directory: config, signing key, card-key secret; prints the next steps", Run: cmdInit},
	"migrate":       {Summary: "move a stopped hub's store (hub.db) into PostgreSQL: gatehub migrate --to postgres://...", Run: cmdMigrate},
	"events":        {Summary: "the records: events by site, gate, lane, decision, reason, time; --counts per gate per interval", Run: cmdEvents},
	"gate add":      {Summary: "provision a gate: its broker account, let in at once, and a one-time bundle for gateagent enrol", Run: cmdGateAdd},
	"gate revoke":   {Summary: "shut a gate out at once (a stolen or retired box): its session is cut, its logins and events refused", Run: cmdGateRevoke},
	"gate list":     {Summary: "the provisioned gates, active and revoked", Run: cmdGateList},
	"user add":      {Summary: "add or replace a dashboard login (viewer or operator); the password comes on standard input", Run: cmdUserAdd},

	// Card-key rotation (README "Rotating the card-key secret").
	"cardkey rekey":  {Summary: "carry a site's list over to the next card-key secret (pairs from enrolment files and events); takes effect at the next publish", Run: cmdCardKeyRekey},
	"cardkey finish": {Summary: "end a card-key rotation: re-key once more, then remove what the current secret keys; takes effect at the next publish", Run: cmdCardKeyFinish},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return commands.Dispatch(ctx, "gatehub", args, stdout, stderr)
}
