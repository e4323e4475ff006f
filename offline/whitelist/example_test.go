package whitelist_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

func ExampleStore_Apply() {
	dir, _ := os.MkdirTemp("", "whitelist-example")
	defer os.RemoveAll(dir)
	s, err := whitelist.Open(filepath.Join(dir, "whitelist.db"), whitelist.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	keyer := cardkey.NewSoftware(bytes.Repeat([]byte{1}, 32))
	card, _ := keyer.CardKey([]byte{0x1a, 0xc1}, []byte{0x01, 0x33, 0xC3, 0x49})
	renewed, _ := keyer.CardKey([]byte{0x1a, 0xc1}, []byte{0x06, 0xD1, 0x80, 0x06})
	ticket := whitelist.Entry{ServiceID: "T-0001", Kind: whitelist.KindTicket, Zones: []string{"A"}}

	// A signed snapshot from the hub (version 7), then a delta re-enrolling
	// the holder's renewed card and revoking the old one.
	if err := s.Apply(7, true, []whitelist.Record{{Key: card, Entry: ticket}}, nil, nil, nil); err != nil {
		panic(err)
	}
	if err := s.Apply(8, false, []whitelist.Record{{Key: renewed, Entry: ticket}}, nil, []cardkey.Key{card}, nil); err != nil {
		panic(err)
	}
	e, listed, _ := s.Lookup(renewed)
	revoked, _ := s.Revoked(card)
	fmt.Println(s.Version(), e.ServiceID, listed, revoked)
	fmt.Println(s.Apply(8, false, nil, nil, nil, nil))
	// Output:
	// 8 T-0001 true true
	// whitelist: apply version 8: version 8 is not above the current 8; the list is stale or replayed
}
