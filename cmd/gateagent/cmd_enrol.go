package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gatebundle"
)

func init() {
	register("enrol", "join this gate to its hub from the bundle gatehub gate add wrote: broker, CA, account, pinned hub keys, minimum list versions", enrolCmd)
}

// The files enrol writes next to the config (owner-only, owned as the config
// is, so the service user reads them).
const (
	enrolCA       = "hub-ca.pem"
	enrolPassword = "mqtt.password"
	enrolHubKey   = "hub-signing-%d.pub.pem"
)

// enrolResult is what enrol did; --json prints it.
type enrolResult struct {
	Config          string            `json:"config"`
	Site            string            `json:"site"`
	Gate            string            `json:"gate"`
	Broker          string            `json:"broker"`
	Files           []string          `json:"files"`
	MinListVersions map[string]uint64 `json:"min_list_versions"`
}

func enrolCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent enrol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/mynagate/gateagent.json", "the gate's config file, updated in place")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateagent enrol [--config FILE] BUNDLE\n\nWrites the hub's CA, the gate's broker password and the hub's signing keys\nnext to the config (owner-only), sets site, gate, mqtt, hub_keys and\nmin_list_versions in the config, and deletes the bundle. Restart the service\nafterwards.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one bundle file")
	}
	bundlePath := fs.Arg(0)
	b, err := gatebundle.Read(bundlePath)
	if err != nil {
		return err
	}
	res, err := enrol(b, *cfgPath)
	if err != nil {
		return err
	}
	if err := os.Remove(bundlePath); err != nil {
		return fmt.Errorf("the gate is enrolled, but delete the bundle %s by hand (it holds the password): %w", bundlePath, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "gateagent: %s/%s enrolled with %s; %s updated, bundle deleted.\n  restart the service: systemctl restart mynagate-gateagent\n  check the link:      gateagent doctor --config %s\n",
		b.Site, b.Gate, b.Broker, *cfgPath, *cfgPath)
	return nil
}

// enrol writes the bundle's files and config keys; the config must exist
// (the package installs one) and still be valid afterwards.
func enrol(b *gatebundle.Bundle, cfgPath string) (*enrolResult, error) {
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("read config: %w; install the gateagent package (it brings /etc/mynagate/gateagent.json) or write the config first", err)
	}
	fi, err := os.Stat(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	doc := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", cfgPath, err)
	}
	for _, k := range []struct{ key, want string }{{"site", b.Site}, {"gate", b.Gate}} {
		var have string
		if v, ok := doc[k.key]; ok && json.Unmarshal(v, &have) == nil && have != "" && have != k.want {
			return nil, fmt.Errorf("config %s is for %s %q, the bundle for %q: enrol with the right bundle, or change %q in the config first", cfgPath, k.key, have, k.want, k.key)
		}
	}
	dir := filepath.Dir(cfgPath)
	res := &enrolResult{Config: cfgPath, Site: b.Site, Gate: b.Gate, Broker: b.Broker, MinListVersions: b.MinListVersions}
	mqtt := map[string]json.RawMessage{}
	if v, ok := doc["mqtt"]; ok {
		if err := json.Unmarshal(v, &mqtt); err != nil {
			return nil, fmt.Errorf("config %s: mqtt: %w", cfgPath, err)
		}
	}
	files := map[string][]byte{enrolPassword: []byte(b.Password + "\n")}
	set := func(m map[string]json.RawMessage, k string, v any) {
		j, _ := json.Marshal(v)
		m[k] = j
	}
	set(mqtt, "broker", b.Broker)
	set(mqtt, "client_id", b.ClientID)
	set(mqtt, "prefix", b.Prefix)
	set(mqtt, "username", b.Username)
	set(mqtt, "password_file", enrolPassword)
	if b.CAPEM != "" {
		files[enrolCA] = []byte(b.CAPEM)
		set(mqtt, "ca_file", enrolCA)
	} else {
		delete(mqtt, "ca_file")
	}
	var keys []string
	for i, k := range b.HubKeys {
		name := fmt.Sprintf(enrolHubKey, i+1)
		files[name] = []byte(k)
		keys = append(keys, name)
	}
	set(doc, "site", b.Site)
	set(doc, "gate", b.Gate)
	set(doc, "mqtt", mqtt)
	set(doc, "hub_keys", keys)
	set(doc, "min_list_versions", b.MinListVersions)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	out = append(out, '\n')
	// The new config must load as the daemon will load it.
	if _, err := config.Parse(out); err != nil {
		return nil, fmt.Errorf("config %s with the bundle's settings: %w; nothing was changed", cfgPath, err)
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := writeOwnerOnly(p, body, 0o600, uid, gid); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, p)
	}
	if err := writeOwnerOnly(cfgPath, out, fi.Mode().Perm(), uid, gid); err != nil {
		return nil, err
	}
	return res, nil
}

// writeOwnerOnly replaces path atomically with body, mode perm, owned by
// uid:gid (the config's owner: the service reads them).
func writeOwnerOnly(path string, body []byte, perm os.FileMode, uid, gid int) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, body) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	steps := []func() error{
		func() error { return tmp.Chmod(perm) },
		func() error {
			if uid < 0 || os.Geteuid() != 0 {
				return nil
			}
			return tmp.Chown(uid, gid)
		},
		func() error { _, err := tmp.Write(body); return err },
		tmp.Sync,
		tmp.Close,
		func() error { return os.Rename(tmp.Name(), path) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			tmp.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
