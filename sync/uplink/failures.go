package uplink

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// connectFailures logs failed connection attempts once per change of cause,
// plus a summary every so often while they go on, instead of a line every
// retry: a gate with a wrong password would otherwise write one every two
// seconds for as long as nobody fixes it.
type connectFailures struct {
	log   *slog.Logger
	every time.Duration

	mu       sync.Mutex
	cause    string // the last failure's message, "" while connected
	since    time.Time
	attempts int
	reported time.Time
}

func (c *connectFailures) failed(err error, now time.Time) {
	msg := "unknown"
	if err != nil {
		msg = err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	switch {
	case msg != c.cause:
		if c.cause == "" {
			c.since, c.attempts = now, 1
		}
		c.cause, c.reported = msg, now
		c.log.Warn("uplink: connect failed; "+hint(err)+"; the backlog is kept on disk", "err", err)
	case now.Sub(c.reported) >= c.every:
		c.reported = now
		c.log.Warn("uplink: still not connected; "+hint(err)+"; the backlog is kept on disk",
			"err", err, "attempts", c.attempts, "since", c.since.Format(time.RFC3339))
	}
}

func (c *connectFailures) connected() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != "" {
		c.log.Info("uplink: connected again", "attempts", c.attempts, "down_for", time.Since(c.since).Round(time.Second).String())
	}
	c.cause, c.attempts = "", 0
}

// hint says what an operator checks for a connect error.
func hint(err error) string {
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return "the broker refused this gate's login: check mqtt.username and the password file (gateagent doctor), or whether the gate was revoked at the hub"
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return "the broker refused this gate's client id: check mqtt.client_id"
	default:
		return "is the broker up and reachable?"
	}
}
