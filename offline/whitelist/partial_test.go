package whitelist

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// TestOpenDropsPartialImport leaves an entries bucket behind as an import
// killed before its swap would, and checks that Open drops it and the list in
// force is untouched.
func TestOpenDropsPartialImport(t *testing.T) {
	keyer := cardkey.NewSoftware(bytes.Repeat([]byte{3}, 32))
	key := func(serial byte) cardkey.Key {
		k, err := keyer.CardKey([]byte{0xAA}, []byte{serial})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	csv := "issuer_key_id,serial,service_id,kind,valid_from,valid_until,zones,seat,group\naa,32,T-1,ticket,,,,,\n"
	if _, err := s.ImportCSV(strings.NewReader(csv), keyer, nil); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		name, err := newEntriesBucket(tx)
		if err != nil {
			return err
		}
		k := key(0x99)
		return tx.Bucket(name).Put(k[:], []byte("half-written"))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if strings.HasPrefix(string(name), "entries.") && string(name) != string(tx.Bucket(bucketMeta).Get(metaEntries)) {
				t.Errorf("bucket %s of the interrupted import is still there", name)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup(key(0x99)); ok {
		t.Fatal("an entry of the interrupted import is visible")
	}
	if _, ok, _ := s.Lookup(key(0x32)); !ok || s.Version() != 1 {
		t.Fatal("the list in force was damaged")
	}
}
