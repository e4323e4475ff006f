package uplink

import (
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// After a connect paho resends what its store holds, but it starts the
// connect handler first, in a goroutine of its own: an event the uplink
// published from there could land in the store before paho listed it, and go
// out twice. So the uplink publishes only once paho has listed its store for
// the connection (or resumeWait after the connect, should it never list).

// resumeWait bounds the wait for paho's listing after a connect.
const resumeWait = 2 * time.Second

// resumeStore is paho's store, telling the uplink when paho listed it for a
// connection's resume. paho lists it before connecting too (to reserve
// message ids); that listing does not count.
type resumeStore struct {
	mqtt.Store
	connected func() bool
	listed    func()
}

// All lists the stored keys, and reports the listing of a resume.
func (s *resumeStore) All() []string {
	keys := s.Store.All()
	if s.connected() {
		s.listed()
	}
	return keys
}

// resumed marks the connection ready for publishing and wakes the loop.
func (u *Uplink) resumed() {
	if u.ready.Swap(true) {
		return
	}
	select {
	case u.wake <- struct{}{}:
	default:
	}
}
