package kiosk

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/localapi"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestPINPrompt: a PIN entered on the screen reaches the waiting tap once;
// cancel, timeout and a pulled card end the wait; a PIN nobody waits for or
// that is not 4 digits is refused.
func TestPINPrompt(t *testing.T) {
	s := New([]string{"counter"})
	msgs, stop := s.Subscribe()
	defer stop()
	if err := s.Enter("counter", []byte("1234")); !errors.Is(err, ErrNoPrompt) {
		t.Fatalf("PIN with no prompt: %v", err)
	}
	got := make(chan []byte, 1)
	go func() {
		pin, err := s.PIN(context.Background(), "counter", 1)
		if err != nil {
			t.Error(err)
		}
		got <- pin
	}()
	m := <-msgs
	if m.Type != MsgPIN || m.TriesLeft != 1 || !m.Warning || !strings.Contains(m.Text.JA, "ロック") {
		t.Fatalf("prompt %+v", m)
	}
	for _, bad := range []string{"123", "12345", "12a4", ""} {
		if err := s.Enter("counter", []byte(bad)); err == nil {
			t.Errorf("PIN %q accepted", bad)
		}
	}
	if err := s.Enter("elsewhere", []byte("1234")); !errors.Is(err, ErrUnknownLane) {
		t.Errorf("unknown lane: %v", err)
	}
	if err := s.Enter("counter", []byte("4321")); err != nil {
		t.Fatal(err)
	}
	if pin := <-got; string(pin) != "4321" {
		t.Fatalf("tap got %q", pin)
	}
	if err := s.Enter("counter", []byte("4321")); !errors.Is(err, ErrNoPrompt) {
		t.Errorf("a second PIN for one prompt: %v", err)
	}

	for _, tc := range []struct {
		name string
		end  func(cancel context.CancelFunc)
		want error
	}{
		{"screen cancels", func(context.CancelFunc) { s.Cancel("counter") }, agent.ErrNoPIN},
		{"card pulled", func(cancel context.CancelFunc) { cancel() }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { _, err := s.PIN(ctx, "counter", 3); errc <- err }()
			for m := range msgs {
				if m.Type == MsgPIN {
					break
				}
			}
			tc.end(cancel)
			if err := <-errc; !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	s.PINTimeout = 50 * time.Millisecond
	if _, err := s.PIN(context.Background(), "counter", 3); !errors.Is(err, agent.ErrNoPIN) {
		t.Errorf("timeout: %v", err)
	}
}

// TestBindings: seats are bound one card each, in order; a denied tap keeps
// the seat pending; a new binding replaces the old.
func TestBindings(t *testing.T) {
	s := New([]string{"counter"})
	if _, ok := s.Pending("counter"); ok {
		t.Fatal("pending before any binding")
	}
	if err := s.Bind(Binding{Lane: "nowhere", ServiceID: "X"}); !errors.Is(err, ErrUnknownLane) {
		t.Fatalf("bind on an unknown lane: %v", err)
	}
	s.Bind(Binding{Lane: "counter", ServiceID: "ORD-1", Seats: []string{"A-1", "A-2"}, Grant: event.Grant{Kind: "ticket"}})
	seat := func() string { en, _ := s.Pending("counter"); return en.Seat }
	s.Decided(event.Event{Lane: "counter", Kind: event.KindEnrol, Decision: event.Deny, Reason: event.ReasonPINWrong})
	if seat() != "A-1" {
		t.Fatalf("a denied tap used seat A-1: next is %q", seat())
	}
	s.Decided(event.Event{Lane: "counter", Kind: event.KindEnrol, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "ORD-1", Seat: "A-1"})
	if seat() != "A-2" {
		t.Fatalf("next seat %q, want A-2", seat())
	}
	s.Decided(event.Event{Lane: "counter", Kind: event.KindEnrol, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "ORD-1", Seat: "A-2"})
	if _, ok := s.Pending("counter"); ok {
		t.Fatal("still pending after both seats")
	}
	s.Bind(Binding{Lane: "counter", ServiceID: "R-9", Grant: event.Grant{Kind: "resident"}})
	if en, ok := s.Pending("counter"); !ok || en.ServiceID != "R-9" || en.Seat != "" || en.Grant.Kind != "resident" {
		t.Fatalf("binding without seats: %+v %v", en, ok)
	}
	s.Cancel("counter")
	if _, ok := s.Pending("counter"); ok {
		t.Fatal("pending after cancel")
	}
}

// TestResultTexts pins what the holder reads for each outcome (golden file),
// Japanese first.
func TestResultTexts(t *testing.T) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, e := range []event.Event{
		{ID: "E1", Lane: "counter", Kind: event.KindEnrol, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "ORD-77", Seat: "A-2", Assurance: "pin"},
		{ID: "E2", Lane: "desk", Kind: event.KindIdentify, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "R-0003", Assurance: "pin"},
		{ID: "E3", Lane: "counter", Kind: event.KindEnrol, Decision: event.Deny, Reason: event.ReasonPINWrong, Assurance: "pin"},
		{ID: "E4", Lane: "counter", Kind: event.KindEnrol, Decision: event.Deny, Reason: event.ReasonPINBlocked, Assurance: "pin"},
		{ID: "E5", Lane: "counter", Kind: event.KindEnrol, Decision: event.Deny, Reason: event.ReasonNotBound, Assurance: "none"},
		{ID: "E6", Lane: "counter", Kind: event.KindEnrol, Decision: event.Deny, Reason: event.ReasonInternalError, Assurance: "none"},
	} {
		enc.Encode(Result(e))
	}
	golden := filepath.Join("testdata", "results.golden.jsonl")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("results differ from %s (go test -update):\n%s", golden, b.String())
	}
}

