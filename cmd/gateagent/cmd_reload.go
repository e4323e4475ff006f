package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"syscall"
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
	pid := fs.Int("pid", 0, "without control.socket, send SIGHUP to this process instead (the unit's ExecReload passes $MAINPID); the outcome is then only in the daemon's log")
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
		if *pid <= 0 {
			return fmt.Errorf("reload: control.socket is not set in %s; set it to get the outcome here, or use systemctl reload mynagate-gateagent and read the outcome in the journal", *path)
		}
		if err := syscall.Kill(*pid, syscall.SIGHUP); err != nil {
			return fmt.Errorf("reload: signal gateagent (pid %d): %w", *pid, err)
		}
		_, err := fmt.Fprintf(stdout, "sent SIGHUP to gateagent (pid %d); its log says whether the PIN-less credential was renewed (set control.socket to get the outcome here)\n", *pid)
		return err
	}
	var res gate.PINLessReload
	if err := localapi.NewClient(cfg.Control.Socket, cfg.Control.TokenFile).Call(ctx, gate.OpReload, struct{}{}, &res); err != nil {
		return err
	}
	out := printer{w: stdout, json: *asJSON}
	return out.emit(res, fmt.Sprintf("PIN-less credential renewed: key %s, certificate %s valid until %s (was until %s)",
		res.KeyLabel, res.Certificate, res.NotAfter.Format(time.DateOnly), res.PreviousNotAfter.Format(time.DateOnly)))
}
