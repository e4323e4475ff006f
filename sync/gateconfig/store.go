package gateconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
)

// fileFormat names the store file's format.
const fileFormat = "mynagate-gateconfig/1"

// file is the store file: the document in force with its version.
type file struct {
	Format    string          `json:"format"`
	Version   uint64          `json:"version"`
	AppliedAt time.Time       `json:"applied_at"`
	Doc       json.RawMessage `json:"doc"`
}

// Options tune a Store.
type Options struct {
	// OnChange, if set, is called with each newly applied document, after it
	// is on disk, in version order, from the goroutine that applied it (the
	// lists receiver's Run). It is not called by Open for the document
	// already stored: read that with Current. It may call Current.
	//
	// Run calls it again, with the same document, when a declared emergency
	// lapses, so that the caller re-reads EmergencyActive.
	OnChange func(Doc)
	// Clock tells the time emergencies lapse by; nil is the system clock.
	Clock clock.Clock
	// Logger receives one line per applied document, with its note.
	Logger *slog.Logger
}

// Store keeps the hub's configuration document on the gate: the last applied
// version and document, in one file replaced atomically (temporary file,
// fsync, rename, fsync of the directory). It is the lists.RawApplier of the
// config list. Safe for concurrent use.
type Store struct {
	path string
	opt  Options
	log  *slog.Logger

	// apply serialises ApplyRaw, so that OnChange calls come in version
	// order; mu guards the fields below it.
	apply     sync.Mutex
	mu        sync.Mutex
	doc       Doc
	version   uint64
	appliedAt time.Time
	// changed wakes Run when a new document is in force.
	changed chan struct{}
}

// Open reads the store file at path; a missing file is version 0 with the
// zero document (no emergency, nothing overridden).
func Open(path string, opt Options) (*Store, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	s := &Store{path: path, opt: opt, log: log.With("component", "gateconfig"), changed: make(chan struct{}, 1)}
	// A temporary file left by a crash before its rename is not in force.
	if err := os.Remove(s.tmpPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("gateconfig: open %s: remove a leftover temporary file: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateconfig: open %s: %w", path, err)
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err = dec.Decode(&f); err == nil && f.Format != fileFormat {
		err = fmt.Errorf("format %q, want %q", f.Format, fileFormat)
	}
	var d Doc
	if err == nil {
		d, err = Parse(f.Doc)
	}
	if err != nil {
		return nil, fmt.Errorf("gateconfig: open %s: %w; remove the file to start on the gate's own config, the hub's config is received again at the next connect", path, err)
	}
	s.doc, s.version, s.appliedAt = d, f.Version, f.AppliedAt
	return s, nil
}

func (s *Store) tmpPath() string { return s.path + ".tmp" }

// Version returns the version in force, 0 if none was applied.
func (s *Store) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Current returns the document in force and its version (0 and the zero
// document if none was applied).
func (s *Store) Current() (Doc, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc.clone(), s.version
}

// EmergencyActive reports whether the document in force declares an emergency
// that has not lapsed by the store's clock.
func (s *Store) EmergencyActive() bool {
	d, _ := s.Current()
	return d.Active(s.opt.Clock.Now())
}

// Run waits, by the store's clock, for the emergency in force to lapse and
// then logs it and calls OnChange, so that the gate stops accepting the
// fallback levels at the declared end even while the hub is unreachable. A
// newly applied document re-arms the wait. It returns nil when ctx is done.
func (s *Store) Run(ctx context.Context) error {
	for {
		d, v := s.Current()
		var (
			t    clock.Timer
			fire <-chan time.Time
		)
		if d.Active(s.opt.Clock.Now()) {
			t = s.opt.Clock.NewTimer(d.EmergencyUntil.Sub(s.opt.Clock.Now()))
			fire = t.C()
		}
		stop := func() {
			if t != nil {
				t.Stop()
			}
		}
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-s.changed:
			stop()
		case <-fire:
			if d2, v2 := s.Current(); v2 != v || d2.Active(s.opt.Clock.Now()) {
				continue // replaced (or renewed) meanwhile
			}
			s.log.Warn("gateconfig: the hub's emergency declaration lapsed: the fallback levels are no longer accepted; the hub renews it with gatehub config set --emergency=true --for",
				"version", v, "emergency_until", d.EmergencyUntil)
			if s.opt.OnChange != nil {
				s.opt.OnChange(d.clone())
			}
		}
	}
}

// AppliedAt returns when the version in force was applied (kept on disk, so it
// survives restarts); zero if none was.
func (s *Store) AppliedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appliedAt
}

// ApplyRaw parses payload, refuses it unless version is above the one in
// force, writes it to disk atomically, makes it current and calls OnChange.
// On any error the previous document stays in force.
func (s *Store) ApplyRaw(version uint64, payload []byte) error {
	d, err := Parse(payload)
	if err != nil {
		return fmt.Errorf("gateconfig: apply v%d: %w; fix the document on the hub and publish again", version, err)
	}
	s.apply.Lock()
	defer s.apply.Unlock()
	if cur := s.Version(); version <= cur {
		return fmt.Errorf("gateconfig: apply v%d: not above v%d in force (stale or replayed)", version, cur)
	}
	now := time.Now().UTC()
	if err := s.write(file{Format: fileFormat, Version: version, AppliedAt: now, Doc: payload}); err != nil {
		return fmt.Errorf("gateconfig: apply v%d: %w; check the gate's disk, the previous config stays in force", version, err)
	}
	s.mu.Lock()
	s.doc, s.version, s.appliedAt = d, version, now
	s.mu.Unlock()
	lvl := slog.LevelInfo
	if d.Emergency {
		lvl = slog.LevelWarn
	}
	s.log.Log(context.Background(), lvl, "gateconfig: the hub's config is in force", "version", version, "config", d)
	select {
	case s.changed <- struct{}{}:
	default:
	}
	if s.opt.OnChange != nil {
		s.opt.OnChange(d.clone())
	}
	return nil
}

// write replaces the store file atomically.
func (s *Store) write(f file) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	tmp := s.tmpPath()
	w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	_, err = w.Write(b)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write: %w", err)
	}
	dir, err := os.Open(filepath.Dir(s.path))
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
