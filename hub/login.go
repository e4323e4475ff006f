package hub

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/mynagate/mynagate/internal/netaddr"
)

// Role is what an operator of the dashboard may do.
type Role string

const (
	// RoleViewer reads the dashboard, the records and the metrics.
	RoleViewer Role = "viewer"
	// RoleOperator may also change things (requests other than GET).
	RoleOperator Role = "operator"
)

// sessionTTL is how long a login lasts without being used.
const sessionTTL = 12 * time.Hour

// sessionCookie names the session cookie; csrfCookie carries the session's
// CSRF token for the page's own scripts to send back as X-CSRF-Token (another
// site can neither read it nor, SameSite=Strict, have it sent).
const (
	sessionCookie = "mynagate_session"
	csrfCookie    = "mynagate_csrf"
)

// Operator is one dashboard login in the users file.
type Operator struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Hash is the password's PBKDF2-SHA512 hash (HashPassword).
	Hash string `json:"hash"`
}

// usersFile is the users file's form: {"users": [...]}.
type usersFile struct {
	Users []Operator `json:"users"`
}

// LoadOperators reads the users file strictly; it must be readable by its
// owner only, since the hashes it holds can be attacked offline.
func LoadOperators(path string) ([]Operator, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("hub: users file: %w; make it with gatehub user add", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("hub: users file %s is mode %v: others may read the password hashes; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hub: users file: %w", err)
	}
	var f usersFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("hub: users file %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		if u.Name == "" || u.Hash == "" || (u.Role != RoleViewer && u.Role != RoleOperator) || seen[u.Name] {
			return nil, fmt.Errorf("hub: users file %s: user %d: want a unique name, a hash and role viewer or operator", path, i)
		}
		seen[u.Name] = true
	}
	return f.Users, nil
}

// AddOperator adds or replaces a dashboard login in the users file (created
// mode 0600).
func AddOperator(path, name string, role Role, password string) error {
	if name == "" || (role != RoleViewer && role != RoleOperator) {
		return errors.New("hub: add user: want a name and role viewer or operator")
	}
	if len(password) < 12 {
		return errors.New("hub: add user: the password must have at least 12 characters")
	}
	var users []Operator
	if _, err := os.Stat(path); err == nil {
		if users, err = LoadOperators(path); err != nil {
			return err
		}
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u := Operator{Name: name, Role: role, Hash: hash}
	replaced := false
	for i := range users {
		if users[i].Name == name {
			users[i], replaced = u, true
		}
	}
	if !replaced {
		users = append(users, u)
	}
	b, err := json.MarshalIndent(usersFile{Users: users}, "", "  ")
	if err != nil {
		return fmt.Errorf("hub: add user: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// session is a logged-in operator.
type session struct {
	name    string
	role    Role
	csrf    string
	expires time.Time
}

// logins guards the dashboard: a login page, sessions in memory (a restart
// logs everyone out), and the role a request needs.
type logins struct {
	users  map[string]Operator
	secure bool
	// apiToken is the local API token (APITokenFile): it reads as a viewer.
	apiToken string

	mu       sync.Mutex
	sessions map[string]*session
}

func newLogins(users []Operator, secure bool) *logins {
	l := &logins{users: map[string]Operator{}, secure: secure, sessions: map[string]*session{}}
	for _, u := range users {
		l.users[u.Name] = u
	}
	return l
}

// guard wraps next: /login and /metrics (counts only) are open; everything
// else needs a session, and a request that changes something (not GET or
// HEAD) needs the operator role and the session's CSRF token in the
// X-CSRF-Token header or the csrf form field. The local API token stands for
// a viewer's session: it reads, and changes nothing.
func (l *logins) guard(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", l.page)
	mux.HandleFunc("POST /login", l.login)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if s := l.session(r); s != nil && l.csrfOK(r, s) {
			l.drop(r)
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
	mux.Handle("GET /metrics", next)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if bearerOK(r, l.apiToken) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, "the local API token only reads; log in as an operator to change things", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		s := l.session(r)
		if s == nil {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "application/json" && !isAPI(r) {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first (POST /login)", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if s.role != RoleOperator {
				http.Error(w, "this needs the operator role", http.StatusForbidden)
				return
			}
			if !l.csrfOK(r, s) {
				http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
				return
			}
		}
		w.Header().Set("X-CSRF-Token", s.csrf)
		next.ServeHTTP(w, r)
	})
	return mux
}

func isAPI(r *http.Request) bool {
	return len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/"
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>MynaGate ログイン / Log in</title>
<style>body{font-family:sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.8rem 0}input{width:100%;padding:.4rem}p.bad{color:#b00}</style></head>
<body><h1>MynaGate</h1>
{{if .}}<p class="bad">{{.}}</p>{{end}}
<form method="post" action="/login">
<label>ユーザー名 / User <input name="name" autocomplete="username" required></label>
<label>パスワード / Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">ログイン / Log in</button></form></body></html>`))

func (l *logins) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, "")
}

// login checks a name and password and sets the session cookie. A failed
// login answers alike for an unknown name and a wrong password.
func (l *logins) login(w http.ResponseWriter, r *http.Request) {
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	u, ok := l.users[name]
	// Hash even for an unknown name, so that timing does not tell names.
	hash := u.Hash
	if !ok {
		hash = dummyHash()
	}
	if !CheckPassword(hash, pw) || !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_ = loginPage.Execute(w, "ユーザー名かパスワードが違います / Wrong user or password")
		return
	}
	id, csrf := token(), token()
	l.mu.Lock()
	l.sessions[id] = &session{name: u.Name, role: u.Role, csrf: csrf, expires: time.Now().Add(sessionTTL)}
	l.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: l.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/", Secure: l.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	w.Header().Set("X-CSRF-Token", csrf)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// session returns the request's live session, extending it, or nil.
func (l *logins) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sessions[c.Value]
	if s == nil {
		return nil
	}
	if time.Now().After(s.expires) {
		delete(l.sessions, c.Value)
		return nil
	}
	s.expires = time.Now().Add(sessionTTL)
	return s
}

func (l *logins) drop(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		l.mu.Lock()
		delete(l.sessions, c.Value)
		l.mu.Unlock()
	}
}

func (l *logins) csrfOK(r *http.Request, s *session) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

func token() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("hub: random: %v", err)) // the kernel's RNG does not fail
	}
	return hex.EncodeToString(b)
}

