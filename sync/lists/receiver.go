package lists

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// Applier is what a gate's list store provides to the receiver: the version in
// force and an atomic apply of a snapshot or delta (offline/whitelist.Store
// satisfies it). Apply must refuse a version at or below the current one and
// leave the previous list in force on any error.
type Applier interface {
	Version() uint64
	Apply(version uint64, snapshot bool, puts []whitelist.Record, deletes []cardkey.Key, revoke, unrevoke []cardkey.Key) error
}

// CRLApplier is an Applier that also records, in the same transaction, the
// CRLs a version's signed manifest names (Manifest.CRLs), so that the gate
// knows when each is due to be replaced (offline/whitelist.Store satisfies
// it). The receiver uses it instead of Apply when the store provides it.
type CRLApplier interface {
	ApplyWithCRLs(version uint64, snapshot bool, puts []whitelist.Record, deletes []cardkey.Key, revoke, unrevoke []cardkey.Key, crls []crl.Info) error
}

// RawApplier is the store of a list whose payload is not whitelist records,
// such as the hub's configuration document ("config"): the receiver hands it
// the payload bytes of a snapshot only once the whole version verified
// (manifest signature, every chunk's hash, the payload's size and hash).
// Raw lists take snapshots only; deltas are refused. ApplyRaw must check the
// payload, refuse a version at or below the current one and leave the
// previous version in force on any error; it owns payload.
type RawApplier interface {
	Version() uint64
	ApplyRaw(version uint64, payload []byte) error
}

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	// Prefix and Site select the topics: {prefix}/{site}/lists/{list}/...
	Prefix, Site string
	// Keys are the pinned hub public keys; a manifest must verify with one.
	// Several allow a key rotation.
	Keys []ed25519.PublicKey
	// Lists maps a list name (whitelist, revocations) to its store.
	Lists map[string]Applier
	// Raw maps the name of a snapshot-only list whose payload is not
	// whitelist records (config) to its store. A name is in Lists or Raw,
	// not both.
	Raw map[string]RawApplier
	// RequestSnapshot asks the broker for the retained snapshots again; it is
	// called when a delta does not connect to the version in force. The gate
	// wires it to the uplink's Resubscribe of Filter(prefix, site). Optional.
	RequestSnapshot func()
	// MaxOrphanBytes bounds chunks held before their manifest arrived (they
	// are unauthenticated until then); default 64 MiB.
	MaxOrphanBytes int64
	// MinVersions are the lowest versions accepted, by list name, from the
	// gate's provisioning bundle: a fresh or reset gate (version 0 in force)
	// refuses an older signed version replayed to it, which would undo a
	// revocation or bring back an ended emergency.
	MinVersions map[string]uint64
	// Clock tells the time a manifest's expiry is checked against; nil is
	// the system clock.
	Clock clock.Clock
	// Skew is how far the gate's clock may be ahead: a version is refused
	// as expired once Clock.Now() - Skew is past its expiry.
	Skew time.Duration
	// AcceptUnexpiring accepts manifests without an expiry, which hubs
	// older than the field publish. Off, such a manifest is refused: an
	// attacker replaying one could otherwise keep a gate on it for ever.
	AcceptUnexpiring bool
	// Logger receives one line per refusal and per applied version.
	Logger *slog.Logger
}

// Reasons a signed, well-formed version is refused, as Refused counts them.
const (
	RefusedExpired      = "expired"
	RefusedBelowMinimum = "below_minimum"
	RefusedNoExpiry     = "no_expiry"
)

// Receiver assembles, verifies and applies list versions from MQTT messages.
// Handle takes messages (it never blocks on an apply); Run applies complete
// versions in order.
type Receiver struct {
	cfg  ReceiverConfig
	log  *slog.Logger
	base string
	wake chan struct{}

	mu          sync.Mutex
	lists       map[string]*listState
	orphanBytes int64
	refused     map[string]uint64
}

type asmKey struct {
	kind    Kind
	version uint64
}

// assembly is a list version whose signed manifest arrived.
type assembly struct {
	m      *Manifest
	chunks [][]byte
	have   int
}

