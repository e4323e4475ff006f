package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/vcard"
)

// Init writes the test PKI into dir (created if missing); README.txt there
// lists the files. Existing files of the same names are overwritten.
func Init(dir string, opt Options) error {
	if opt.Cards == 0 {
		opt.Cards = 5
	}
	if opt.Cards < 1 || opt.Cards > 999 {
		return fmt.Errorf("pki: %d cards: want 1..999", opt.Cards)
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pki: create %s: %w", dir, err)
	}
	g := generator{dir: dir, now: now}
	root, err := newRoot(now)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	wrong, err := newRoot(now)
	if err != nil {
		return fmt.Errorf("pki: wrong root: %w", err)
	}
	rootKey, err := keyPEM(root.key)
	if err != nil {
		return fmt.Errorf("pki: encode root key: %w", err)
	}
	if err := writeFile(dir, "root.pem", []byte(certPEM(root.cert)), 0o644); err != nil {
		return err
	}
	if err := writeFile(dir, "root.key", []byte(rootKey), 0o600); err != nil {
		return err
	}
	if err := writeFile(dir, "wrong-root.pem", []byte(certPEM(wrong.cert)), 0o644); err != nil {
		return err
	}

	pl, err := writePINless(dir, now)
	if err != nil {
		return err
	}
	var listed []*x509.Certificate
	for i := 1; i <= opt.Cards; i++ {
		v := variant(i)
		cert, err := g.card(fmt.Sprintf("card-%03d.json", i), root, root, now.AddDate(0, -1, 0), now.AddDate(4, 0, 0), func(p *vcard.Profile) { v(p); pl.enable(p) })
		if err != nil {
			return err
		}
		if i < opt.Cards {
			listed = append(listed, cert)
		}
	}
	specials := []struct {
		name      string
		issuer    authority
		from, to  time.Time
		customize func(*vcard.Profile)
	}{
		{"wrong-root.json", wrong, now.AddDate(0, -1, 0), now.AddDate(4, 0, 0), pl.enable},
		{"expired.json", root, now.AddDate(-5, 0, 0), now.AddDate(0, 0, -10), pl.enable},
		{"no-pinless.json", root, now.AddDate(0, -1, 0), now.AddDate(4, 0, 0), func(p *vcard.Profile) {}},
		{"juki.json", root, now.AddDate(0, -1, 0), now.AddDate(4, 0, 0), func(p *vcard.Profile) { p.Label = vcard.LabelJukiCard }},
		{"phone.json", root, now.AddDate(0, -1, 0), now.AddDate(4, 0, 0), func(p *vcard.Profile) { p.Label = vcard.LabelAndroid; p.ATR = "nfc" }},
		{"pulled.json", root, now.AddDate(0, -1, 0), now.AddDate(4, 0, 0), func(p *vcard.Profile) { p.RemoveAfterAPDUs = 3; pl.enable(p) }},
	}
	for _, s := range specials {
		if _, err := g.card(s.name, s.issuer, s.issuer, s.from, s.to, s.customize); err != nil {
			return err
		}
	}
	if err := g.write("transit.json", &vcard.Profile{ATR: "nfc"}); err != nil {
		return err
	}
	if err := g.whitelist(listed); err != nil {
		return err
	}
	return writeFile(dir, "README.txt", []byte(readme(opt.Cards)), 0o644)
}

// variant spreads the numbered cards over what real cards differ in: contact
// or NFC ATR, extended-length support, filler after the certificate.
func variant(i int) func(*vcard.Profile) {
	return func(p *vcard.Profile) {
		if i%2 == 0 {
			p.ATR, p.Extended, p.Padding, p.PaddingByte = "nfc", true, 64, 0xFF
			return
		}
		p.Padding = 200
	}
}

type generator struct {
	dir string
	now time.Time
}

// card issues a certificate under issuer and writes a profile whose EF 000B
// offers offered's certificate.
func (g generator) card(name string, issuer, offered authority, from, to time.Time, customize func(*vcard.Profile)) (*x509.Certificate, error) {
	cert, key, err := issueUser(issuer, from, to)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", name, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: encode key: %w", name, err)
	}
	p := &vcard.Profile{
		Label:         vcard.LabelMyNumberCard,
		Certificate:   certPEM(cert),
		CACertificate: certPEM(offered.cert),
		PrivateKey:    kp,
		PIN:           PIN,
		PINTries:      3,
		ATR:           "contact",
	}
	customize(p)
	return cert, g.write(name, p)
}

