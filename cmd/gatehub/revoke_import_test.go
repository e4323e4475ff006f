package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/vcard/pki"
)

// TestRevokeImport imports a CRL of the test root at the hub: it needs the
// pinned root, reports the entries and how many are new, and lists show it.
func TestRevokeImport(t *testing.T) {
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	secret := filepath.Join(dir, "cardkey.secret")
	os.WriteFile(secret, []byte(hex.EncodeToString(bytes.Repeat([]byte{0x33}, 32))), 0o600)
	cfgPath := filepath.Join(dir, "gatehub.json")
	os.WriteFile(cfgPath, []byte(`{"data_dir": "data", "card_key_secret": "cardkey.secret", "demo_file_keys": true}`), 0o600)
	blk, _ := pem.Decode([]byte(taptest.Profile(t, "card-004.json").Certificate))
	revoked, _ := x509.ParseCertificate(blk.Bytes)
	der, err := pki.IssueCRL(pkiDir, pki.CRLRequest{Serials: []*big.Int{revoked.SerialNumber, big.NewInt(5)}})
	if err != nil {
		t.Fatal(err)
	}
	crlPath := filepath.Join(dir, "jpki.crl")
	os.WriteFile(crlPath, der, 0o600)
	root := filepath.Join(pkiDir, "root.pem")
	ctx := context.Background()

	if _, stderr, code := runCmd(t, ctx, "revoke", "import", "--config", cfgPath, "--site", "arena", crlPath); code == 0 || !strings.Contains(stderr, "--roots") {
		t.Fatalf("without --roots: exit %d %s", code, stderr)
	}
	if _, stderr, code := runCmd(t, ctx, "revoke", "import", "--config", cfgPath, "--site", "arena", "--roots", filepath.Join(pkiDir, "wrong-root.pem"), crlPath); code == 0 || !strings.Contains(stderr, "does not verify") {
		t.Fatalf("another root of the same name: exit %d %s", code, stderr)
	}
	for i, want := range []int{2, 0} {
		out, stderr, code := runCmd(t, ctx, "revoke", "import", "--config", cfgPath, "--site", "arena", "--roots", root, "--json", crlPath)
		var res crlImportResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Entries != 2 || res.Added != want || res.Stale {
			t.Fatalf("import %d: exit %d %s %s; want %d added", i, code, out, stderr, want)
		}
	}
	out, stderr, code := runCmd(t, ctx, "lists", "--config", cfgPath, "--site", "arena")
	if code != 0 || !strings.Contains(out, "2 revoked, 2 changes pending") || !strings.Contains(out, "CRL of ") || !strings.Contains(out, "(current)") {
		t.Fatalf("lists: exit %d\n%s%s", code, out, stderr)
	}
}
