package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// kioskList is the list a kiosk's enrolment adds to: the site's whitelist,
// which its gates apply.
const kioskList = "whitelist"

// pendingEnrolment is an admitted enrol event the store keeps, committed
// together with the event by whichever instance ingested it, until the list
// box has put its entry into lists.db.
type pendingEnrolment struct {
	ID, Site string
	// Record is the event's Record as stored.
	Record []byte
}

// enrolments turns kiosks' enrol events into whitelist entries and publishes
// the site's list as a delta soon after, so that a card enrolled at a kiosk
// or the box office is admitted at the site's gates within seconds. It runs
// on the instance that leads the lists (the one holding lists.db): the events
// may have been stored by any instance of a shared store.
type enrolments struct {
	h *Hub
	// due are the sites whose list has entries to publish. Every site is
	// due at start, so entries enrolled just before a crash go out too.
	due map[string]bool
}

// enrolPoll is how often the list box looks for new enrolments in the store;
// it reads the store only after a commit (its own, or, on PostgreSQL, any
// instance's) or every enrolRescan.
const (
	enrolPoll   = 200 * time.Millisecond
	enrolRescan = 5 * time.Second
	enrolBatch  = 256
)

func (en *enrolments) run(ctx context.Context) {
	t := time.NewTicker(enrolPoll)
	defer t.Stop()
	seen, last := ^uint64(0), time.Time{}
	en.due = map[string]bool{}
	for _, site := range en.h.gates.get().Sites() {
		en.due[site] = true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c := en.h.store.changes.Load()
		if !en.h.leadsLists() || (c == seen && time.Since(last) < enrolRescan) {
			continue
		}
		seen, last = c, time.Now()
		if err := en.drain(ctx); err != nil {
			en.h.log.Warn("hub: kiosk enrolments not applied yet; retrying", "err", err,
				"hint", "the gates admit the cards once they are; gatehub publish --site publishes by hand")
			seen = ^uint64(0) // try again at the next tick
		}
	}
}

// drain enrols what the store holds, then publishes each site due.
// Enrolling is an idempotent upsert, so an enrolment applied again after a
// crash between lists.db and the store adds nothing twice.
func (en *enrolments) drain(ctx context.Context) error {
	h := en.h
	pending, err := h.store.db.enrolments(enrolBatch)
	if err != nil {
		return err
	}
	if len(pending) == 0 && len(en.due) == 0 {
		return nil
	}
	m, err := OpenMaster(filepath.Join(h.cfg.DataDir, "lists.db"), h.log)
	if err != nil {
		return err
	}
	defer m.Close()
	for _, pe := range pending {
		if err := en.enrol(m, pe); err != nil {
			return err
		}
		if err := h.store.db.enrolled(pe.ID); err != nil {
			return fmt.Errorf("hub: drop the applied enrolment %s: %w", pe.ID, err)
		}
		en.due[pe.Site] = true
	}
	var errs []error
	for site := range en.due {
		if err := en.publish(ctx, m, site); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(en.due, site)
	}
	return errors.Join(errs...)
}

// enrol adds one enrolment's entry to its site's list, if its gate is a
// kiosk; anything else is dropped with a reason.
func (en *enrolments) enrol(m *Master, pe pendingEnrolment) error {
	h := en.h
	var rec Record
	if err := json.Unmarshal(pe.Record, &rec); err != nil {
		h.log.Warn("hub: stored enrolment does not decode; dropped", "event", pe.ID, "err", err)
		return nil
	}
	e, err := event.Decode(rec.Event)
	if err != nil {
		h.log.Warn("hub: stored enrolment does not decode; dropped", "event", pe.ID, "err", err)
		return nil
	}
	if !h.gates.get().Enrols(pe.Site, e.Gate) {
		h.refused.add("enrol_not_kiosk")
		h.log.Warn("hub: enrol event from a gate not provisioned as a kiosk; stored, not enrolled", "site", pe.Site, "gate", e.Gate, "event", e.ID,
			"hint", "provision kiosks and box offices with gatehub gate add --kiosk")
		return nil
	}
	wr, err := enrolRecord(e)
	if err != nil {
		h.log.Warn("hub: enrol event without a valid entry; stored, not enrolled", "site", pe.Site, "gate", e.Gate, "event", e.ID, "err", err)
		return nil
	}
	if _, err := m.Enrol(pe.Site, kioskList, []whitelist.Record{wr}, false); err != nil {
		return err
	}
	h.log.Info("hub: card enrolled at a kiosk", "site", pe.Site, "gate", e.Gate, "event", e.ID, "service_id", e.ServiceID, "seat", e.Seat)
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

// publish signs and publishes site's whitelist if it has changes pending.
func (en *enrolments) publish(ctx context.Context, m *Master, site string) error {
	h := en.h
	if h.key == nil {
		return fmt.Errorf("hub: enrolments of %s not published: no list-signing key configured", site)
	}
	if h.client == nil || !h.client.IsConnectionOpen() {
		return fmt.Errorf("hub: enrolments of %s not published: %w", site, errNotConnected)
	}
	st, err := m.State(site, kioskList)
	if errors.Is(err, ErrNoList) || (err == nil && st.Pending == 0) {
		return nil // nothing new: publish no empty version
	}
	if err != nil {
		return err
	}
	_, err = m.Publish(ctx, &MQTTPublisher{c: h.client}, h.key, site, kioskList, PublishOptions{Prefix: h.cfg.Prefix, Validity: h.cfg.Validity()})
	return err
}
