package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gate"
)

func init() {
	register("run", "run the gate daemon (systemd Type=notify)", runCmd)
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/mynagate/gateagent.json", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := gate.NewLogger(stderr, cfg.Log)
	g, err := gate.Open(cfg, log, stdout)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer g.Close()
	// systemctl reload sends SIGHUP: renew the PIN-less credential.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go g.ReloadOn(ctx, hup)
	return g.Run(ctx)
}
