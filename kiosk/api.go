package kiosk

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/mynagate/mynagate/localapi"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// Operations of the local API a kiosk's screen calls (POST /v1/{op}).
const (
	// OpBind sets what the next cards at a lane are bound to (a Binding).
	OpBind = "kiosk_bind"
	// OpPIN hands over the PIN the holder typed: {"lane": ..., "pin": "1234"}.
	OpPIN = "kiosk_pin"
	// OpCancel drops what is pending at a lane: {"lane": ...}.
	OpCancel = "kiosk_cancel"
	// StreamEvents is the stream of Messages (GET /v1/kiosk_events,
	// text/event-stream, one JSON Message per event).
	StreamEvents = "kiosk_events"
)

// Ops returns the screen's operations, for localapi.Server.Ops.
func (s *Screen) Ops() map[string]localapi.Op {
	return map[string]localapi.Op{OpBind: s.opBind, OpPIN: s.opPIN, OpCancel: s.opCancel}
}

// Streams returns the screen's event stream, for localapi.Server.Streams.
func (s *Screen) Streams() map[string]http.Handler {
	return map[string]http.Handler{StreamEvents: http.HandlerFunc(s.serveEvents)}
}

func (s *Screen) opBind(_ context.Context, body []byte) (any, error) {
	var b Binding
	if err := strictJSON(body, &b); err != nil {
		return nil, localapi.Refused(err)
	}
	if b.Grant.Kind == "" {
		b.Grant.Kind = whitelist.KindTicket
	}
	if err := b.check(); err != nil {
		return nil, localapi.Refused(err)
	}
	if err := s.Bind(b); err != nil {
		return nil, localapi.Refused(err)
	}
	return struct {
		Pending int `json:"pending"`
	}{max(len(b.Seats), 1)}, nil
}

// check validates a binding as the list entry it becomes.
func (b Binding) check() error {
	for _, seat := range append([]string{""}, b.Seats...) {
		e := whitelist.Entry{ServiceID: b.ServiceID, Kind: b.Grant.Kind, Seat: seat, Group: b.Grant.Group,
			ValidFrom: b.Grant.ValidFrom, ValidUntil: b.Grant.ValidUntil, Zones: b.Grant.Zones}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("kiosk: binding: %w", err)
		}
	}
	return nil
}

// pinRequest keeps the PIN as raw JSON, so it lands in a byte slice the
// handler zeroes, never in a string.
type pinRequest struct {
	Lane string          `json:"lane"`
	PIN  json.RawMessage `json:"pin"`
}

func (s *Screen) opPIN(_ context.Context, body []byte) (any, error) {
	defer clear(body)
	var r pinRequest
	err := strictJSON(body, &r)
	defer clear(r.PIN)
	if err != nil {
		// The decoder's message could quote the body; say only what is wrong.
		return nil, localapi.Refused(errors.New("kiosk: want {\"lane\": ..., \"pin\": \"<4 digits>\"}"))
	}
	pin := bytes.Trim(r.PIN, `"`)
	if len(r.PIN) != len(pin)+2 {
		return nil, localapi.Refused(errors.New("kiosk: the PIN is a string of 4 digits"))
	}
	if err := s.Enter(r.Lane, pin); err != nil {
		return nil, localapi.Refused(err)
	}
	return struct {
		Accepted bool `json:"accepted"`
	}{true}, nil
}

func (s *Screen) opCancel(_ context.Context, body []byte) (any, error) {
	var r struct {
		Lane string `json:"lane"`
	}
	if err := strictJSON(body, &r); err != nil {
		return nil, localapi.Refused(err)
	}
	if err := s.Cancel(r.Lane); err != nil {
		return nil, localapi.Refused(err)
	}
	return struct{}{}, nil
}

func strictJSON(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("kiosk: request: %w", err)
	}
	return nil
}

// keepAlive is how often an idle stream gets a comment line, so that proxies
// and the browser keep it open.
const keepAlive = 15 * time.Second

// serveEvents streams Messages as server-sent events until the client goes.
func (s *Screen) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	msgs, stop := s.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	fl.Flush()
	t := time.NewTicker(keepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case m, ok := <-msgs:
			if !ok {
				return
			}
			b, err := json.Marshal(m)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.Type, b)
		}
		fl.Flush()
	}
}

//go:embed page
var page embed.FS

// Page serves the example kiosk page at /kiosk/: plain HTML and JavaScript,
// no build step. It holds no secret: the screen is opened with the token in
// the address's fragment (gateagent kiosk url prints it), which the browser
// never sends to the server.
func Page() http.Handler {
	sub, err := fs.Sub(page, "page")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.Handle("/kiosk/", http.StripPrefix("/kiosk/", http.FileServerFS(sub)))
	mux.Handle("/{$}", http.RedirectHandler("/kiosk/", http.StatusFound))
	return mux
}
