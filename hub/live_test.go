package hub

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
)

// TestLivePushesChanges reads /api/live as the page's EventSource does: a
// stored event and a gate's status each bring a "change".
func TestLivePushesChanges(t *testing.T) {
	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := &Config{DataDir: t.TempDir()}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&Hub{cfg: cfg, store: st, log: slog.New(slog.DiscardHandler)}).Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	changes := make(chan struct{}, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "event: change" {
				changes <- struct{}{}
			}
		}
	}()
	// The stream compares with the state it first saw, which may be before
	// or after a first change here: change until one is reported.
	changed := func(what string, change func(i int)) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; ; i++ {
			change(i)
			select {
			case <-changes:
				return
			case <-time.After(time.Second):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no change pushed after %s", what)
			}
		}
	}
	seq := 0
	changed("an event", func(int) {
		seq++
		e := tap(seq, "g1", event.KindEntry, time.Now())
		e.Seq = uint64(seq)
		b, _ := json.Marshal(e)
		if _, err := st.Ingest(ctx, "stadium", "g1", b, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	changed("a status", func(i int) {
		if err := st.PutStatus("stadium", "g1", []byte(`{"online":true,"backlog":`+strings.Repeat("1", i+1)+`}`), time.Now()); err != nil {
			t.Fatal(err)
		}
	})
}
