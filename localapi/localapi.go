// Package localapi is a station's local control socket: JSON over HTTP on an
// owner-only unix socket, and optionally on a loopback TCP address for a
// browser on the box, each request carrying a token the daemon writes to an
// owner-only file at start. Staff commands on the box (`gateagent staff`) use
// it; so does a kiosk's own screen. Only someone who can read the token file
// (the service user, root, or whoever the kiosk operator hands it to) can call
// it.
package localapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mynagate/mynagate/internal/netaddr"
)

// Op handles one operation: body is the request's JSON, the result is sent
// back as JSON. Wrap an error in Refused when the request, not the station, is
// at fault.
type Op func(ctx context.Context, body []byte) (any, error)

// Refused marks an error as the caller's: a request the station refuses. The
// client gets it with status 400; any other error is a 500.
func Refused(err error) error { return refused{err} }

type refused struct{ error }

func (r refused) Unwrap() error { return r.error }

// maxBody bounds a request body.
const maxBody = 64 << 10

// Server serves Ops on a unix socket.
type Server struct {
	// Socket is the socket's path; its directory is created mode 0700 if missing.
	Socket string
	// TokenFile receives a fresh token, mode 0600, at each start.
	TokenFile string
	// Ops maps an operation name ("staff") to its handler: POST /v1/{name}.
	Ops map[string]Op
	// Streams maps a name to a long-lived GET handler at /v1/{name}, with the
	// same token (server-sent events for a kiosk's screen).
	Streams map[string]http.Handler
	// Listen is a loopback TCP address (127.0.0.1:port) served as well as
	// the socket, for a browser on the box; empty serves the socket only.
	Listen string
	// Pages, if set, serves every path outside /v1/ without a token: static
	// pages that call the API with a token they are given.
	Pages http.Handler
	// Log receives one line per call, never a request body; nil discards.
	Log *slog.Logger
}

// Run listens and serves until ctx is done, then removes the socket and the
// token file.
func (s *Server) Run(ctx context.Context) error {
	ln, token, err := s.listen()
	if err != nil {
		return err
	}
	defer func() {
		os.Remove(s.Socket)
		os.Remove(s.TokenFile)
	}()
	srv := &http.Server{Handler: s.handler(token), ReadHeaderTimeout: 5 * time.Second}
	context.AfterFunc(ctx, func() { srv.Close() })
	errc := make(chan error, 1)
	if s.Listen != "" {
		tcp, err := listenLoopback(s.Listen)
		if err != nil {
			ln.Close()
			return err
		}
		go func() { errc <- srv.Serve(tcp) }()
	}
	err = srv.Serve(ln)
	if s.Listen != "" {
		srv.Close()
		if terr := <-errc; err == nil || errors.Is(err, http.ErrServerClosed) {
			err = terr
		}
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("localapi: serve %s: %w", s.Socket, err)
	}
	return nil
}

// listenLoopback listens on addr, which must be a loopback address: the API
// is for the box itself, never the LAN.
func listenLoopback(addr string) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("localapi: listen address %q: %w; want 127.0.0.1:port", addr, err)
	}
	if !netaddr.IsLoopback(addr) {
		return nil, fmt.Errorf("localapi: listen address %q is not loopback; the local API is for this box only: use 127.0.0.1:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localapi: listen on %s: %w; is the port free?", addr, err)
	}
	return ln, nil
}

