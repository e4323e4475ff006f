package gate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/internal/sdnotify"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/reader"
)

// readerPoll is how often the gate re-lists the readers for its readiness
// and health: the reader loop itself serves taps and knows nothing of lanes
// that wait for a reader.
const readerPoll = 2 * time.Second

// readerState is what the last listing of readers found.
type readerState struct {
	// Err is why pcscd could not be asked; nil when it answered.
	Err error
	// Missing lists each lane whose reader pcscd does not show, as
	// `lane "pattern"`.
	Missing []string
	// Present is every reader pcscd listed.
	Present []string
}

// ok reports whether every lane has its reader.
func (s readerState) ok() bool { return s.Err == nil && len(s.Missing) == 0 }

// status is the one line systemd shows (STATUS=) for this state.
func (s readerState) status(lanes int) string {
	switch {
	case s.Err != nil:
		return "degraded: cannot reach pcscd (" + s.Err.Error() + "); not deciding taps"
	case len(s.Missing) == lanes:
		return "degraded: waiting for the reader of " + strings.Join(s.Missing, ", ") + "; no lane decides taps"
	case len(s.Missing) > 0:
		return "degraded: waiting for the reader of " + strings.Join(s.Missing, ", ") + "; the other lanes decide taps"
	}
	return fmt.Sprintf("deciding taps on %d lane(s)", lanes)
}

// listReaders finds which lanes' readers pcscd shows. A lane whose reader is
// "*" needs any reader.
func listReaders(lanes []config.Lane, list func() ([]reader.Status, error)) readerState {
	rs, err := list()
	if err != nil {
		return readerState{Err: err}
	}
	var st readerState
	for _, r := range rs {
		st.Present = append(st.Present, r.Name)
	}
	for _, l := range lanes {
		found := false
		for _, r := range rs {
			found = found || reader.Match(l.Reader, r.Name)
		}
		if !found {
			st.Missing = append(st.Missing, fmt.Sprintf("lane %s %q", l.Name, l.Reader))
		}
	}
	return st
}

// readiness tells systemd the truth about the gate: READY=1 only once every
// lane's reader is present, a STATUS= line naming what is missing until then
// (and whenever a reader goes away later), with the start timeout extended
// while it waits so that a gate booted without its reader is neither
// restarted in a loop nor reported ready.
type readiness struct {
	lanes []config.Lane
	list  func() ([]reader.Status, error)
	// notify sends to systemd; onReady is called once, when READY=1 goes.
	notify  func(string) error
	onReady func()

	mu     sync.Mutex
	state  readerState
	ready  bool
	status string
}

// check lists the readers once and tells systemd what changed.
func (r *readiness) check() {
	st := listReaders(r.lanes, r.list)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = st
	status := st.status(len(r.lanes))
	var msg []string
	if !r.ready && st.ok() {
		r.ready = true
		msg = append(msg, "READY=1")
		r.onReady()
	}
	if status != r.status {
		msg = append(msg, "STATUS="+status)
		r.status = status
	}
	if !r.ready {
		// Until ready, each check buys the start job the time to the next.
		msg = append(msg, "EXTEND_TIMEOUT_USEC="+strconv.FormatInt((3*readerPoll).Microseconds(), 10))
	}
	if len(msg) > 0 {
		r.notify(strings.Join(msg, "\n"))
	}
}

// run checks every interval until ctx is done.
func (r *readiness) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check()
		}
	}
}

// readers returns the last listing.
func (r *readiness) readers() readerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// newReadiness watches cfg's lanes through pcscd and notifies systemd.
func newReadiness(cfg *config.Config, onReady func()) *readiness {
	return &readiness{lanes: cfg.Lanes, list: reader.List, notify: sdnotify.Notify, onReady: onReady}
}

// readerHealth fills the status's "pcscd" and "readers" entries from the last
// listing.
func (g *Gate) readerHealth(h map[string]string) {
	st := g.ready.readers()
	switch {
	case st.Err != nil:
		h["pcscd"] = st.Err.Error()
		h["readers"] = "unknown: pcscd does not answer"
	case len(st.Missing) > 0:
		h["pcscd"] = "ok"
		h["readers"] = "missing: " + strings.Join(st.Missing, ", ")
	default:
		h["pcscd"] = "ok"
		h["readers"] = fmt.Sprintf("ok: %d lane(s), %d reader(s) present", len(g.cfg.Lanes), len(st.Present))
	}
}

// hsmTimeout bounds the token check of a status: a hung USB token must not
// hold the status back.
const hsmTimeout = 3 * time.Second

// hsmHealth looks for the gate's keys in the token.
func (g *Gate) hsmHealth() string {
	done := make(chan string, 1)
	go func() {
		st, err := g.hsm.Status(g.cfg.CardKey.HSMLabel, g.cfg.HSM.InstitutionKeyLabel)
		if err != nil {
			done <- err.Error()
			return
		}
		var missing []string
		for _, k := range st.Keys {
			if !k.Found {
				missing = append(missing, k.Label)
			}
		}
		if len(missing) > 0 {
			done <- "token lacks " + strings.Join(missing, ", ")
			return
		}
		done <- "ok"
	}()
	select {
	case s := <-done:
		return s
	case <-time.After(hsmTimeout):
		return fmt.Sprintf("token not answering within %s", hsmTimeout)
	}
}

// certHealth says how long the institution certificate has left, and asks
// for a renewal in its last CertRenewDays.
func certHealth(c *pinless.Certificate, now time.Time) string {
	days := int(CertEnd(c).Sub(now).Hours() / 24)
	switch {
	case days < 0:
		return "expired on " + c.NotAfter.Format(time.DateOnly) + ": cards refuse this gate"
	case days < CertRenewDays:
		return fmt.Sprintf("renew now: %d day(s) left, valid through %s", days, c.NotAfter.Format(time.DateOnly))
	}
	return fmt.Sprintf("ok: %d day(s) left, valid through %s", days, c.NotAfter.Format(time.DateOnly))
}

// timesyncFile is touched by systemd-timesyncd at each synchronisation.
const timesyncFile = "/run/systemd/timesync/synchronized"

// clockStale is how long a clock may go without a confirmed synchronisation
// before the status says so: certificate validity and ticket windows are
// judged by it, offline.
const clockStale = 24 * time.Hour

// clockHealth says when systemd-timesyncd last confirmed the clock.
func clockHealth(syncFile string, now time.Time) string {
	fi, err := os.Stat(syncFile)
	switch {
	case err == nil && now.Sub(fi.ModTime()) > clockStale:
		return fmt.Sprintf("not confirmed for %s: last synchronised %s", now.Sub(fi.ModTime()).Round(time.Minute), fi.ModTime().UTC().Format(time.RFC3339))
	case err == nil:
		return "ok: synchronised " + fi.ModTime().UTC().Format(time.RFC3339)
	}
	if _, err := os.Stat(filepath.Dir(syncFile)); err != nil {
		return "unknown: systemd-timesyncd does not run here"
	}
	return "not confirmed: no synchronisation since boot; check the network to the NTP servers (timedatectl timesync-status)"
}

// CertEnd is the first instant the institution certificate is no longer
// valid: it covers the whole NotAfter day (UTC).
func CertEnd(c *pinless.Certificate) time.Time { return c.NotAfter.AddDate(0, 0, 1) }

// CertRenewDays is how long before the institution certificate ends the
// status and the doctor ask for a renewal: cards refuse the gate from the day
// after.
const CertRenewDays = 30
