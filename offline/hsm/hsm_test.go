package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
)

func openToken(t *testing.T) (*hsm.HSM, hsm.Config) {
	t.Helper()
	cfg := hsmtest.NewToken(t, "gate-test")
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, cfg
}

func TestInstitutionKey(t *testing.T) {
	h, cfg := openToken(t)
	if _, err := h.InstitutionSigner("inst"); err == nil || !strings.Contains(err.Error(), "gateagent hsm init") || !strings.Contains(err.Error(), `"inst"`) {
		t.Fatalf("missing key: %v; want the label and the hint", err)
	}
	pub, err := h.InitInstitutionKey("inst")
	if err != nil {
		t.Fatal(err)
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok || ecPub.Curve != elliptic.P256() {
		t.Fatalf("public key %T, want ECDSA P-256", pub)
	}
	if _, err := h.InitInstitutionKey("inst"); err == nil {
		t.Fatal("a second key under the same label was created")
	}
	signer, err := h.InstitutionSigner("inst")
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("terminal nonce || card challenge || institution code"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(ecPub, digest[:], sig) {
		t.Fatal("signature made in the token does not verify with the returned public key")
	}

	csrPEM, err := h.CSR("inst", pkix.Name{Organization: []string{"MynaGate test venue"}, CommonName: "gate-test"})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil || csr.Subject.CommonName != "gate-test" {
		t.Fatalf("CSR: %v, subject %v", err, csr.Subject)
	}
	if p, err := hsm.PublicKeyPEM(pub); err != nil || !bytes.HasPrefix(p, []byte("-----BEGIN PUBLIC KEY-----")) {
		t.Fatalf("PublicKeyPEM: %q, %v", p, err)
	}
	assertNotExtractable(t, cfg, "inst", pkcs11.CKO_PRIVATE_KEY)
}

func TestCardKeyerMatchesSoftware(t *testing.T) {
	h, cfg := openToken(t)
	secret := bytes.Repeat([]byte{0x5A}, 32)
	secret[0] = 1
	if err := h.ImportCardKeySecret("hub-secret", secret); err != nil {
		t.Fatal(err)
	}
	if err := h.ImportCardKeySecret("hub-secret", secret); err == nil {
		t.Fatal("a second secret under the same label was imported")
	}
	if err := h.ImportCardKeySecret("short", secret[:16]); err == nil {
		t.Fatal("a 16-byte secret was imported")
	}
	hk, err := h.CardKeyer("hub-secret")
	if err != nil {
		t.Fatal(err)
	}
	sk := cardkey.NewSoftware(secret)
	inputs := [][2][]byte{
		{{0x1a, 0xc1, 0x00, 0xf5}, {0x01, 0x33, 0xC3, 0x49}},
		{bytes.Repeat([]byte{9}, 20), {0x00, 0x06, 0xD1, 0x80, 0x06}},
		{{1}, bytes.Repeat([]byte{0xff}, 20)},
	}
	for _, in := range inputs {
		want, err := sk.CardKey(in[0], in[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := hk.CardKey(in[0], in[1])
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("HSM card key %s, software %s for %x/%x", got, want, in[0], in[1])
		}
	}
	if _, err := hk.CardKey(nil, []byte{1}); err == nil {
		t.Fatal("empty issuer key id accepted")
	}
	// More callers than sessions: they wait for a session, and all agree.
	want, _ := sk.CardKey(inputs[0][0], inputs[0][1])
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			got, err := hk.CardKey(inputs[0][0], inputs[0][1])
			if err == nil && got != want {
				err = errors.New("concurrent card key differs")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	assertNotExtractable(t, cfg, "hub-secret", pkcs11.CKO_SECRET_KEY)
}

func TestInitCardKeySecretAndStatus(t *testing.T) {
	h, cfg := openToken(t)
	if _, err := h.CardKeyer("ck"); err == nil || !strings.Contains(err.Error(), "gateagent hsm init") {
		t.Fatalf("missing secret: %v", err)
	}
	if err := h.InitCardKeySecret("ck"); err != nil {
		t.Fatal(err)
	}
	if err := h.InitCardKeySecret("ck"); err == nil {
		t.Fatal("second secret under one label")
	}
	if _, err := h.InitInstitutionKey("inst"); err != nil {
		t.Fatal(err)
	}
	k, err := h.CardKeyer("ck")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := k.CardKey([]byte{1}, []byte{2})
	b, _ := k.CardKey([]byte{1}, []byte{3})
	if a == b || a == (cardkey.Key{}) {
		t.Fatalf("generated secret gives keys %s and %s", a, b)
	}
	assertNotExtractable(t, cfg, "ck", pkcs11.CKO_SECRET_KEY)

	st, err := h.Status("inst", "ck", "absent")
	if err != nil {
		t.Fatal(err)
	}
	want := []hsm.KeyStatus{
		{Label: "inst", Found: true, Type: "ecdsa-p256", Sensitive: true},
		{Label: "ck", Found: true, Type: "generic-secret", Sensitive: true},
		{Label: "absent"},
	}
	if st.TokenLabel != "gate-test" || len(st.Keys) != 3 {
		t.Fatalf("status %+v", st)
	}
	for i, ks := range st.Keys {
		if ks != want[i] {
			t.Errorf("key %d: %+v, want %+v", i, ks, want[i])
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	cfg := hsmtest.NewToken(t, "gate-test")
	loose := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(loose, []byte(hsmtest.PIN), 0o644)
	os.Chmod(loose, 0o644)
	wrong := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(wrong, []byte("000000"), 0o600)
	tests := []struct {
		name    string
		edit    func(*hsm.Config)
		mention string
	}{
		{"world-readable PIN file", func(c *hsm.Config) { c.PINFile = loose }, "chmod 600"},
		{"no PIN file", func(c *hsm.Config) { c.PINFile = "" }, "PIN file"},
		{"max sessions unset", func(c *hsm.Config) { c.MaxSessions = 0 }, "max sessions"},
		{"no module", func(c *hsm.Config) { c.Module = "/nonexistent/lib.so" }, "module"},
		{"unknown token", func(c *hsm.Config) { c.TokenLabel = "nope" }, "softhsm2-util --show-slots"},
		{"wrong PIN", func(c *hsm.Config) { c.PINFile = wrong }, "PIN"},
	}
	for _, tt := range tests {
		c := cfg
		tt.edit(&c)
		h, err := hsm.Open(c)
		if err == nil {
			h.Close()
			t.Errorf("%s: Open succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.mention)
		}
	}
}

// assertNotExtractable opens its own PKCS#11 session and checks that the key
// labelled label is sensitive, not extractable, and that its value cannot be
// read.
func assertNotExtractable(t *testing.T, cfg hsm.Config, label string, class uint) {
	t.Helper()
	p := pkcs11.New(cfg.Module)
	defer p.Destroy()
	if err := p.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	var slot uint
	found := false
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err == nil && ti.Label == cfg.TokenLabel {
			slot, found = s, true
		}
	}
	if !found {
		t.Fatal("token not found")
	}
	sess, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseSession(sess)
	if err := p.Login(sess, pkcs11.CKU_USER, hsmtest.PIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		t.Fatal(err)
	}
	if err := p.FindObjectsInit(sess, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
	}); err != nil {
		t.Fatal(err)
	}
	objs, _, err := p.FindObjects(sess, 4)
	p.FindObjectsFinal(sess)
	if err != nil || len(objs) != 1 {
		t.Fatalf("find %q: %d objects, %v", label, len(objs), err)
	}
	attrs, err := p.GetAttributeValue(sess, objs[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if attrs[0].Value[0] != 1 || attrs[1].Value[0] != 0 {
		t.Fatalf("%q: sensitive=%v extractable=%v", label, attrs[0].Value, attrs[1].Value)
	}
	if _, err := p.GetAttributeValue(sess, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
		t.Fatalf("%q: the key value could be read out of the token", label)
	}
}