// listen opens the socket owner-only and writes the token.
func (s *Server) listen() (net.Listener, string, error) {
	if s.Socket == "" || s.TokenFile == "" {
		return nil, "", errors.New("localapi: socket and token file are required")
	}
	if err := os.MkdirAll(filepath.Dir(s.Socket), 0o700); err != nil {
		return nil, "", fmt.Errorf("localapi: socket directory: %w; check control.socket", err)
	}
	if err := os.Remove(s.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("localapi: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", s.Socket)
	if err != nil {
		return nil, "", fmt.Errorf("localapi: listen on %s: %w; is another gateagent running?", s.Socket, err)
	}
	if err := os.Chmod(s.Socket, 0o600); err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("localapi: make the socket owner-only: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("localapi: token: %w", err)
	}
	token := hex.EncodeToString(raw)
	if err := writePrivate(s.TokenFile, token+"\n"); err != nil {
		ln.Close()
		return nil, "", err
	}
	return ln, token, nil
}

// writePrivate replaces path with data, mode 0600, never readable by others
// even for an instant.
func writePrivate(path, data string) error {
	tmp := path + ".new"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("localapi: write token file: %w; check control.token_file", err)
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("localapi: write token file: %w", err)
	}
	return nil
}

func (s *Server) handler(token string) http.Handler {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/v1/")
		if !ok && s.Pages != nil {
			s.Pages.ServeHTTP(w, r)
			return
		}
		op := s.Ops[name]
		stream := s.Streams[name]
		switch {
		case subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1:
			log.Warn("localapi: call without the right token refused", "op", name)
			reply(w, http.StatusUnauthorized, nil, errors.New("wrong or missing token: run as the service user (or root) so the token file can be read"))
			return
		case ok && stream != nil && r.Method == http.MethodGet:
			log.Info("localapi: stream opened", "stream", name)
			stream.ServeHTTP(w, r)
			return
		case !ok || op == nil:
			reply(w, http.StatusNotFound, nil, fmt.Errorf("no operation %q", name))
			return
		case r.Method != http.MethodPost:
			reply(w, http.StatusMethodNotAllowed, nil, errors.New("use POST"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			reply(w, http.StatusBadRequest, nil, fmt.Errorf("read request: %w", err))
			return
		}
		res, err := op(r.Context(), body)
		status := http.StatusOK
		var rf refused
		switch {
		case errors.As(err, &rf):
			status = http.StatusBadRequest
		case err != nil:
			status = http.StatusInternalServerError
		}
		log.Info("localapi: call", "op", name, "status", status)
		reply(w, status, res, err)
	})
}

// response is the JSON every call answers with.
type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func reply(w http.ResponseWriter, status int, res any, err error) {
	var out response
	if err != nil {
		out.Error = err.Error()
	} else if res != nil {
		b, merr := json.Marshal(res)
		if merr != nil {
			status, out.Error = http.StatusInternalServerError, merr.Error()
		} else {
			out.Result = b
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// Caller calls an operation of a running station: the seam the staff CLI and
// a kiosk's local page use.
type Caller interface {
	Call(ctx context.Context, op string, req, res any) error
}

// Client calls a station over its socket.
type Client struct {
	socket, tokenFile string
	http              *http.Client
}

// NewClient returns a client for the socket, reading the token from tokenFile
// at each call (the daemon writes a new one when it restarts).
func NewClient(socket, tokenFile string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &Client{socket: socket, tokenFile: tokenFile, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Call posts req as JSON to op and decodes the result into res (nil: ignore).
func (c *Client) Call(ctx context.Context, op string, req, res any) error {
	tok, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return fmt.Errorf("localapi: read token: %w; run as the service user (sudo -u mynagate) or root, with the daemon running", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("localapi: encode request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://station/v1/"+op, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("localapi: %w", err)
	}
	hr.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(hr)
	if err != nil {
		return fmt.Errorf("localapi: call %s on %s: %w; is gateagent running with control.socket set?", op, c.socket, err)
	}
	defer resp.Body.Close()
	var out response
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&out); err != nil {
		return fmt.Errorf("localapi: read answer to %s: %w", op, err)
	}
	if out.Error != "" || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("localapi: %s: %s (status %d)", op, out.Error, resp.StatusCode)
	}
	if res != nil && out.Result != nil {
		if err := json.Unmarshal(out.Result, res); err != nil {
			return fmt.Errorf("localapi: decode answer to %s: %w", op, err)
		}
	}
	return nil
}