type listState struct {
	// Exactly one of app and raw is set.
	app       Applier
	raw       RawApplier
	asm       map[asmKey]*assembly
	orphans   map[asmKey]map[uint32][]byte
	ready     map[asmKey]*assembly
	appliedAt time.Time
	lastAsk   time.Time
	// expires is the expiry of the version in force, from its signed
	// manifest (the latest renewal seen); known is false until this process
	// saw a manifest of that version.
	expires time.Time
	known   bool
}

// version is the version in force.
func (st *listState) version() uint64 {
	if st.raw != nil {
		return st.raw.Version()
	}
	return st.app.Version()
}

// maxReady bounds complete versions waiting for their turn (deltas that do not
// connect yet).
const maxReady = 64

// askEvery rate-limits snapshot requests after a gap.
const askEvery = 30 * time.Second

// Filter returns the subscription filter for a site's lists.
func Filter(prefix, site string) string { return prefix + "/" + site + "/lists/#" }

// ManifestTopic returns where a list version's manifest is published (retained):
// one topic for the latest snapshot, one per delta version. version is ignored
// for a snapshot.
func ManifestTopic(prefix, site, list string, k Kind, version uint64) string {
	t := prefix + "/" + site + "/lists/" + list + "/" + string(k)
	if k == Delta {
		t += "/" + strconv.FormatUint(version, 10)
	}
	return t
}

// ChunkTopic returns where chunk i of a list version is published (retained).
func ChunkTopic(prefix, site, list string, k Kind, version uint64, i int) string {
	return ManifestTopic(prefix, site, list, k, version) + "/" + strconv.Itoa(i)
}

// NewReceiver checks cfg and returns a Receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("lists: receiver: no pinned hub key; set the hub's public key in the gate config")
	}
	for i, k := range cfg.Keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("lists: receiver: key %d is %d bytes, not an Ed25519 public key", i, len(k))
		}
	}
	if err := validName(cfg.Site); err != nil {
		return nil, fmt.Errorf("lists: receiver: site %q: %w", cfg.Site, err)
	}
	if len(cfg.Lists)+len(cfg.Raw) == 0 {
		return nil, errors.New("lists: receiver: no list stores")
	}
	for name, v := range cfg.MinVersions {
		if cfg.Lists[name] == nil && cfg.Raw[name] == nil {
			return nil, fmt.Errorf("lists: receiver: minimum version %d for list %q, which this gate does not use; check min_list_versions", v, name)
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.MaxOrphanBytes <= 0 {
		cfg.MaxOrphanBytes = 64 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{
		cfg:     cfg,
		log:     log.With("component", "lists"),
		base:    cfg.Prefix + "/" + cfg.Site + "/lists/",
		wake:    make(chan struct{}, 1),
		lists:   map[string]*listState{},
		refused: map[string]uint64{},
	}
	add := func(name string, st *listState) error {
		if err := validName(name); err != nil {
			return fmt.Errorf("lists: receiver: list %q: %w", name, err)
		}
		if r.lists[name] != nil {
			return fmt.Errorf("lists: receiver: list %q is both in Lists and in Raw; give it one store", name)
		}
		st.asm, st.orphans, st.ready = map[asmKey]*assembly{}, map[asmKey]map[uint32][]byte{}, map[asmKey]*assembly{}
		r.lists[name] = st
		return nil
	}
	for name, app := range cfg.Lists {
		if err := add(name, &listState{app: app}); err != nil {
			return nil, err
		}
	}
	for name, raw := range cfg.Raw {
		if err := add(name, &listState{raw: raw}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Info is one list's state on the gate.
type Info struct {
	Version uint64
	// AppliedAt is when this process last applied a version (zero if it has
	// not since start).
	AppliedAt time.Time
	// Expires is when the version in force expires, from its signed
	// manifest's latest renewal; ExpiryKnown is false until this process saw
	// a manifest of that version (after a restart, until the broker sends
	// the retained manifests again). A known zero Expires is an accepted
	// manifest without expiry (AcceptUnexpiring).
	Expires     time.Time
	ExpiryKnown bool
}

// Expired reports whether the version in force is known to have expired at
// now, less skew. The gate keeps deciding on an expired list (refusing every
// card would shut a venue for want of a hub) but reports it loudly.
func (i Info) Expired(now time.Time, skew time.Duration) bool {
	return i.ExpiryKnown && !i.Expires.IsZero() && now.Add(-skew).After(i.Expires)
}

// Versions reports each list's version in force, for the gate's status.
func (r *Receiver) Versions() map[string]Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Info, len(r.lists))
	for name, st := range r.lists {
		out[name] = Info{Version: st.version(), AppliedAt: st.appliedAt, Expires: st.expires, ExpiryKnown: st.known}
	}
	return out
}

// Refused counts signed, well-formed versions refused since start, by reason
// (RefusedExpired, RefusedBelowMinimum, RefusedNoExpiry), for the gate's
// metrics.
func (r *Receiver) Refused() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.refused))
	for k, v := range r.refused {
		out[k] = v
	}
	return out
}

