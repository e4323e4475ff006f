package gate

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

// slowTransport adds a wait before every answer of a virtual card, as a
// relay's round trip does.
type slowTransport struct {
	card *vcard.Card
	wait time.Duration
}

func (s slowTransport) Transmit(apdu []byte) ([]byte, error) {
	time.Sleep(s.wait)
	return s.card.Process(apdu), nil
}

// TestPINlessConfig builds the gate's PIN-less authenticator from a config
// file with the institution key in a SoftHSM2 token: pinless.accept_v1 true
// admits a card that speaks only version 1 and false refuses it as
// unsupported; pinless.max_exchange_ms refuses a relayed card as too slow
// (pinless_too_slow) and admits it without the bound.
func TestPINlessConfig(t *testing.T) {
	tok := hsmtest.NewToken(t, "gate-pinless-config")
	h, err := hsm.Open(tok)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	pub, err := h.InitInstitutionKey(hsm.DefaultInstitutionKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := hsm.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkiDir := taptest.PKI(t)
	cert, err := pki.IssueInstitution(pkiDir, pki.InstitutionRequest{PublicKeyPEM: pubPEM})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "institution.cvc"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	profile := taptest.Profile(t, "card-001.json")
	blk, _ := pem.Decode([]byte(profile.Certificate))
	cardCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	v1 := *profile
	v1.Version = 1

	for _, tc := range []struct {
		name    string
		pinless map[string]any
		card    *vcard.Profile
		wait    time.Duration
		want    error // nil: proven
	}{
		{"accept_v1 true, version 1 card", map[string]any{"accept_v1": true}, &v1, 0, nil},
		{"accept_v1 false, version 1 card", map[string]any{"accept_v1": false}, &v1, 0, pinless.ErrUnsupported},
		{"accept_v1 true, version 2 card", map[string]any{"accept_v1": true}, profile, 0, nil},
		{"max_exchange_ms 1, relayed card", map[string]any{"max_exchange_ms": 1}, profile, 5 * time.Millisecond, pinless.ErrTooSlow},
		{"no bound, relayed card", map[string]any{"max_exchange_ms": 0}, profile, 5 * time.Millisecond, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := map[string]any{"certificate": "institution.cvc", "institution_code": pki.InstitutionCode}
			for k, v := range tc.pinless {
				pl[k] = v
			}
			b, err := json.Marshal(map[string]any{
				"site": "s", "gate": "g", "mode": "venue", "data_dir": "data",
				"lanes":   []any{map[string]any{"name": "in", "reader": "r", "kind": "entry", "zone": "A"}},
				"roots":   []string{filepath.Join(pkiDir, "root.pem")},
				"hsm":     map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile},
				"pinless": pl, "policy": map[string]any{"accept": []string{"pinless"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "gateagent.json")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			a, err := OpenPINLess(cfg, h, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Prove(slowTransport{card: vcard.NewCard(tc.card), wait: tc.wait}, cardCert)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("prove: %v, want %v", err, tc.want)
			}
			if tc.want == nil && p.Version != tc.card.Version && !(tc.card.Version == 0 && p.Version == pinless.V2) {
				t.Fatalf("proven in version %d", p.Version)
			}
		})
	}
}
