package receipts

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestWireGolden(t *testing.T) {
	got, err := Encode([]Receipt{{Seq: 41, ID: "01JTEST0000000000000000041"}, {Seq: 42, ID: "01JTEST0000000000000000042"}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "receipt.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("wire format changed:\n got %s\nwant %s", got, want)
	}
	rs, err := Parse(want)
	if err != nil || len(rs) != 2 || rs[1].Seq != 42 {
		t.Fatalf("parse golden: %v %v", rs, err)
	}
}

func TestParseRefusesWhole(t *testing.T) {
	tests := []struct{ name, in string }{
		{"not json", `stored 1`},
		{"other version", `{"v":2,"stored":[{"seq":1,"id":"a"}]}`},
		{"no version", `{"stored":[{"seq":1,"id":"a"}]}`},
		{"empty", `{"v":1,"stored":[]}`},
		{"zero seq", `{"v":1,"stored":[{"seq":1,"id":"a"},{"seq":0,"id":"b"}]}`},
		{"no id", `{"v":1,"stored":[{"seq":1}]}`},
		{"long id", `{"v":1,"stored":[{"seq":1,"id":"` + string(bytes.Repeat([]byte("x"), 65)) + `"}]}`},
		{"unknown field", `{"v":1,"stored":[{"seq":1,"id":"a"}],"all":true}`},
		{"trailing data", `{"v":1,"stored":[{"seq":1,"id":"a"}]} {}`},
		{"negative seq", `{"v":1,"stored":[{"seq":-1,"id":"a"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rs, err := Parse([]byte(tc.in)); err == nil {
				t.Fatalf("accepted %s as %v", tc.in, rs)
			}
		})
	}
}

func TestEncodeBounds(t *testing.T) {
	if _, err := Encode(nil); err == nil {
		t.Error("encoded an empty receipt")
	}
	if _, err := Encode(make([]Receipt, MaxPerMessage+1)); err == nil {
		t.Error("encoded more than MaxPerMessage")
	}
}

// TestBatcherGroupsPerGate checks that every receipt is published once, on
// its gate's topic, in messages of at most MaxPerMessage.
func TestBatcherGroupsPerGate(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]Receipt{}
	msgs := 0
	b := NewBatcher("p", func(topic string, payload []byte) error {
		rs, err := Parse(payload)
		if err != nil {
			t.Errorf("published an unparsable receipt: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		got[topic] = append(got[topic], rs...)
		msgs++
		return nil
	}, nil)
	const n = 3000
	for i := 1; i <= n; i++ {
		b.Add("s", "g1", Receipt{Seq: uint64(i), ID: "a"})
		b.Add("s", "g2", Receipt{Seq: uint64(i), ID: "b"})
	}
	b.Close()
	for _, gate := range []string{"g1", "g2"} {
		rs := got[Topic("p", "s", gate)]
		if len(rs) != n {
			t.Fatalf("%s: %d receipts published, want %d", gate, len(rs), n)
		}
		seqs := make([]uint64, len(rs))
		for i, r := range rs {
			seqs[i] = r.Seq
		}
		if !slices.IsSorted(seqs) || seqs[0] != 1 || seqs[n-1] != n {
			t.Fatalf("%s: receipts out of order or missing", gate)
		}
	}
	if msgs < 2*((n+MaxPerMessage-1)/MaxPerMessage) {
		t.Fatalf("%d messages cannot hold %d receipts at %d each", msgs, 2*n, MaxPerMessage)
	}
}

// TestBatcherAddNeverBlocks checks that a publisher stuck on the network does
// not hold up the store's writer, which calls Add after each commit.
func TestBatcherAddNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	b := NewBatcher("p", func(string, []byte) error { <-release; return nil }, nil)
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 100000; i++ {
			b.Add("s", "g", Receipt{Seq: uint64(i), ID: "a"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Add blocked behind a stuck publisher")
	}
	close(release)
	b.Close()
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"v":1,"stored":[{"seq":1,"id":"01JTEST0000000000000000001"}]}`))
	f.Add([]byte(`{"v":1,"stored":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := Parse(b)
		if err != nil {
			return
		}
		if len(rs) == 0 || len(rs) > MaxPerMessage {
			t.Fatalf("accepted %d receipts", len(rs))
		}
		for _, r := range rs {
			if r.Seq == 0 || r.ID == "" || len(r.ID) > maxIDLen {
				t.Fatalf("accepted receipt %+v", r)
			}
		}
		again, err := Encode(rs)
		if err != nil {
			t.Fatalf("re-encode accepted receipts: %v", err)
		}
		if back, err := Parse(again); err != nil || !slices.Equal(back, rs) {
			t.Fatalf("round trip: %v %v", back, err)
		}
	})
}