func (g generator) write(name string, p *vcard.Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("pki: %s: generated an invalid profile: %w", name, err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("pki: %s: %w", name, err)
	}
	return writeFile(g.dir, name, append(b, '\n'), 0o600)
}

// WhitelistHeader is the header row of whitelist.csv.
var WhitelistHeader = []string{"issuer_key_id", "serial", "service_id", "kind", "valid_from", "valid_until", "zones", "seat", "group"}

// whitelist writes one ticket per listed card, varying the optional columns
// so that importers meet empty and filled values.
func (g generator) whitelist(certs []*x509.Certificate) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(WhitelistHeader) //nolint:errcheck // bytes.Buffer; checked by Flush/Error
	for i, c := range certs {
		from, until, zones := "", "", ""
		if i%2 == 1 {
			from = g.now.AddDate(0, 0, -1).Format(time.RFC3339)
			until = g.now.AddDate(0, 1, 0).Format(time.RFC3339)
			zones = "north;east"
		}
		w.Write([]string{ //nolint:errcheck // as above
			hex.EncodeToString(c.AuthorityKeyId),
			strings.ToUpper(c.SerialNumber.Text(16)),
			fmt.Sprintf("T-%04d", i+1),
			"ticket",
			from, until, zones,
			fmt.Sprintf("A-%d", 10+i),
			"",
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("pki: whitelist: %w", err)
	}
	return writeFile(g.dir, "whitelist.csv", buf.Bytes(), 0o644)
}

func readme(cards int) string {
	return fmt.Sprintf(`MynaGate test PKI (written by "jpkicard pki init"; test material, never trust it in production)

root.pem          test root, J-LIS shape: C=JP, O=JPKI-TEST, OU=JPKI for user authentication,
                  OU=Japan Agency for Local Authority Information Systems; RSA-2048, sha256WithRSA.
                  Pin this one on test gates.
root.key          its private key (PKCS#8), to issue more test cards.
wrong-root.pem    another root with the SAME name and another key: a gate must choose the
                  issuer by signature and reject cards under it.
card-001.json ... card-%03d.json
                  valid cards (jpkicard tap --profile FILE). Odd numbers: contact ATR, short
                  APDUs only, 200 bytes of 00 after the certificate; even: NFC ATR, extended
                  APDUs, 64 bytes of FF. PIN %s, 3 tries. All support PIN-less.
wrong-root.json   certificate signed by the wrong root (EF 000B offers the wrong root).
expired.json      certificate expired 10 days before generation.
no-pinless.json   valid My Number card WITHOUT PIN-less support (like every card issued so far).
juki.json         old Basic Resident Register card (label JPKIAPICCTOKEN), no PIN-less.
phone.json        JPKI on an Android phone (label JPKIAPGPSETOKEN, NFC ATR; EF 000A needs the
                  PIN), no PIN-less.
transit.json      a card without the JPKI applet (SELECT of the AID answers 6A82).
pulled.json       valid card that is pulled from the reader at its 4th APDU (mid-read).

PIN-less reference protocol (docs/pinless.md); institution code %s:
pinless-authority.pem  the PIN-less authority's public key (ECDSA P-256); cards hold it in EF 0016.
pinless-authority.key  its private key (PKCS#8), to issue more institution certificates.
institution.key        the institution (gate) key, ECDSA P-256, PKCS#8: import it into the HSM.
institution.cvc        its institution certificate, valid from 30 days before generation for a year.
institution-expired.cvc  the same key's certificate that expired the day before generation:
                       PIN-less cards reject it (their card_date is the generation date).
whitelist.csv     tickets for every numbered card but the last; card-%03d is deliberately unlisted.
                  issuer_key_id = hex of the certificate's AuthorityKeyId, serial = hex of
                  its serial number.
`, cards, PIN, InstitutionCode, cards)
}
