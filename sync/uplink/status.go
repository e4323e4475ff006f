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
	// The backlog split by what it waits for, each with the age in seconds
	// of its oldest tap. AwaitingHub events wait for the hub's receipt: the
	// broker acknowledged them, or they are held back unsent because the
	// window of events the hub has not receipted is full. AwaitingBroker
	// events wait for the broker: the gate has no connection to it, or the
	// broker has not acknowledged them yet. A growing AwaitingBroker means
	// the gate's link or the broker is down; a growing AwaitingHub with
	// AwaitingBroker near 0 means the hub is down or not subscribed.
	AwaitingBroker        int     `json:"awaiting_broker"`
	AwaitingBrokerOldestS float64 `json:"awaiting_broker_oldest_s"`
	AwaitingHub           int     `json:"awaiting_hub"`
	AwaitingHubOldestS    float64 `json:"awaiting_hub_oldest_s"`
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
	st.OldestUnsentS = age(oldest)
	w := u.Awaiting()
	st.AwaitingBroker, st.AwaitingBrokerOldestS = w.Broker, age(w.BrokerOldest)
	st.AwaitingHub, st.AwaitingHubOldestS = w.Hub, age(w.HubOldest)
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

// age returns the seconds since t, 0 for the zero time.
func age(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return max(0, time.Since(t).Seconds())
}

// Awaiting splits the backlog by what each event waits for.
type Awaiting struct {
	// Hub counts events waiting for the hub's receipt: acknowledged by the
	// broker, or held back unsent while the window of unreceipted events is
	// full, so that only the hub can move them. Broker counts the rest:
	// everything while the gate is offline, else events sent and not yet
	// acknowledged by the broker, sent and failed, or not yet sent with
	// room to send them. The Oldest times are the tap times of the oldest of
	// each (zero when none). Broker+Hub is the outbox's backlog, give or
	// take events receipted a moment ago and not yet removed.
	Broker, Hub             int
	BrokerOldest, HubOldest time.Time
}

// Awaiting returns what the backlog waits for now.
func (u *Uplink) Awaiting() Awaiting {
	var w Awaiting
	online := u.Online()
	u.fmu.Lock()
	next := u.fl.next
	inTable := len(u.fl.byseq)
	// The events after the table wait for the hub when its window is what
	// keeps them from being sent: connected, the hub window full, room in
	// the broker window.
	held := online && inTable >= hubWindow && u.fl.inBroker < brokerWindow
	for _, f := range u.fl.byseq {
		if online && f.awaitingHub() {
			w.Hub++
			w.HubOldest = earliest(w.HubOldest, f.at)
		} else {
			w.Broker++
			w.BrokerOldest = earliest(w.BrokerOldest, f.at)
		}
	}
	u.fmu.Unlock()
	n, _ := u.ob.Backlog()
	rest := max(0, n-inTable)
	if rest == 0 {
		return w
	}
	var oldest time.Time
	if evs, err := u.ob.Pending(next, 1); err == nil && len(evs) == 1 {
		oldest = evs[0].At
	}
	if held {
		w.Hub += rest
		w.HubOldest = earliest(w.HubOldest, oldest)
	} else {
		w.Broker += rest
		w.BrokerOldest = earliest(w.BrokerOldest, oldest)
	}
	return w
}

// earliest returns the earlier of a and b, a zero time counting as none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// RefreshStatus asks for the status to be published now rather than at the
// next interval: the gate calls it when it applied a list, so the hub shows
// the new version at once. It never blocks; offline it does nothing (the
// status goes out on connect).
func (u *Uplink) RefreshStatus() {
	select {
	case u.statusNow <- struct{}{}:
	default:
	}
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
