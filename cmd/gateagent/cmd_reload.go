package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/localapi"
)

func init() {
	register("reload", "renew the PIN-less institution certificate and key of the running gate, without stopping it", reloadCmd)
}

// reloadCmd asks the running daemon, over its control socket, to put the
// institution certificate and key the config names in force, and prints what
// it did or why it refused (the credential in force then stays).
func reloadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/mynagate/gateagent.json", "gate config, for control.socket")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if cfg.Control.Socket == "" {
		return fmt.Errorf("reload: control.socket is not set in %s; use systemctl reload mynagate-gateagent (SIGHUP) and read the outcome in the journal", *path)
	}
	var res gate.PINLessReload
	if err := localapi.NewClient(cfg.Control.Socket, cfg.Control.TokenFile).Call(ctx, gate.OpReload, struct{}{}, &res); err != nil {
		return err
	}
	out := printer{w: stdout, json: *asJSON}
	return out.emit(res, fmt.Sprintf("PIN-less credential renewed: key %s, certificate %s valid until %s (was until %s)",
		res.KeyLabel, res.Certificate, res.NotAfter.Format(time.DateOnly), res.PreviousNotAfter.Format(time.DateOnly)))
}
