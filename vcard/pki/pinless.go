package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/vcard"
)

// InstitutionCode is the test 特定機関コード in institution*.cvc.
const InstitutionCode = "13000001"

// pinlessSetup holds the PIN-less authority every PIN-less card trusts.
type pinlessSetup struct {
	authorityPEM string
	cardDate     string
}

// enable turns on PIN-less support in a card profile.
func (s pinlessSetup) enable(p *vcard.Profile) {
	p.PINless = vcard.PINless{Enabled: true, Authority: s.authorityPEM, CardDate: s.cardDate}
}

// writePINless writes the authority key pair, the institution key and a
// valid and an expired institution certificate for it.
func writePINless(dir string, now time.Time) (pinlessSetup, error) {
	authority, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pinlessSetup{}, fmt.Errorf("pki: PIN-less authority key: %w", err)
	}
	inst, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pinlessSetup{}, fmt.Errorf("pki: institution key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&authority.PublicKey)
	if err != nil {
		return pinlessSetup{}, fmt.Errorf("pki: PIN-less authority public key: %w", err)
	}
	s := pinlessSetup{
		authorityPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
		cardDate:     now.Format(time.DateOnly),
	}
	for _, k := range []struct {
		name string
		key  any
	}{{"pinless-authority.key", authority}, {"institution.key", inst}} {
		kp, err := keyPEM(k.key)
		if err != nil {
			return pinlessSetup{}, fmt.Errorf("pki: encode %s: %w", k.name, err)
		}
		if err := writeFile(dir, k.name, []byte(kp), 0o600); err != nil {
			return pinlessSetup{}, err
		}
	}
	if err := writeFile(dir, "pinless-authority.pem", []byte(s.authorityPEM), 0o644); err != nil {
		return pinlessSetup{}, err
	}
	certs := []struct {
		name     string
		from, to time.Time
	}{
		{"institution.cvc", now.AddDate(0, 0, -30), now.AddDate(1, 0, 0)},
		{"institution-expired.cvc", now.AddDate(-1, 0, -30), now.AddDate(0, 0, -1)},
	}
	for _, c := range certs {
		b, err := pinless.Issue(&pinless.Certificate{
			InstitutionCode: InstitutionCode,
			PublicKey:       &inst.PublicKey,
			NotBefore:       c.from,
			NotAfter:        c.to,
			Rights:          pinless.RightSign,
		}, authority)
		if err != nil {
			return pinlessSetup{}, fmt.Errorf("pki: %s: %w", c.name, err)
		}
		if err := writeFile(dir, c.name, b, 0o644); err != nil {
			return pinlessSetup{}, err
		}
	}
	return s, nil
}

// InstitutionRequest asks the test PIN-less authority for an institution
// certificate, typically for a key generated inside an HSM.
type InstitutionRequest struct {
	// PublicKeyPEM is the institution's ECDSA P-256 public key, a PEM PUBLIC
	// KEY block (what hsm.PublicKeyPEM writes).
	PublicKeyPEM []byte
	// Code is the institution code; "" means InstitutionCode.
	Code string
	// NotBefore and NotAfter bound the validity (whole UTC days); zero
	// values mean today and one year later.
	NotBefore, NotAfter time.Time
}

// IssueInstitution signs an institution certificate with the authority key
// that Init wrote into dir (pinless-authority.key), so that the cards of that
// directory accept it.
func IssueInstitution(dir string, req InstitutionRequest) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pinless-authority.key"))
	if err != nil {
		return nil, fmt.Errorf("pki: issue institution certificate: %w (run jpkicard pki init first)", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("pki: pinless-authority.key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: pinless-authority.key: %w", err)
	}
	authority, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("pki: pinless-authority.key is a %T, want ECDSA", k)
	}
	pb, _ := pem.Decode(req.PublicKeyPEM)
	if pb == nil || pb.Type != "PUBLIC KEY" {
		return nil, errors.New("pki: institution public key: want a PEM PUBLIC KEY block")
	}
	pub, err := x509.ParsePKIXPublicKey(pb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: institution public key: %w", err)
	}
	ipub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("pki: institution public key is a %T, want ECDSA P-256", pub)
	}
	if req.Code == "" {
		req.Code = InstitutionCode
	}
	if req.NotBefore.IsZero() {
		req.NotBefore = time.Now().UTC()
	}
	if req.NotAfter.IsZero() {
		req.NotAfter = req.NotBefore.AddDate(1, 0, 0)
	}
	return pinless.Issue(&pinless.Certificate{
		InstitutionCode: req.Code,
		PublicKey:       ipub,
		NotBefore:       req.NotBefore,
		NotAfter:        req.NotAfter,
		Rights:          pinless.RightSign,
	}, authority)
}
