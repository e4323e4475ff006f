package hub

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/mqtttest"
)

// usersFixture writes a users file with a viewer and an operator.
func usersFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.json")
	for _, u := range []struct {
		name string
		role Role
	}{{"miyu", RoleViewer}, {"kenta", RoleOperator}} {
		if err := AddOperator(path, u.name, u.role, "pw-of-"+u.name+"-123"); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// client logs in as name (empty: not at all) and returns a client with the
// session cookie and the session's CSRF token.
func loginClient(t *testing.T, base, name string, rt http.RoundTripper) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if name == "" {
		return c, ""
	}
	resp, err := c.PostForm(base+"/login", url.Values{"name": {name}, "password": {"pw-of-" + name + "-123"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %s", name, resp.Status)
	}
	return c, resp.Header.Get("X-CSRF-Token")
}

// TestLoginGuard: no session, no dashboard; a viewer reads; only an operator
// with the session's CSRF token changes anything; /metrics stays open for
// the scraper.
func TestLoginGuard(t *testing.T) {
	users, err := LoadOperators(usersFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "reached %s %s", r.Method, r.URL.Path) })
	srv := httptest.NewServer(newLogins(users, false).guard(next))
	defer srv.Close()
	anon, _ := loginClient(t, srv.URL, "", nil)
	viewer, vcsrf := loginClient(t, srv.URL, "miyu", nil)
	op, ocsrf := loginClient(t, srv.URL, "kenta", nil)
	tests := []roleCase{
		{"anonymous page", anon, "GET", "/", "", http.StatusSeeOther},
		{"anonymous API", anon, "GET", "/api/events", "", http.StatusUnauthorized},
		{"anonymous change", anon, "POST", "/api/shelters/amend", "", http.StatusUnauthorized},
		{"anonymous metrics", anon, "GET", "/metrics", "", http.StatusOK},
		{"viewer reads", viewer, "GET", "/api/events", "", http.StatusOK},
		{"viewer changes", viewer, "POST", "/api/shelters/amend", vcsrf, http.StatusForbidden},
		{"operator without token", op, "POST", "/api/shelters/amend", "", http.StatusForbidden},
		{"operator with another's token", op, "POST", "/api/shelters/amend", vcsrf, http.StatusForbidden},
		{"operator with token", op, "POST", "/api/shelters/amend", ocsrf, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.check(t, srv.URL, "{}")
			if tc.want == http.StatusOK && !strings.HasPrefix(string(body), "reached") {
				t.Fatalf("%s %s answered %q without reaching the dashboard", tc.method, tc.path, body)
			}
		})
	}
	// A wrong password and an unknown name answer alike.
	for _, form := range []url.Values{{"name": {"miyu"}, "password": {"wrong-password-1"}}, {"name": {"nobody"}, "password": {"whatever-pw-12"}}} {
		resp, err := anon.PostForm(srv.URL+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("login %v: %s, cookie %q", form, resp.Status, resp.Header.Get("Set-Cookie"))
		}
	}
}

// TestOperatorsFile: the users file is owner-only and strict.
func TestOperatorsFile(t *testing.T) {
	path := usersFixture(t)
	if err := AddOperator(path, "short", RoleViewer, "short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if err := AddOperator(path, "x", "admin", "long-enough-password"); err == nil {
		t.Error("role admin was accepted")
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "pw-of-") {
		t.Fatal("a password is stored in clear")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOperators(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable users file: %v", err)
	}
}

// TestDashboardTLSOffLoopback: on an address other than loopback the hub
// serves the dashboard over HTTPS only, with a certificate from its own CA,
// and behind the login.
func TestDashboardTLSOffLoopback(t *testing.T) {
	cfg := testConfig(t)
	port := mqtttest.FreePort(t)
	cfg.HTTP = fmt.Sprintf("0.0.0.0:%d", port)
	cfg.UsersFile = usersFixture(t)
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	startHub(t, cfg)
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	pool := x509.NewCertPool()
	var caPEM []byte
	waitFor(t, "the hub's CA", func() bool {
		var err error
		caPEM, err = os.ReadFile(CAFile(cfg.DataDir))
		return err == nil
	})
	pool.AppendCertsFromPEM(caPEM)
	rt := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	var c *http.Client
	waitFor(t, "the dashboard over HTTPS", func() bool {
		resp, err := (&http.Client{Transport: rt, Timeout: 5 * time.Second}).Get(base + "/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	c, _ = loginClient(t, base, "miyu", rt)
	resp, err := c.Get(base + "/api/view")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("viewer over HTTPS: %s", resp.Status)
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/view", port)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the dashboard answered in plain HTTP off loopback")
		}
	}
	// Without a users file the config is refused off loopback.
	cfg.UsersFile = ""
	if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "users_file") {
		t.Fatalf("non-loopback dashboard without logins: %v", err)
	}
}

// TestDashboardRoles runs the role table against the dashboard as gatehub
// run serves it (serveDashboard: the login in front of Hub.Handler), with the
// real operator-only change, the office's amend of a check-in: a viewer
// reads, and only an operator with the session's CSRF token reaches the
// amend (which then answers for itself: no such check-in).
func TestDashboardRoles(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	cfg.UsersFile = usersFixture(t)
	startHub(t, cfg)
	base := "http://" + cfg.HTTP
	waitFor(t, "the dashboard", func() bool {
		resp, err := http.Get(base + "/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	anon, _ := loginClient(t, base, "", nil)
	viewer, vcsrf := loginClient(t, base, "miyu", nil)
	op, ocsrf := loginClient(t, base, "kenta", nil)
	const amend = "/api/shelters/amend?site=stadium"
	tests := []roleCase{
		{"no login, page", anon, "GET", "/", "", http.StatusSeeOther},
		{"no login, API", anon, "GET", "/api/view", "", http.StatusUnauthorized},
		{"no login, amend", anon, "POST", amend, "", http.StatusUnauthorized},
		{"no login, metrics", anon, "GET", "/metrics", "", http.StatusOK},
		{"viewer, page", viewer, "GET", "/", "", http.StatusOK},
		{"viewer, API", viewer, "GET", "/api/view", "", http.StatusOK},
		{"viewer, events", viewer, "GET", "/api/events", "", http.StatusOK},
		{"viewer, amend", viewer, "POST", amend, vcsrf, http.StatusForbidden},
		{"operator reads", op, "GET", "/api/view", "", http.StatusOK},
		{"operator, amend without CSRF token", op, "POST", amend, "", http.StatusForbidden},
		{"operator, amend with the viewer's token", op, "POST", amend, vcsrf, http.StatusForbidden},
		{"operator, amend", op, "POST", amend, ocsrf, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, base, `{"event":"no-such-checkin","note":"seen at the door"}`)
		})
	}
}

// roleCase is one request of a role table: who (a client logged in or not)
// asks what, with which CSRF token, and the status it must get.
type roleCase struct {
	name   string
	c      *http.Client
	method string
	path   string
	csrf   string
	want   int
}

// check sends the case's request with body to base and fails unless it gets
// the wanted status; it returns the answer's body.
func (tc roleCase) check(t *testing.T, base, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(body))
	if tc.csrf != "" {
		req.Header.Set("X-CSRF-Token", tc.csrf)
	}
	resp, err := tc.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != tc.want {
		t.Fatalf("%s %s: %s %s, want %d", tc.method, tc.path, resp.Status, got, tc.want)
	}
	return got
}
