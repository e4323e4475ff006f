package uplink

import (
	"context"
	"encoding/json"
	"time"
)

// Status is the retained health message on {prefix}/{site}/{gate}/status. It is
// published on connect, every StatusInterval, and as the MQTT will (online
// false) when the gate disappears without saying goodbye.
type Status struct {
	Site   string `json:"site"`
	Gate   string `json:"gate"`
	Online bool   `json:"online"`
	// Backlog is how many events wait in the outbox; OldestUnsentS is the age
	// in seconds of the oldest of them (0 when none wait).
	Backlog       int     `json:"backlog"`
	OldestUnsentS float64 `json:"oldest_unsent_s"`
	// OutboxBytes is the outbox file size; OutboxFull is set while the disk
	// budget is exceeded and taps cannot be recorded.
	OutboxBytes int64 `json:"outbox_bytes,omitempty"`
	OutboxFull  bool  `json:"outbox_full,omitempty"`
	// Lists holds the version of each list in force on the gate.
	Lists map[string]ListStatus `json:"lists,omitempty"`
	// Clock is the gate clock when the status was made: the hub compares it
	// with its own to spot a drifting gate.
	Clock time.Time `json:"clock,omitzero"`
	// Health carries the state of the gate's parts an operator must act on,
	// such as "printer": "paper out"; "ok" when fine.
	Health   map[string]string `json:"health,omitempty"`
	Software string            `json:"software,omitempty"`
}

// ListStatus is one list's state on the gate.
type ListStatus struct {
	Version   uint64    `json:"version"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// StatusTopic returns the topic of the gate's retained status.
func (u *Uplink) StatusTopic() string {
	return u.cfg.Prefix + "/" + u.cfg.Site + "/" + u.cfg.Gate + "/status"
}

// CurrentStatus assembles the status the gate would publish now.
func (u *Uplink) CurrentStatus() Status {
	st := Status{
		Site:     u.cfg.Site,
		Gate:     u.cfg.Gate,
		Online:   u.Online(),
		Clock:    time.Now(),
		Software: u.cfg.SoftwareVersion,
	}
	var oldest time.Time
	st.Backlog, oldest = u.ob.Backlog()
	if !oldest.IsZero() {
		st.OldestUnsentS = max(0, time.Since(oldest).Seconds())
	}
	usage := u.ob.Usage()
	st.OutboxBytes, st.OutboxFull = usage.FileBytes, usage.Full
	if u.cfg.Lists != nil {
		st.Lists = u.cfg.Lists()
	}
	if u.cfg.Health != nil {
		st.Health = u.cfg.Health()
	}
	return st
}

// statusLoop publishes the status on connect and then periodically, apart from
// the event publisher so that a slow status never delays taps and the reverse.
func (u *Uplink) statusLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(u.cfg.StatusInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.statusNow:
		case <-tick.C:
		}
		if u.Online() {
			u.publishStatus(true, 10*time.Second)
		}
	}
}

func (u *Uplink) publishStatus(online bool, wait time.Duration) {
	st := u.CurrentStatus()
	st.Online = online
	b, err := json.Marshal(st)
	if err != nil {
		u.log.Error("uplink: encode status", "err", err)
		return
	}
	tok := u.client.Publish(u.StatusTopic(), 1, true, b)
	if !tok.WaitTimeout(wait) {
		u.log.Warn("uplink: status not acknowledged in time; it is sent again at the next interval")
		return
	}
	if err := tok.Error(); err != nil {
		u.log.Warn("uplink: publish status", "err", err)
	}
}
