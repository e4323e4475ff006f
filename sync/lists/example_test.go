package lists_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/lists"
)

// The hub signs and chunks a list version; a gate checks the manifest with the
// pinned key before it looks at a chunk.
func Example() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	change := &lists.Change{Puts: []whitelist.Record{{Key: cardkey.Key{1}, Entry: whitelist.Entry{ServiceID: "T-1", Kind: whitelist.KindTicket}}}}
	signed, err := lists.Build(priv, lists.Manifest{Site: "stadium", List: "whitelist", Kind: lists.Snapshot, Version: 1,
		Created: time.Now(), Puts: len(change.Puts)}, lists.EncodePayload(change), 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(lists.ManifestTopic("mynagate/v1", "stadium", "whitelist", lists.Snapshot, 1))
	m, err := lists.ParseManifest(signed.Envelope, []ed25519.PublicKey{pub})
	fmt.Println(m.Kind, m.Version, len(m.Chunks), err)
	// Output:
	// mynagate/v1/stadium/lists/whitelist/snapshot
	// snapshot 1 1 <nil>
}
