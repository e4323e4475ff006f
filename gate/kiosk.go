package gate

import (
	"context"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/kiosk"
	"github.com/mynagate/mynagate/reader"
)

// openKiosk gives the enrol and identify lanes their screen: the PIN pad and
// the bindings of the agent, served on the control socket.
func (g *Gate) openKiosk() {
	names := g.cfg.KioskLanes()
	if len(names) == 0 {
		return
	}
	g.screen = kiosk.New(names)
	g.screen.PINTimeout = time.Duration(g.cfg.Kiosk.PINTimeout)
	g.agent.PIN, g.agent.Enrolments = g.screen, g.screen
}

// tap is the reader handler: the agent's, and at a kiosk lane the screen is
// told when the card arrives, what was decided, and when the card is gone.
func (g *Gate) tap(ctx context.Context, t reader.Tap) {
	lane := g.agent.LaneOf(t.Reader)
	if g.screen == nil || !config.KioskKind(lane.Kind) {
		g.agent.Decide(ctx, lane, t.Card, t.Caps, t.At)
		return
	}
	g.screen.Presented(lane.Name)
	e := g.agent.Decide(ctx, lane, t.Card, t.Caps, t.At)
	g.screen.Decided(e)
	if err := reader.WaitRemoved(ctx, t.Reader); err == nil {
		g.screen.Removed(lane.Name)
	}
}