// Handle takes one message under Filter(prefix, site). It verifies what it can
// at once (manifest signature, chunk hashes) and returns; applying happens in
// Run. Safe for concurrent use.
func (r *Receiver) Handle(topic string, payload []byte) {
	if len(payload) == 0 {
		return // a cleared retained message
	}
	rest, ok := strings.CutPrefix(topic, r.base)
	if !ok {
		return
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 4 {
		r.log.Warn("lists: ignored message on an unexpected topic", "topic", topic)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.lists[parts[0]]
	if st == nil {
		r.log.Debug("lists: ignored a list this gate does not use", "topic", topic)
		return
	}
	kind := Kind(parts[1])
	if kind != Snapshot && kind != Delta {
		r.log.Warn("lists: ignored message on an unexpected topic", "topic", topic)
		return
	}
	if kind == Delta && st.raw != nil {
		r.log.Warn("lists: refused a delta of a snapshot-only list; the version in force stays", "topic", topic, "version_in_force", st.raw.Version())
		return
	}
	// snapshot: list/snapshot[/i]; delta: list/delta/version[/i]. The
	// version in a delta topic only spreads deltas over retained topics; the
	// signed manifest and chunk header are what count.
	if kind == Delta {
		if len(parts) < 3 {
			r.log.Warn("lists: ignored message on an unexpected topic", "topic", topic)
			return
		}
		parts = append(parts[:2], parts[3:]...)
	}
	if len(parts) == 2 {
		r.manifest(st, parts[0], kind, topic, payload)
		return
	}
	if len(parts) != 3 {
		r.log.Warn("lists: ignored message on an unexpected topic", "topic", topic)
		return
	}
	idx, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil {
		r.log.Warn("lists: ignored chunk with a bad index in its topic", "topic", topic)
		return
	}
	r.chunk(st, kind, uint32(idx), topic, payload)
}

func (r *Receiver) manifest(st *listState, list string, kind Kind, topic string, payload []byte) {
	m, err := ParseManifest(payload, r.cfg.Keys)
	if err != nil {
		r.log.Warn("lists: refused manifest; the list in force stays", "topic", topic, "err", err, "version_in_force", st.version())
		return
	}
	if m.Site != r.cfg.Site || m.List != list || m.Kind != kind {
		r.log.Warn("lists: refused manifest signed for another place; the list in force stays", "topic", topic,
			"manifest_site", m.Site, "manifest_list", m.List, "manifest_kind", m.Kind)
		return
	}
	cur := st.version()
	if m.Version < cur {
		r.log.Warn("lists: refused version not above the one in force (stale or replayed)", "list", list, "kind", kind, "version", m.Version, "version_in_force", cur)
		return
	}
	if lowest := r.cfg.MinVersions[list]; m.Version < lowest {
		r.refused[RefusedBelowMinimum]++
		r.log.Warn("lists: refused version below the minimum this gate was provisioned with (an old version replayed); the list in force stays",
			"list", list, "kind", kind, "version", m.Version, "min_version", lowest, "version_in_force", cur)
		return
	}
	if m.Version == cur {
		r.renewed(st, list, m)
		return
	}
	if reason := r.stale(m); reason != "" {
		r.refused[reason]++
		r.log.Warn("lists: refused version: "+reasonText[reason]+"; the list in force stays", "list", list, "kind", kind, "version", m.Version,
			"expires", m.Expires, "version_in_force", cur, "hint", reasonHint[reason])
		return
	}
	k := asmKey{kind, m.Version}
	if st.asm[k] != nil || st.ready[k] != nil {
		return // the same version again (a retained resend)
	}
	a := &assembly{m: m, chunks: make([][]byte, len(m.Chunks))}
	st.asm[k] = a
	for i, data := range st.orphans[k] {
		r.orphanBytes -= int64(len(data))
		r.place(st, list, a, i, data)
	}
	delete(st.orphans, k)
	r.complete(st, list, k, a)
}

var reasonText = map[string]string{
	RefusedExpired:  "its signed expiry has passed by this gate's clock",
	RefusedNoExpiry: "its manifest carries no expiry (a hub older than the field, or a replayed old version)",
}

var reasonHint = map[string]string{
	RefusedExpired:  "check that gatehub run is up (it renews the lists) and the gate's clock",
	RefusedNoExpiry: "upgrade the hub and publish again; set accept_unexpiring_lists only while it is upgraded",
}

// stale returns why m may not be applied at the receiver's clock now, or "".
// Called with r.mu held.
func (r *Receiver) stale(m *Manifest) string {
	switch {
	case m.Expires.IsZero() && !r.cfg.AcceptUnexpiring:
		return RefusedNoExpiry
	case !m.Expires.IsZero() && r.cfg.Clock.Now().Add(-r.cfg.Skew).After(m.Expires):
		return RefusedExpired
	}
	return ""
}

// renewed takes the expiry of a manifest of the version in force: the hub
// re-signs retained manifests with a later expiry (a renewal), and a gate
// that restarted learns its list's expiry from them. Only a later expiry is
// taken, so a replayed older renewal cannot shorten nor lengthen anything.
// Called with r.mu held.
func (r *Receiver) renewed(st *listState, list string, m *Manifest) {
	if m.Expires.IsZero() && !r.cfg.AcceptUnexpiring {
		return
	}
	if st.known && (st.expires.IsZero() || !m.Expires.After(st.expires)) {
		r.log.Debug("lists: version already in force", "list", list, "version", m.Version)
		return
	}
	st.expires, st.known = m.Expires, true
	if r.stale(m) == RefusedExpired {
		r.log.Warn("lists: the list in force has expired: the hub has not renewed it; the gate keeps deciding on it", "list", list, "version", m.Version, "expires", m.Expires,
			"hint", reasonHint[RefusedExpired])
		return
	}
	r.log.Info("lists: expiry of the list in force", "list", list, "version", m.Version, "expires", m.Expires)
}

func (r *Receiver) chunk(st *listState, kind Kind, idx uint32, topic string, payload []byte) {
	c, err := ParseChunk(payload)
	if err != nil || c.Kind != kind || c.Index != idx {
		r.log.Warn("lists: refused malformed chunk", "topic", topic, "err", err)
		return
	}
	if c.Version <= st.version() {
		return
	}
	k := asmKey{kind, c.Version}
	list := strings.SplitN(strings.TrimPrefix(topic, r.base), "/", 2)[0]
	if a := st.asm[k]; a != nil {
		r.place(st, list, a, c.Index, c.Data)
		r.complete(st, list, k, a)
		return
	}
	if st.ready[k] != nil {
		return
	}
	// Before its manifest: keep it, within a bound, since it is unverified.
	if r.orphanBytes+int64(len(c.Data)) > r.cfg.MaxOrphanBytes {
		r.log.Warn("lists: dropped a chunk that arrived before its manifest: orphan buffer full; it is fetched again with the next snapshot request", "topic", topic, "version", c.Version)
		return
	}
	if st.orphans[k] == nil {
		st.orphans[k] = map[uint32][]byte{}
	}
	if old, dup := st.orphans[k][c.Index]; dup {
		r.orphanBytes -= int64(len(old))
	}
	st.orphans[k][c.Index] = c.Data
	r.orphanBytes += int64(len(c.Data))
}

// place stores chunk i of a if its hash matches the signed manifest.
func (r *Receiver) place(st *listState, list string, a *assembly, i uint32, data []byte) {
	if int(i) >= len(a.chunks) {
		r.log.Warn("lists: refused chunk beyond the manifest's count", "list", list, "kind", a.m.Kind, "version", a.m.Version, "chunk", i, "chunks", len(a.chunks))
		return
	}
	if a.chunks[i] != nil {
		return
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != a.m.Chunks[i] {
		r.log.Warn("lists: refused chunk that does not match its signed hash (tampered or corrupted); the list in force stays",
			"list", list, "kind", a.m.Kind, "version", a.m.Version, "chunk", i, "version_in_force", st.version())
		return
	}
	a.chunks[i] = data
	a.have++
}

// complete moves a fully received, hash-checked version to ready.
func (r *Receiver) complete(st *listState, list string, k asmKey, a *assembly) {
	if a.have < len(a.chunks) {
		return
	}
	delete(st.asm, k)
	if len(st.ready) >= maxReady {
		var low asmKey
		for rk := range st.ready {
			if low.version == 0 || rk.version < low.version {
				low = rk
			}
		}
		delete(st.ready, low)
		r.log.Warn("lists: too many versions waiting; dropped the oldest", "list", list, "version", low.version)
	}
	st.ready[k] = a
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run applies complete versions until ctx is done: the newest snapshot above the
// version in force, then deltas whose base is the version in force. A delta
// that does not connect is held (it may connect after a snapshot) and the
// latest snapshot is requested. Returns nil when ctx is done.
func (r *Receiver) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
		r.applyAll(ctx)
	}
}

func (r *Receiver) applyAll(ctx context.Context) {
	for name, st := range r.lists {
		r.applyReady(ctx, name, st)
	}
}

func (r *Receiver) applyReady(ctx context.Context, list string, st *listState) {
	for ctx.Err() == nil {
		r.mu.Lock()
		a, gap := r.next(st)
		r.mu.Unlock()
		if a == nil {
			if gap != nil {
				r.gap(list, st, gap)
			}
			return
		}
		r.apply(list, st, a)
	}
}

// next picks the version to apply and prunes what the version in force made
// stale; if nothing applies but a delta waits, it returns that delta as gap.
func (r *Receiver) next(st *listState) (pick, gap *assembly) {
	cur := st.version()
	for k := range st.ready {
		if k.version <= cur {
			delete(st.ready, k)
		}
	}
	for k := range st.asm {
		if k.version <= cur {
			delete(st.asm, k)
		}
	}
	for k, d := range st.orphans {
		if k.version <= cur {
			for _, c := range d {
				r.orphanBytes -= int64(len(c))
			}
			delete(st.orphans, k)
		}
	}
	for k, a := range st.ready {
		if k.kind == Snapshot && (pick == nil || k.version > pick.m.Version) {
			pick = a
		}
	}
	if pick != nil {
		delete(st.ready, asmKey{pick.m.Kind, pick.m.Version})
		return pick, nil
	}
	for k, a := range st.ready {
		if k.kind == Delta && a.m.Base == cur {
			delete(st.ready, k)
			return a, nil
		}
		if k.kind == Delta && (gap == nil || k.version < gap.m.Version) {
			gap = a
		}
	}
	if gap == nil {
		return nil, nil
	}
	// Not a gap yet if what fills it is still arriving.
	for k, a := range st.asm {
		if k.kind == Snapshot || a.m.Base == cur {
			return nil, nil
		}
	}
	return nil, gap
}

func (r *Receiver) gap(list string, st *listState, d *assembly) {
	r.mu.Lock()
	ask := time.Since(st.lastAsk) >= askEvery
	if ask {
		st.lastAsk = time.Now()
	}
	r.mu.Unlock()
	if !ask {
		return
	}
	r.log.Warn("lists: delta does not apply on the version in force; held, asking for the latest snapshot",
		"list", list, "version", d.m.Version, "base", d.m.Base, "version_in_force", st.version())
	if r.cfg.RequestSnapshot != nil {
		r.cfg.RequestSnapshot()
	}
}

func (r *Receiver) apply(list string, st *listState, a *assembly) {
	m := a.m
	payload := make([]byte, 0, m.Size)
	for _, c := range a.chunks {
		payload = append(payload, c...)
	}
	a.chunks = nil
	sum := sha256.Sum256(payload)
	if int64(len(payload)) != m.Size || hex.EncodeToString(sum[:]) != m.SHA256 {
		r.log.Warn("lists: refused version whose assembled payload does not match its signed hash; the list in force stays",
			"list", list, "kind", m.Kind, "version", m.Version)
		return
	}
	r.mu.Lock()
	reason := r.stale(m)
	if reason != "" {
		r.refused[reason]++
	}
	r.mu.Unlock()
	if reason != "" {
		r.log.Warn("lists: refused version: "+reasonText[reason]+"; the list in force stays", "list", list, "kind", m.Kind, "version", m.Version,
			"expires", m.Expires, "hint", reasonHint[reason])
		return
	}
	if st.raw != nil {
		r.applyRaw(list, st, m, payload)
		return
	}
	c, err := DecodePayload(payload)
	if err == nil && (len(c.Puts) != m.Puts || len(c.Deletes) != m.Deletes || len(c.Revoke) != m.Revoke || len(c.Unrevoke) != m.Unrevoke) {
		err = errors.New("section counts differ from the manifest")
	}
	if err != nil {
		r.log.Warn("lists: refused version with a malformed payload; the list in force stays", "list", list, "kind", m.Kind, "version", m.Version, "err", err)
		return
	}
	start := time.Now()
	if ca, ok := st.app.(CRLApplier); ok {
		err = ca.ApplyWithCRLs(m.Version, m.Kind == Snapshot, c.Puts, c.Deletes, c.Revoke, c.Unrevoke, m.CRLs)
	} else {
		if len(m.CRLs) > 0 {
			r.log.Warn("lists: this list's store keeps no CRL records; the CRLs' next updates are not known here", "list", list, "version", m.Version, "crls", len(m.CRLs))
		}
		err = st.app.Apply(m.Version, m.Kind == Snapshot, c.Puts, c.Deletes, c.Revoke, c.Unrevoke)
	}
	if err != nil {
		r.log.Warn("lists: apply failed; the list in force stays", "list", list, "kind", m.Kind, "version", m.Version, "err", err)
		return
	}
	r.mu.Lock()
	st.appliedAt = time.Now()
	st.expires, st.known = m.Expires, true
	r.mu.Unlock()
	r.log.Info("lists: applied", "list", list, "kind", m.Kind, "version", m.Version, "base", m.Base,
		"puts", m.Puts, "deletes", m.Deletes, "revoke", m.Revoke, "unrevoke", m.Unrevoke, "crls", len(m.CRLs), "expires", m.Expires, "took", time.Since(start))
}

// applyRaw hands a verified snapshot of a raw list to its store.
func (r *Receiver) applyRaw(list string, st *listState, m *Manifest, payload []byte) {
	if m.Puts != 0 || m.Deletes != 0 || m.Revoke != 0 || m.Unrevoke != 0 || len(m.CRLs) != 0 {
		r.log.Warn("lists: refused version of a raw list whose manifest counts whitelist records; the version in force stays",
			"list", list, "version", m.Version)
		return
	}
	start := time.Now()
	if err := st.raw.ApplyRaw(m.Version, payload); err != nil {
		r.log.Warn("lists: apply failed; the version in force stays", "list", list, "kind", m.Kind, "version", m.Version, "err", err)
		return
	}
	r.mu.Lock()
	st.appliedAt = time.Now()
	st.expires, st.known = m.Expires, true
	r.mu.Unlock()
	r.log.Info("lists: applied", "list", list, "kind", m.Kind, "version", m.Version, "bytes", len(payload), "expires", m.Expires, "took", time.Since(start))
}
