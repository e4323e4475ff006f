package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/sync/gateconfig"
)

// Why a declared emergency may change nothing at the gates: it only adds the
// fallback levels to those accepted.
const (
	NoFallback       = "the emergency changes nothing: the site's fallback levels are none; give them with --fallback=cert (or pin)"
	GatesOwnFallback = "the emergency takes effect only at gates whose own config has fallback levels (policy.fallback); set them for the site with --fallback=cert"
	FallbackAccepted = "the emergency changes nothing: every fallback level is accepted already"
)

// EmergencyWarning says when d declares an emergency that changes nothing
// at the gates, or may not; "" when it is not declared or takes effect.
func EmergencyWarning(d gateconfig.Doc) string {
	switch {
	case !d.Emergency:
		return ""
	case d.Fallback != nil && len(d.Fallback) == 0:
		return NoFallback
	case d.Fallback == nil:
		return GatesOwnFallback
	case d.Accept != nil && !slices.ContainsFunc(d.Fallback, func(l string) bool { return !slices.Contains(d.Accept, l) }):
		return FallbackAccepted
	}
	return ""
}

// banner is a site's emergency as the dashboard shows it.
type banner struct {
	Site, Text, Warning string
}

// siteBanners reads the sites' gate configs from lists.db read-only, for the
// dashboard's emergency banners, with times in the site's zone (zone). A list
// command holding lists.db makes it return the banners last read (busy true).
type siteBanners struct {
	path string
	zone func(site string) *time.Location
	mu   sync.Mutex
	last []SiteConfig
}

func (b *siteBanners) read(l lang) (_ []banner, busy bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	busy, err = b.load()
	return banners(b.last, l, time.Now(), b.zone), busy, err
}

func (b *siteBanners) load() (busy bool, err error) {
	if _, err := os.Stat(b.path); errors.Is(err, fs.ErrNotExist) {
		return false, nil // no list command ran yet
	}
	db, err := bolt.Open(b.path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 300 * time.Millisecond})
	if errors.Is(err, bolt.ErrTimeout) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("hub: read site configs: %w", err)
	}
	defer db.Close()
	// OpenMaster made the configs bucket along with the file.
	all, err := (&Master{db: db}).Configs()
	if err != nil {
		return false, err
	}
	b.last = all
	return false, nil
}

// banners returns the sites with an emergency declared, in site order, with
// its end, or that it lapsed at now, in the site's zone.
func banners(all []SiteConfig, l lang, now time.Time, zone func(site string) *time.Location) []banner {
	var out []banner
	for _, sc := range all {
		if !sc.Doc.Emergency {
			continue
		}
		var text string
		switch fb := sc.Doc.Fallback; {
		case fb == nil:
			text = fmt.Sprintf(l.s("EMERGENCY declared at %s: the gates also accept their own fallback levels"), sc.Site)
		case len(fb) == 0:
			text = fmt.Sprintf(l.s("EMERGENCY declared at %s: no fallback level"), sc.Site)
		default:
			text = fmt.Sprintf(l.s("EMERGENCY declared at %s: the gates also accept %s"), sc.Site, strings.Join(fb, ", "))
		}
		if u := sc.Doc.EmergencyUntil; u != nil && !sc.Doc.Active(now) {
			text = fmt.Sprintf(l.s("Emergency at %s LAPSED at %s: the gates no longer accept the fallback levels; renew it with gatehub config set --emergency=true --for"), sc.Site, u.In(zone(sc.Site)).Format(time.RFC3339))
		} else if u != nil {
			text += fmt.Sprintf(l.s(" (until %s)"), u.In(zone(sc.Site)).Format(time.RFC3339))
		}
		if !sc.Published {
			text += l.s(" (not yet published)")
		}
		w := EmergencyWarning(sc.Doc)
		if w != "" {
			w = l.s(w)
		}
		out = append(out, banner{Site: sc.Site, Text: text, Warning: w})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out
}
