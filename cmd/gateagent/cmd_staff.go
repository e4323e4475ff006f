package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/localapi"
)

func init() {
	register("staff checkin", "check in a person without a card by slip number (shelter station)", staffCmd(agent.StaffCheckin))
	register("staff checkout", "check out a person checked in by slip number (shelter station)", staffCmd(agent.StaffCheckout))
	register("staff open", "open the turnstile once, with a recorded reason (venue gate)", staffCmd(agent.StaffOpen))
}

// staffCmd returns the command for one staff action: it asks the running
// daemon, over its control socket, to record it.
func staffCmd(action string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := flag.NewFlagSet("gateagent staff "+action, flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "/etc/mynagate/gateagent.json", "gate config, for control.socket")
		r := agent.StaffRequest{Action: action}
		if action == agent.StaffOpen {
			fs.StringVar(&r.Reason, "reason", "", "why: forgotten_card, paper_ticket or other")
		} else {
			fs.StringVar(&r.Slip, "slip", "", "the number written on the person's slip")
		}
		if action != agent.StaffCheckout {
			fs.StringVar(&r.Note, "note", "", "optional note, kept at the hub only; no name is needed")
		}
		asJSON := fs.Bool("json", false, "print the recorded event as JSON")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := r.Validate(); err != nil {
			return err
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		if cfg.Control.Socket == "" {
			return fmt.Errorf("staff %s: control.socket is not set in %s; set it and restart gateagent", action, *path)
		}
		return staff(ctx, localapi.NewClient(cfg.Control.Socket, cfg.Control.TokenFile), r, printer{w: stdout, json: *asJSON})
	}
}

// staff sends one request and prints what was recorded.
func staff(ctx context.Context, c localapi.Caller, r agent.StaffRequest, out printer) error {
	var e event.Event
	if err := c.Call(ctx, gate.OpStaff, r, &e); err != nil {
		return fmt.Errorf("staff %s: %w", r.Action, err)
	}
	text := fmt.Sprintf("recorded: %s at %s (seq %d, id %s)", e.Kind, e.Place, e.Seq, e.ID)
	if r.Action == agent.StaffOpen {
		text = fmt.Sprintf("turnstile opened once: %s recorded at lane %s (seq %d, id %s)", e.Staff, e.Lane, e.Seq, e.ID)
	}
	return out.emit(e, text)
}