// dummyHash is checked for unknown names; it matches no password.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword(token())
	if err != nil {
		panic(err)
	}
	return h
})

// serveDashboard starts the dashboard's server: behind the login when a users
// file is set, over TLS unless it listens on loopback.
func (h *Hub) serveDashboard() (*http.Server, error) {
	handler := h.Handler()
	secure := !netaddr.IsLoopback(h.cfg.HTTP)
	if h.cfg.UsersFile != "" {
		users, err := LoadOperators(h.cfg.UsersFile)
		if err != nil {
			return nil, err
		}
		l := newLogins(users, secure)
		if l.apiToken, err = writeAPIToken(h.cfg.DataDir); err != nil {
			return nil, err
		}
		handler = l.guard(handler)
	} else {
		h.log.Warn("hub: the dashboard has no login (no users_file): anyone on this machine can read it", "http", h.cfg.HTTP)
	}
	ln, err := net.Listen("tcp", h.cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("hub: dashboard listen %s: %w", h.cfg.HTTP, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if secure {
		cert, err := h.dashboardCert()
		if err != nil {
			ln.Close()
			return nil, err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, scheme = tls.NewListener(ln, srv.TLSConfig), "https"
	}
	go srv.Serve(ln)
	h.log.Info("hub: dashboard", "url", scheme+"://"+ln.Addr().String()+"/", "login", h.cfg.UsersFile != "")
	return srv, nil
}

// dashboardCert is the configured certificate, or one from the hub's CA for
// the http address's host and tls_names.
func (h *Hub) dashboardCert() (tls.Certificate, error) {
	if h.cfg.HTTPTLSCert != "" {
		c, err := tls.LoadX509KeyPair(h.cfg.HTTPTLSCert, h.cfg.HTTPTLSKey)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("hub: dashboard certificate: %w", err)
		}
		return c, nil
	}
	ca, err := ensureCA(h.cfg.DataDir)
	if err != nil {
		return tls.Certificate{}, err
	}
	host, _, _ := net.SplitHostPort(h.cfg.HTTP)
	names := append([]string{"localhost", "127.0.0.1", "::1", host}, h.cfg.TLSNames...)
	return ca.serverCert(names)
}
