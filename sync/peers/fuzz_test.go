package peers

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/mynagate/mynagate/event"
)

func FuzzHandle(f *testing.F) {
	b, _ := json.Marshal(ev("e1", event.KindEntry, event.Admit, 0))
	f.Add(b)
	f.Add([]byte(`{"id":"x","seq":1,"at":"2026-01-01T00:00:00Z","decision":"admit","kind":"annul"}`))
	s, err := Open(filepath.Join(f.TempDir(), "peers.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, payload []byte) {
		before := s.Count()
		s.Handle("mynagate/v1/stadium/g1/events", payload)
		if _, err := event.Decode(payload); err != nil && s.Count() != before {
			t.Fatal("an undecodable message changed the set")
		}
	})
}
