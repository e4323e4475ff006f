package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// kioskList is the list a kiosk's enrolment adds to: the site's whitelist,
// which its gates apply.
const kioskList = "whitelist"

// enrolments turns kiosks' enrol events into whitelist entries and has the
// site's list published as a delta soon after, so that a card enrolled at a
// kiosk or the box office is admitted at the site's gates within seconds.
type enrolments struct {
	h    *Hub
	mu   sync.Mutex
	due  map[string]bool // sites with entries to publish
	wake chan struct{}
}

func newEnrolments(h *Hub) *enrolments {
	return &enrolments{h: h, due: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// enrolPattern finds enrol events cheaply, before any decoding: every other
// event goes straight to the store.
var enrolPattern = []byte(`"kind":"enrol"`)

// take adds the entry of an admitted enrol event to the site's list, before
// the event is stored: an error leaves the event unstored and unreceipted,
// so its kiosk sends it again. Adding is idempotent, so a resent event (or
// one stored before a crash) adds nothing twice.
func (en *enrolments) take(site, gate string, payload []byte) error {
	if !bytes.Contains(payload, enrolPattern) {
		return nil
	}
	e, err := event.Decode(payload)
	if err != nil || e.Kind != event.KindEnrol || e.Decision != event.Admit {
		return nil // the store judges it as any other event
	}
	if !en.h.gates.get().Enrols(site, e.Gate) || e.Gate != gate {
		en.h.refused.add("enrol_not_kiosk")
		en.h.log.Warn("hub: enrol event from a gate not provisioned as a kiosk; stored, not enrolled", "site", site, "gate", gate, "event", e.ID,
			"hint", "provision kiosks and box offices with gatehub gate add --kiosk")
		return nil
	}
	rec, err := enrolRecord(e)
	if err != nil {
		en.h.log.Warn("hub: enrol event without a valid entry; stored, not enrolled", "site", site, "gate", e.Gate, "event", e.ID, "err", err)
		return nil
	}
	m, err := OpenMaster(filepath.Join(en.h.cfg.DataDir, "lists.db"), en.h.log)
	if err != nil {
		return fmt.Errorf("hub: enrol from %s/%s: %w", site, e.Gate, err)
	}
	defer m.Close()
	if _, err := m.Enrol(site, kioskList, []whitelist.Record{rec}, false); err != nil {
		return fmt.Errorf("hub: enrol from %s/%s: %w", site, e.Gate, err)
	}
	en.h.log.Info("hub: card enrolled at a kiosk", "site", site, "gate", e.Gate, "event", e.ID, "service_id", e.ServiceID, "seat", e.Seat)
	en.publishSoon(site)
	return nil
}

// enrolRecord is the whitelist record an enrol event binds its card to.
func enrolRecord(e event.Event) (whitelist.Record, error) {
	if e.Grant == nil {
		return whitelist.Record{}, errors.New("no grant")
	}
	key, err := cardkey.ParseKey(e.Card)
	if err != nil {
		return whitelist.Record{}, err
	}
	g := e.Grant
	entry := whitelist.Entry{ServiceID: e.ServiceID, Kind: g.Kind, Seat: e.Seat, Group: g.Group,
		ValidFrom: g.ValidFrom, ValidUntil: g.ValidUntil, Zones: g.Zones}
	if err := entry.Validate(); err != nil {
		return whitelist.Record{}, err
	}
	return whitelist.Record{Key: key, Entry: entry}, nil
}

func (en *enrolments) publishSoon(site string) {
	en.mu.Lock()
	en.due[site] = true
	en.mu.Unlock()
	select {
	case en.wake <- struct{}{}:
	default:
	}
}

// publishGather lets enrolments arriving together (a family at the kiosk,
// a backlog after an outage) go out as one delta.
const publishGather = 200 * time.Millisecond

// run publishes the sites with new enrolments until ctx is done. At start it
// publishes every provisioned site, so entries enrolled just before a crash
// go out too (a site with nothing pending publishes nothing).
func (en *enrolments) run(ctx context.Context) {
	for _, site := range en.h.gates.get().Sites() {
		en.publishSoon(site)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-en.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(publishGather):
		}
		en.mu.Lock()
		sites := en.due
		en.due = map[string]bool{}
		en.mu.Unlock()
		for site := range sites {
			if err := en.publish(ctx, site); err != nil {
				en.h.log.Warn("hub: kiosk enrolments not published yet; retrying", "site", site, "err", err,
					"hint", "gates admit the cards once it is; gatehub publish --site publishes by hand")
				en.retry(ctx, site)
			}
		}
	}
}

// retry publishes site again a little later.
func (en *enrolments) retry(ctx context.Context, site string) {
	time.AfterFunc(2*time.Second, func() {
		if ctx.Err() == nil {
			en.publishSoon(site)
		}
	})
}

func (en *enrolments) publish(ctx context.Context, site string) error {
	h := en.h
	if h.key == nil {
		return errors.New("no list-signing key configured")
	}
	if h.client == nil || !h.client.IsConnectionOpen() {
		return errNotConnected
	}
	m, err := OpenMaster(filepath.Join(h.cfg.DataDir, "lists.db"), h.log)
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := m.State(site, kioskList)
	if errors.Is(err, ErrNoList) || (err == nil && st.Pending == 0) {
		return nil // no list, or nothing new: publish no empty version
	}
	if err != nil {
		return err
	}
	_, err = m.Publish(ctx, &MQTTPublisher{c: h.client}, h.key, site, kioskList, PublishOptions{Prefix: h.cfg.Prefix, Validity: h.cfg.Validity()})
	return err
}
