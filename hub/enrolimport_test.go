package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/hw/receipt"
	"github.com/mynagate/mynagate/internal/textenc"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// enrolFile is an enrolment CSV of tickets from..to-1 (by key(i)), each with
// the service id prefix+i.
func enrolFile(from, to int, prefix string) []byte {
	var b bytes.Buffer
	b.WriteString("card_key,service_id,kind,seat\n")
	for i := from; i < to; i++ {
		k := key(i)
		fmt.Fprintf(&b, "%s,%s%d,ticket,A-%d\n", hex.EncodeToString(k[:]), prefix, i, i)
	}
	return b.Bytes()
}

func parse(t *testing.T, csv []byte) *Enrolment {
	t.Helper()
	e, err := ParseEnrolCSV(context.Background(), bytes.NewReader(csv), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestCP932SeatOnReceipt reads a Shift_JIS (CP932) file as Excel writes it and
// prints its seats: the receipt printer, which takes Shift_JIS, gets the very
// bytes the file had.
func TestCP932SeatOnReceipt(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "enrol-cp932.csv"))
	if err != nil {
		t.Fatal(err)
	}
	e := parse(t, raw)
	if e.Encoding != textenc.ShiftJIS {
		t.Fatalf("read as %s", e.Encoding)
	}
	recs, err := e.Records()
	if err != nil {
		t.Fatal(err)
	}
	// The seats as bytes in the file: fields split on ',' (no CP932 byte of a
	// double-byte character is ',' or a line break).
	rawSeats := map[string][]byte{}
	for _, line := range bytes.Split(raw, []byte("\r\n"))[1:] {
		if f := bytes.Split(line, []byte(",")); len(f) == 5 && len(f[3]) > 0 {
			rawSeats[string(f[1])] = f[3]
		}
	}
	if len(rawSeats) != 3 {
		t.Fatalf("fixture has %d seats", len(rawSeats))
	}
	var all bytes.Buffer
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for _, r := range recs {
		want, ok := rawSeats[r.Entry.ServiceID]
		if !ok {
			continue
		}
		b, err := receipt.Seat{Event: "ウインターライブ2026", At: at, Gate: "東ゲート3", Seat: r.Entry.Seat, TicketRef: r.Entry.ServiceID}.ESCPOS()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, want) {
			t.Errorf("%s: the receipt lacks the file's seat bytes % x (seat read as %q)", r.Entry.ServiceID, want, r.Entry.Seat)
		}
		all.Write(b)
	}
	golden := filepath.Join("testdata", "receipt-cp932.golden")
	if *update {
		if err := os.WriteFile(golden, all.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v; go test -update creates it", err)
	}
	if !bytes.Equal(all.Bytes(), want) {
		t.Errorf("receipts differ from %s (go test -update rewrites it after review)\n got:\n%s", golden, hex.Dump(all.Bytes()))
	}
}

func TestEnrolCSVReportsEveryBadRow(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("card_key,service_id,kind\n")
	for i := range 30 {
		k := key(i)
		kind := "ticket"
		if i%3 == 0 {
			kind = "vip" // 10 bad kinds: rows 0, 3, ... 27
		}
		fmt.Fprintf(&b, "%s,T-%d,%s\n", hex.EncodeToString(k[:]), i, kind)
	}
	for i := range 12 { // 12 short rows
		fmt.Fprintf(&b, "%d\n", i)
	}
	k := key(1)
	fmt.Fprintf(&b, "%s,T-again,ticket\n", hex.EncodeToString(k[:])) // 1 duplicate
	_, err := ParseEnrolCSV(context.Background(), bytes.NewReader(b.Bytes()), nil, nil)
	var re *RowErrors
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want RowErrors", err)
	}
	if re.Total != 23 || len(re.First) != maxReported {
		t.Fatalf("total %d, listed %d; want 23 and %d", re.Total, len(re.First), maxReported)
	}
	for i, e := range re.First {
		if i > 0 && e.Line < re.First[i-1].Line {
			t.Fatal("bad rows not in line order")
		}
	}
	msg := err.Error()
	for _, want := range []string{"23 bad rows", "line 2: kind", "line 32:", "and 3 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestEnrolCSVRefusesOtherEncodings(t *testing.T) {
	utf16 := []byte{0xff, 0xfe, 'c', 0, 'a', 0}
	_, err := ParseEnrolCSV(context.Background(), bytes.NewReader(utf16), nil, nil)
	if !errors.Is(err, textenc.ErrUnsupported) || !strings.Contains(err.Error(), "UTF-16") {
		t.Fatalf("UTF-16 file: %v", err)
	}
	bom := append([]byte("\xef\xbb\xbf"), enrolFile(0, 2, "T-")...)
	if e := parse(t, bom); e.Encoding != textenc.UTF8BOM || e.Len() != 2 {
		t.Fatalf("UTF-8 with BOM: %s, %d rows", e.Encoding, e.Len())
	}
}

