package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"text/template"

	"github.com/mynagate/mynagate/internal/netaddr"

	"github.com/mynagate/mynagate/hub"
)

// The files gatehub init makes, relative to the hub directory; the config
// names them relatively so that the directory can be moved whole.
const (
	initConfig    = "gatehub.json"
	initSigning   = "hub-signing.pem"
	initPublic    = "hub-signing.pub.pem"
	initSecret    = "cardkey.secret"
	initPassword  = "hub.password"
	initUser      = "hub"
	initUsers     = "users.json"
	initOperator  = "admin"
	initOpPass    = "dashboard.password"
	initDataDir   = "data"
	initTimeZone  = hub.DefaultTimeZone
	defaultListen = "127.0.0.1:1883"
	defaultHTTP   = "127.0.0.1:8080"
)

// initResult is what gatehub init made; --json prints it.
type initResult struct {
	Dir           string `json:"dir"`
	Config        string `json:"config"`
	SigningKey    string `json:"signing_key"`
	PublicKey     string `json:"public_key_file"`
	PublicKeyPEM  string `json:"public_key"`
	CardKeySecret string `json:"card_key_secret"`
	PasswordFile  string `json:"password_file"`
	// UsersFile holds the dashboard's logins; OperatorPasswordFile the
	// password of its first operator, OperatorName.
	UsersFile            string `json:"users_file"`
	OperatorName         string `json:"operator_name"`
	OperatorPasswordFile string `json:"operator_password_file"`
	CAFile               string `json:"ca_file"`
	DataDir              string `json:"data_dir"`
}

var nextSteps = template.Must(template.New("next").Parse(`gatehub: hub directory {{.Dir}} is ready (owner-only), FOR A DEMO:
  its keys are plain files ("demo_file_keys": true in gatehub.json), and the hub
  says so at every start. A production hub keeps them in a PKCS#11 token: see
  the end of this text.

  gatehub.json      the hub's config: broker address, dashboard, keys, time zone
  hub-signing.pem   the list-signing key: keep it here and in an offline backup
  cardkey.secret    the card-key secret the gates share: never on a list, a mail or a ticket
  hub.password      the hub's own broker account ("hub"); the broker lets nobody in without one
  users.json        the dashboard's logins (gatehub user add); the first is {{.OperatorName}}, an operator
  dashboard.password  {{.OperatorName}}'s password: log in with it, then keep it elsewhere and delete this file
  data/             events (hub.db), master lists (lists.db), broker sessions (broker.db),
                    provisioned gates (gates.json), the hub's CA (tls/ca.pem, tls/ca-key.pem)

Every gate pins this public key ("hub_keys" of gateagent.json; gateagent enrol
writes it from the gate's bundle; it is also in {{.PublicKey}}):
{{.PublicKeyPEM}}
Next:
  1. gatehub run --config {{.Config}}
       the broker on {{.Listen}} (TLS, logins only), the dashboard on {{.DashboardURL}}
       (log in as {{.OperatorName}} with the password in {{.OperatorPasswordFile}})
       Before gates connect from other machines: set "listen" to the hub's
       address (and "gate_broker" to ssl://NAME:PORT as gates reach it).
  2. gatehub gate add --config {{.Config}} --site SITE --gate GATE --out GATE.bundle
       one per gate: its account, and a one-time bundle to carry to the gate,
       where gateagent enrol GATE.bundle sets it up
  3. gatehub enroll import --config {{.Config}} --site SITE tickets.csv
       columns: see README "Enrolment CSV"; UTF-8 or Shift_JIS (Excel) files
  4. gatehub publish --config {{.Config}} --site SITE
       signs the list and sends it to every gate of the site
  On each gate, once: copy {{.CardKeySecret}} over a secure channel, run
  gateagent hsm init --import-secret FILE, then delete the copy.

Production: keys in a PKCS#11 token (README "Hub keys in an HSM"):
  add "hsm": {"module": ..., "token_label": ..., "pin_file": ...} to gatehub.json
  and remove signing_key, card_key_secret and demo_file_keys, then
    gatehub hsm init --config {{.Config}} --import-secret {{.CardKeySecret}}
  (the gates' card keys stay valid), pin the printed public key on every gate
  next to the old one (README "Rotating the hub's signing key"), and delete
  {{.SigningKey}} and {{.CardKeySecret}}.
`))

func cmdInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehub init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", defaultListen, "address of the embedded MQTT broker")
	httpAddr := fs.String("http", defaultHTTP, "address of the dashboard")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("give the directory to create the hub in, e.g. gatehub init /etc/mynagate/hub")
	}
	for _, a := range []struct{ name, addr string }{{"--listen", *listen}, {"--http", *httpAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s %q: %w; want host:port", a.name, a.addr, err)
		}
	}
	dir, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("hub directory: %w", err)
	}
	res := initResult{
		Dir: dir, Config: filepath.Join(dir, initConfig), SigningKey: filepath.Join(dir, initSigning),
		PublicKey: filepath.Join(dir, initPublic), CardKeySecret: filepath.Join(dir, initSecret), DataDir: filepath.Join(dir, initDataDir),
		PasswordFile: filepath.Join(dir, initPassword), CAFile: hub.CAFile(filepath.Join(dir, initDataDir)),
		UsersFile: filepath.Join(dir, initUsers), OperatorName: initOperator, OperatorPasswordFile: filepath.Join(dir, initOpPass),
	}
	// Refuse before writing anything, so that a second init never leaves a
	// half-replaced hub.
	for _, p := range []string{res.Config, res.SigningKey, res.PublicKey, res.CardKeySecret, res.PasswordFile, res.UsersFile, res.OperatorPasswordFile} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: this directory already holds a hub; nothing was changed (remove the files to start over)", p)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create hub directory: %w", err)
	}
	if err := os.MkdirAll(res.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	pub, err := writeSigningKey(res.SigningKey)
	if err != nil {
		return err
	}
	res.PublicKeyPEM = string(pub)
	if err := writeNew(res.PublicKey, pub, 0o644); err != nil {
		return fmt.Errorf("write public key: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("generate card-key secret: %w", err)
	}
	if err := writeNew(res.CardKeySecret, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write card-key secret: %w", err)
	}
	hubPass := make([]byte, 24)
	if _, err := rand.Read(hubPass); err != nil {
		return fmt.Errorf("generate the hub's broker password: %w", err)
	}
	if err := writeNew(res.PasswordFile, []byte(base64.RawURLEncoding.EncodeToString(hubPass)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the hub's broker password: %w", err)
	}
	if _, err := hub.EnsureCA(res.DataDir); err != nil {
		return err
	}
	// The dashboard asks for a login from the first start: one operator,
	// whose password only the owner can read.
	opPass := make([]byte, 18)
	if _, err := rand.Read(opPass); err != nil {
		return fmt.Errorf("generate the dashboard operator's password: %w", err)
	}
	pw := base64.RawURLEncoding.EncodeToString(opPass)
	if err := writeNew(res.OperatorPasswordFile, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the dashboard operator's password: %w", err)
	}
	if err := hub.AddOperator(res.UsersFile, initOperator, hub.RoleOperator, pw); err != nil {
		return fmt.Errorf("write the dashboard's users file: %w", err)
	}
	cfg := map[string]any{
		"data_dir":        initDataDir,
		"listen":          *listen,
		"http":            *httpAddr,
		"username":        initUser,
		"password_file":   initPassword,
		"users_file":      initUsers,
		"signing_key":     initSigning,
		"card_key_secret": initSecret,
		"demo_file_keys":  true,
		"time_zone":       initTimeZone,
		"log":             "info",
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := writeNew(res.Config, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	// The config must load as written.
	if _, err := hub.LoadConfig(res.Config); err != nil {
		return fmt.Errorf("check the new config: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	dashboard := "http://" + *httpAddr + "/"
	if !netaddr.IsLoopback(*httpAddr) {
		dashboard = "https://" + *httpAddr + "/ (TLS, certificate from the hub's CA)"
	}
	return nextSteps.Execute(stdout, struct {
		initResult
		Listen, DashboardURL string
	}{res, *listen, dashboard})
}
