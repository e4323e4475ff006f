// Command gateagent is MynaGate's edge daemon and the operator's tool on a gate:
// it reads My Number cards, decides offline, drives the gate and syncs records.
//
// Each subcommand lives in its own cmd_*.go file and registers itself; main only
// dispatches.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mynagate/mynagate/internal/cli"
)

var commands = cli.Set{}

// register adds a subcommand; name may have two words ("card read").
func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("gateagent: command registered twice: " + name)
	}
	commands[name] = cli.Command{Summary: summary, Run: run}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return commands.Dispatch(ctx, "gateagent", args, stdout, stderr)
}
