package gate

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/kiosk"
	"github.com/mynagate/mynagate/localapi"
)

// OpStaff is the control socket's operation for staff records.
const OpStaff = "staff"

// control is the gate's local control socket: staff records, the renewal of
// the PIN-less credential, and a kiosk screen's operations and event stream.
func (g *Gate) control() *localapi.Server {
	s := &localapi.Server{
		Socket: g.cfg.Control.Socket, TokenFile: g.cfg.Control.TokenFile, Log: g.log.With("part", "control"),
		Ops: map[string]localapi.Op{OpStaff: g.staff, OpReload: g.reload},
	}
	if g.screen != nil {
		maps.Copy(s.Ops, g.screen.Ops())
		s.Streams, s.Listen = g.screen.Streams(), g.cfg.Kiosk.Listen
		if g.cfg.Kiosk.Page {
			s.Pages = kiosk.Page()
		}
	}
	return s
}

// staff records a staff request and answers with the recorded event.
func (g *Gate) staff(ctx context.Context, body []byte) (any, error) {
	r, err := agent.ParseStaffRequest(body)
	if err != nil {
		return nil, localapi.Refused(err)
	}
	e, err := g.agent.Staff(ctx, r, time.Now())
	if errors.Is(err, agent.ErrStaffRefused) {
		return nil, localapi.Refused(err)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}