func entries(t *testing.T, path string) map[cardkey.Key]whitelist.Entry {
	t.Helper()
	m, err := OpenMaster(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := map[cardkey.Key]whitelist.Entry{}
	err = m.db.View(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, "s", "whitelist")
		if err != nil {
			return err
		}
		return b.Bucket(subEntries).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(k, v)
			out[r.Key] = r.Entry
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportEnrolment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lists.db")
	m, err := OpenMaster(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// In force: 0..29 with service ids O-i.
	old := parse(t, enrolFile(0, 30, "O-"))
	recs, _ := old.Records()
	if _, err := m.Enrol("s", "whitelist", recs, false); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Publish(context.Background(), &retainer{retained: map[string][]byte{}}, signKey, "s", "whitelist", PublishOptions{Prefix: "p"}); err != nil {
		t.Fatal(err)
	}
	m.Close()

	// The file: 0..24 unchanged, 25..27 changed, 30..31 new; 28, 29 absent.
	file := append(enrolFile(0, 25, "O-"), bytes.TrimPrefix(enrolFile(25, 28, "N-"), []byte("card_key,service_id,kind,seat\n"))...)
	file = append(file, bytes.TrimPrefix(enrolFile(30, 32, "N-"), []byte("card_key,service_id,kind,seat\n"))...)
	tests := []struct {
		replace bool
		want    EnrolResult
		n       int
	}{
		{false, EnrolResult{Added: 2, Updated: 3, Unchanged: 25}, 32},
		{true, EnrolResult{Unchanged: 30, Removed: 2}, 30},
	}
	for _, tc := range tests {
		res, err := ImportEnrolment(context.Background(), path, "s", "whitelist", parse(t, file), ImportOptions{Replace: tc.replace})
		if err != nil {
			t.Fatal(err)
		}
		if res != tc.want {
			t.Fatalf("replace=%v: %+v, want %+v", tc.replace, res, tc.want)
		}
		got := entries(t, path)
		if len(got) != tc.n || got[key(26)].ServiceID != "N-26" || got[key(31)].ServiceID != "N-31" || got[key(1)].ServiceID != "O-1" {
			t.Fatalf("replace=%v: %d entries: %+v", tc.replace, len(got), got)
		}
	}
	// The next publish is a delta of exactly the cards that changed.
	m, err = OpenMaster(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	man, err := m.Publish(context.Background(), &retainer{retained: map[string][]byte{}}, signKey, "s", "whitelist", PublishOptions{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if man.Kind != "delta" || man.Puts != 5 || man.Deletes != 2 {
		t.Fatalf("publish after import: %s %d puts %d deletes", man.Kind, man.Puts, man.Deletes)
	}
}

// TestImportStopsLeavingOldList cancels an import between its batches: the
// list in force is the old one, nothing stays staged, and lists.db was free
// for other commands while the import ran.
func TestImportStopsLeavingOldList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lists.db")
	if _, err := ImportEnrolment(context.Background(), path, "s", "whitelist", parse(t, enrolFile(0, 10, "O-")), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	big := parse(t, enrolFile(0, 3*importBatch, "N-"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := 0
	_, err := ImportEnrolment(ctx, path, "s", "whitelist", big, ImportOptions{Replace: true, Progress: func(done, total int) {
		batches++
		// Between batches another command gets lists.db: here the
		// declaration of an emergency's sibling, a revocation.
		m, err := OpenMaster(path, nil)
		if err != nil {
			t.Errorf("lists.db held during an import: %v", err)
			return
		}
		if err := m.Revoke("s", "whitelist", []cardkey.Key{key(1)}, false); err != nil {
			t.Error(err)
		}
		m.Close()
		if batches == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "the list in force is unchanged") {
		t.Fatalf("got %v", err)
	}
	got := entries(t, path)
	if len(got) != 10 || got[key(3)].ServiceID != "O-3" {
		t.Fatalf("after a stopped import: %d entries, key 3 %+v", len(got), got[key(3)])
	}
	m, err := OpenMaster(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = m.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketStaging).Bucket([]byte("s/whitelist")) != nil {
			return errors.New("staged entries left behind")
		}
		return nil
	})
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A full import afterwards goes through.
	res, err := ImportEnrolment(context.Background(), path, "s", "whitelist", big, ImportOptions{Replace: true})
	if err != nil || res.Updated != 10 || res.Added != 3*importBatch-10 {
		t.Fatalf("import after a stopped one: %+v %v", res, err)
	}
}

// TestImportRefusesWhenListChanged: an enrolment between the batches makes the
// import refuse to swap in what it staged from the older list.
func TestImportRefusesWhenListChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lists.db")
	_, err := ImportEnrolment(context.Background(), path, "s", "whitelist", parse(t, enrolFile(0, 2*importBatch, "N-")), ImportOptions{Progress: func(done, total int) {
		if done < total {
			m, err := OpenMaster(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.Enrol("s", "whitelist", []whitelist.Record{rec(-1)}, false); err != nil {
				t.Fatal(err)
			}
		}
	}})
	if !errors.Is(err, ErrListChanged) {
		t.Fatalf("got %v, want ErrListChanged", err)
	}
	if got := entries(t, path); len(got) != 1 {
		t.Fatalf("%d entries, want the kiosk's one", len(got))
	}
}
