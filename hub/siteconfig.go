package hub

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
)

// bucketConfigs holds each site's gate config (SiteConfig) by site name.
var bucketConfigs = []byte("configs")

// SiteConfig is the gate config document the hub keeps for a site and its
// publishing state.
type SiteConfig struct {
	Site string         `json:"site"`
	Doc  gateconfig.Doc `json:"doc"`
	// Version is the last version number used (published or attempted).
	Version uint64 `json:"version"`
	// Published is false while a publish is in flight or after it failed:
	// the gates may not have Doc yet.
	Published   bool      `json:"published"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	// Chunks is how many snapshot chunks may be retained on the broker, so
	// that a shorter version clears the rest.
	Chunks int `json:"chunks"`
	// Manifest is the retained version's manifest JSON and Expires its
	// expiry, for Renew.
	Manifest json.RawMessage `json:"manifest,omitempty"`
	Expires  time.Time       `json:"expires,omitzero"`
}

// Config returns site's gate config; ok is false if none was ever set.
func (m *Master) Config(site string) (sc SiteConfig, ok bool, err error) {
	err = m.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketConfigs).Get([]byte(site))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &sc)
	})
	if err != nil {
		return SiteConfig{}, false, fmt.Errorf("hub: read config of site %s: %w", site, err)
	}
	return sc, ok, nil
}

// Configs returns every site's gate config, by site name.
func (m *Master) Configs() ([]SiteConfig, error) {
	var out []SiteConfig
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConfigs).ForEach(func(_, v []byte) error {
			var sc SiteConfig
			if err := json.Unmarshal(v, &sc); err != nil {
				return err
			}
			out = append(out, sc)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hub: read configs: %w", err)
	}
	return out, nil
}

func (m *Master) putConfig(sc *SiteConfig) error {
	v, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	return m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketConfigs).Put([]byte(sc.Site), v) })
}

// PublishConfig stores doc as site's gate config and publishes it, signed, as
// the next snapshot of the config list (retained: a gate that connects later
// gets it). The version is the publish time in Unix seconds, or one more than
// the last if that is higher, so that it keeps rising even if the hub's
// lists.db is rebuilt. It returns the published manifest.
func (m *Master) PublishConfig(ctx context.Context, p Publisher, key crypto.Signer, site string, doc gateconfig.Doc, opt PublishOptions) (*lists.Manifest, error) {
	payload, err := doc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("hub: config of site %s: %w; nothing was stored or published", site, err)
	}
	sc, _, err := m.Config(site)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	sc.Site, sc.Doc, sc.Published = site, doc, false
	sc.Version = max(sc.Version+1, uint64(now.Unix()))
	signed, err := lists.Build(key, lists.Manifest{Site: site, List: gateconfig.List, Kind: lists.Snapshot, Version: sc.Version, Created: now, Expires: now.Add(opt.validity())}, payload, opt.ChunkSize)
	if err != nil {
		return nil, fmt.Errorf("hub: config of site %s: %w", site, err)
	}
	// Record the version and what is about to be retained before sending,
	// so that the next version is higher and clears it even if this publish
	// dies midway.
	oldChunks := sc.Chunks
	sc.Chunks = max(sc.Chunks, len(signed.Chunks))
	if err := m.putConfig(&sc); err != nil {
		return nil, fmt.Errorf("hub: config of site %s v%d: record: %w; nothing was published", site, sc.Version, err)
	}
	if err := m.sendConfig(ctx, p, opt.Prefix, signed, oldChunks); err != nil {
		return nil, fmt.Errorf("hub: publish config of site %s v%d: %w; the config is stored: run gatehub config set --site %s again to publish it", site, sc.Version, err, site)
	}
	sc.Published, sc.PublishedAt, sc.Chunks = true, time.Now().UTC(), len(signed.Chunks)
	sc.Manifest, sc.Expires = manifestJSON(signed.Envelope), signed.Manifest.Expires
	if err := m.putConfig(&sc); err != nil {
		return nil, fmt.Errorf("hub: config of site %s v%d was published but not recorded: %w", site, sc.Version, err)
	}
	m.log.Info("hub: config published", "site", site, "version", sc.Version, "config", doc)
	return signed.Manifest, nil
}

// sendConfig publishes the chunks, then the manifest, then clears chunks a
// longer earlier version left retained.
func (m *Master) sendConfig(ctx context.Context, p Publisher, prefix string, s *lists.Signed, oldChunks int) error {
	man := s.Manifest
	for i, c := range s.Chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.Publish(lists.ChunkTopic(prefix, man.Site, man.List, lists.Snapshot, 0, i), c, true); err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	if err := p.Publish(lists.ManifestTopic(prefix, man.Site, man.List, lists.Snapshot, 0), s.Envelope, true); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	var errs []error
	for i := len(s.Chunks); i < oldChunks; i++ {
		if err := p.Publish(lists.ChunkTopic(prefix, man.Site, man.List, lists.Snapshot, 0, i), nil, true); err != nil {
			errs = append(errs, fmt.Errorf("clear old chunk %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