// TestLocalAPI: the screen's operations and event stream through the
// station's local API on loopback, and nothing without the token.
func TestLocalAPI(t *testing.T) {
	s := New([]string{"counter"})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	srv := &localapi.Server{Socket: filepath.Join(dir, "c.sock"), TokenFile: filepath.Join(dir, "c.token"),
		Ops: s.Ops(), Streams: s.Streams(), Listen: addr, Pages: Page()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var token string
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(srv.TokenFile)
		if token = strings.TrimSpace(string(b)); err == nil && token != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no token file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	do := func(method, path, tok, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, path := range []string{"/v1/" + OpBind, "/v1/" + OpPIN} {
		if r := do(http.MethodPost, path, "", `{}`); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without token: %d", path, r.StatusCode)
		}
	}
	if r := do(http.MethodGet, "/v1/"+StreamEvents, "wrong", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("stream with a wrong token: %d", r.StatusCode)
	}
	if r := do(http.MethodGet, "/kiosk/", "", ""); r.StatusCode != http.StatusOK {
		t.Errorf("the page: %d", r.StatusCode)
	}
	stream := do(http.MethodGet, "/v1/"+StreamEvents, token, "")
	defer stream.Body.Close()
	lines := bufio.NewScanner(stream.Body)
	lines.Scan() // ": connected"
	if r := do(http.MethodPost, "/v1/"+OpBind, token, `{"lane":"counter","service_id":"ORD-5","seats":["C-1"]}`); r.StatusCode != http.StatusOK {
		t.Fatalf("bind: %d", r.StatusCode)
	}
	if en, ok := s.Pending("counter"); !ok || en.Grant.Kind != "ticket" || en.Seat != "C-1" {
		t.Fatalf("pending after bind: %+v %v", en, ok)
	}
	for lines.Scan() {
		if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			var m Message
			if err := json.Unmarshal([]byte(data), &m); err != nil || m.Type != MsgPending || m.ServiceID != "ORD-5" {
				t.Fatalf("streamed %s (%v)", data, err)
			}
			break
		}
	}
	for _, body := range []string{`{"lane":"counter","service_id":""}`, `{"lane":"counter","service_id":"X","grant":{"kind":"vip"}}`, `{"lane":"x","service_id":"X"}`, `{"lane":"counter","pin":"1234","extra":1}`} {
		if r := do(http.MethodPost, "/v1/"+OpBind, token, body); r.StatusCode != http.StatusBadRequest {
			t.Errorf("bind %s: %d, want 400", body, r.StatusCode)
		}
	}
	for _, body := range []string{`{"lane":"counter","pin":1234}`, `{"lane":"counter","pin":"1234"}`, `not json 1234`} {
		r := do(http.MethodPost, "/v1/"+OpPIN, token, body)
		var out struct{ Error string }
		json.NewDecoder(r.Body).Decode(&out)
		if r.StatusCode != http.StatusBadRequest || strings.Contains(out.Error, "1234") {
			t.Errorf("pin %s: %d %q: want 400 without the PIN", body, r.StatusCode, out.Error)
		}
	}
}

// TestPINBodyZeroed: the request body and the parsed PIN are zeroed once the
// PIN is handed over.
func TestPINBodyZeroed(t *testing.T) {
	s := New([]string{"counter"})
	go s.PIN(context.Background(), "counter", 3)
	deadline := time.Now().Add(5 * time.Second)
	body := []byte(`{"lane":"counter","pin":"2468"}`)
	for {
		_, err := s.opPIN(context.Background(), body)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		body = []byte(`{"lane":"counter","pin":"2468"}`)
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(string(body), "2468") {
		t.Fatalf("body still holds the PIN: %q", body)
	}
}

// FuzzOps feeds the screen's operations arbitrary request bodies: they
// answer or refuse, never panic, and never echo a PIN.
func FuzzOps(f *testing.F) {
	for _, seed := range []string{`{"lane":"counter","service_id":"ORD-1","seats":["A-1"],"grant":{"kind":"ticket","zones":["n"]}}`,
		`{"lane":"counter","pin":"1234"}`, `{"lane":"counter"}`, `{`, `{"pin":"\u0031234"}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var sent struct {
			Lane string `json:"lane"`
			PIN  string `json:"pin"`
		}
		json.Unmarshal([]byte(body), &sent)
		s := New([]string{"counter"})
		for name, op := range s.Ops() {
			_, err := op(context.Background(), []byte(body))
			if err != nil && name == OpPIN && len(sent.PIN) >= 2 && strings.Contains(err.Error(), sent.PIN) && !strings.Contains(sent.Lane, sent.PIN) &&
				!pinInFixedText(op, body, sent.PIN) {
				t.Fatalf("%s error shows the PIN: %v", name, err)
			}
		}
	})
}

// pinInFixedText reports whether pin appears in op's error for body even with
// the PIN replaced: then it is part of the message's own words (a fuzzed
// "PIN" of " 4" is in "the PIN is 4 digits"), not an echo of the PIN.
func pinInFixedText(op func(context.Context, []byte) (any, error), body, pin string) bool {
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) != nil {
		return false
	}
	m["pin"] = strings.Repeat("\uE000", utf8.RuneCountInString(pin))
	other, err := json.Marshal(m)
	if err != nil {
		return false
	}
	_, err = op(context.Background(), other)
	return err != nil && strings.Contains(err.Error(), pin)
}
