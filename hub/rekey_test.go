package hub

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// TestRekey carries a list over to the next card-key secret in lists.db on
// disk: entries and revocations of paired cards are copied under their next
// keys, a finish removes the current keys, and one with cards no pair names
// is refused whole unless told to drop them.
func TestRekey(t *testing.T) {
	cur, next := cardkey.NewSoftware(make([]byte, 32)), cardkey.NewSoftware([]byte("0123456789abcdef0123456789abcdef"))
	key := func(k cardkey.Keyer, serial byte) cardkey.Key {
		v, err := k.CardKey([]byte{0xaa}, []byte{serial})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	entry := func(k cardkey.Key, id string) whitelist.Record {
		return whitelist.Record{Key: k, Entry: whitelist.Entry{ServiceID: id, Kind: whitelist.KindTicket}}
	}
	// Cards 1-3 are listed, 3 and 4 revoked (4 is not listed); 1, 3 and 4
	// are paired, 2 is not.
	pairs := map[cardkey.Key]cardkey.Key{}
	for _, s := range []byte{1, 3, 4} {
		pairs[key(cur, s)] = key(next, s)
	}
	for _, tc := range []struct {
		name          string
		finish, drop  bool
		wantErr       error
		want          RekeyResult
		listed        map[string][]cardkey.Key // service id -> keys after
		revoked, kept []cardkey.Key            // revoked after / not revoked after
	}{
		{name: "rekey", want: RekeyResult{Pairs: 3, Rekeyed: 2, Carried: 2, Unpaired: 1},
			listed:  map[string][]cardkey.Key{"T-1": {key(cur, 1), key(next, 1)}, "T-2": {key(cur, 2)}, "T-3": {key(cur, 3), key(next, 3)}},
			revoked: []cardkey.Key{key(cur, 3), key(next, 3), key(cur, 4), key(next, 4)}, kept: []cardkey.Key{key(next, 1)}},
		{name: "finish refused", finish: true, wantErr: ErrUnpaired,
			listed:  map[string][]cardkey.Key{"T-1": {key(cur, 1)}, "T-2": {key(cur, 2)}, "T-3": {key(cur, 3)}},
			revoked: []cardkey.Key{key(cur, 3), key(cur, 4)}, kept: []cardkey.Key{key(next, 3), key(next, 4)}},
		{name: "finish, dropping the unpaired", finish: true, drop: true,
			want:    RekeyResult{Pairs: 3, Rekeyed: 2, Carried: 2, Unpaired: 1, Dropped: 3, DroppedRevoked: 2},
			listed:  map[string][]cardkey.Key{"T-1": {key(next, 1)}, "T-3": {key(next, 3)}},
			revoked: []cardkey.Key{key(next, 3), key(next, 4)}, kept: []cardkey.Key{key(cur, 3), key(cur, 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := OpenMaster(filepath.Join(t.TempDir(), "lists.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			recs := []whitelist.Record{entry(key(cur, 1), "T-1"), entry(key(cur, 2), "T-2"), entry(key(cur, 3), "T-3")}
			if _, err := m.Enrol("s", "whitelist", recs, false); err != nil {
				t.Fatal(err)
			}
			if err := m.Revoke("s", "whitelist", []cardkey.Key{key(cur, 3), key(cur, 4)}, false); err != nil {
				t.Fatal(err)
			}
			res, err := m.Rekey("s", "whitelist", pairs, tc.finish, tc.drop)
			if !errors.Is(err, tc.wantErr) || res != tc.want {
				t.Fatalf("Rekey: %+v, %v; want %+v, %v", res, err, tc.want, tc.wantErr)
			}
			for id, want := range tc.listed {
				got, err := m.CardsByService("s", "whitelist", []string{id})
				if err != nil {
					t.Fatal(err)
				}
				if !sameKeys(got[id], want) {
					t.Errorf("%s listed under %v, want %v", id, got[id], want)
				}
			}
			if _, err := m.CardsByService("s", "whitelist", []string{"T-2"}); (err == nil) != (tc.listed["T-2"] != nil) {
				t.Errorf("T-2 listed: %v", err)
			}
			for _, k := range tc.revoked {
				if !isRevoked(t, m, k) {
					t.Errorf("%s not revoked", k)
				}
			}
			for _, k := range tc.kept {
				if isRevoked(t, m, k) {
					t.Errorf("%s revoked", k)
				}
			}
			// Again: what was carried stays, nothing is counted twice.
			if !tc.finish {
				again, err := m.Rekey("s", "whitelist", pairs, false, false)
				if err != nil || again.Rekeyed != 0 || again.Carried != 0 || again.Unpaired != 1 {
					t.Errorf("second rekey: %+v, %v", again, err)
				}
			}
		})
	}
}

func sameKeys(a, b []cardkey.Key) bool {
	s := func(k []cardkey.Key) []string {
		var out []string
		for _, v := range k {
			out = append(out, v.String())
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(s(a), s(b))
}

// isRevoked reads the master's revocation set the way a publish does.
func isRevoked(t *testing.T, m *Master, k cardkey.Key) bool {
	t.Helper()
	var revoked bool
	err := m.db.View(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, "s", "whitelist")
		if err != nil {
			return err
		}
		revoked = b.Bucket(subRevoked).Get(k[:]) != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return revoked
}

// TestPairKeyer keys under the current secret and notes the next key.
func TestPairKeyer(t *testing.T) {
	cur, next := cardkey.NewSoftware(make([]byte, 32)), cardkey.NewSoftware([]byte("0123456789abcdef0123456789abcdef"))
	p := NewPairKeyer(cur, next)
	got, err := p.CardKey([]byte{1}, []byte{2})
	if err != nil {
		t.Fatal(err)
	}
	wantCur, _ := cur.CardKey([]byte{1}, []byte{2})
	wantNext, _ := next.CardKey([]byte{1}, []byte{2})
	if got != wantCur || p.Pairs()[wantCur] != wantNext || len(p.Pairs()) != 1 {
		t.Fatalf("key %s, pairs %v", got, p.Pairs())
	}
	if _, err := p.CardKey(nil, []byte{2}); err == nil {
		t.Fatal("an empty issuer key id was keyed")
	}
}
