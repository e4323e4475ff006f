package hub

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The files gatehub gate add and revoke write for an external Mosquitto: a
// password file in its own "$7$" format and an ACL file granting each account
// what the embedded broker grants it (access). Mosquitto reads both again on
// SIGHUP (systemctl reload mosquitto).
const (
	MosquittoPasswd = "mosquitto.passwd"
	MosquittoACL    = "mosquitto.acl"
)

// WriteMosquittoFiles writes the password and ACL files for the hub's account
// and every active gate into cfg.MosquittoDir, replacing them atomically.
func WriteMosquittoFiles(cfg *Config) error {
	g, err := LoadGates(cfg.DataDir)
	if err != nil {
		return err
	}
	pw, err := password(cfg.PasswordFile)
	if err != nil {
		return err
	}
	if cfg.Username == "" || pw == "" {
		return fmt.Errorf("hub: the Mosquitto files need the hub's own account too; set username and password_file in the hub config")
	}
	hubHash, err := HashPassword(pw)
	if err != nil {
		return err
	}
	passwd, acl := MosquittoEntries(cfg.Prefix, cfg.Username, hubHash, g)
	if err := writeFileAtomic(filepath.Join(cfg.MosquittoDir, MosquittoPasswd), []byte(passwd), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(cfg.MosquittoDir, MosquittoACL), []byte(acl), 0o600)
}

// MosquittoEntries renders the password file and the ACL file.
func MosquittoEntries(prefix, hubUser, hubHash string, g *Gates) (passwd, acl string) {
	var pb, ab strings.Builder
	pb.WriteString(hubUser + ":" + hubHash + "\n")
	fmt.Fprintf(&ab, "# Written by gatehub gate add/revoke; edits are lost at the next one.\n\n")
	// The hub also writes each gate's events topic: it passes an event that
	// came with staff's note on {gate}/private on to the site's gates there,
	// without the note (Hub.onPrivate).
	fmt.Fprintf(&ab, "user %s\ntopic read %s/#\ntopic write %s/+/lists/#\ntopic write %s/+/+/stored\ntopic write %s/+/+/events\n", hubUser, prefix, prefix, prefix, prefix)
	for _, a := range g.List {
		if !a.Active() {
			continue
		}
		pb.WriteString(a.Username() + ":" + a.Hash + "\n")
		own := prefix + "/" + a.Site + "/" + a.Gate
		site := prefix + "/" + a.Site
		fmt.Fprintf(&ab, "\nuser %s\ntopic write %s/events\ntopic write %s/private\ntopic write %s/status\ntopic read %s/lists/#\ntopic read %s/+/events\ntopic read %s/stored\n",
			a.Username(), own, own, own, site, site, own)
	}
	return pb.String(), ab.String()
}
