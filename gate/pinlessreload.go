package gate

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/localapi"
	"github.com/mynagate/mynagate/offline/pinless"
)

// OpReload is the control socket's operation that renews the PIN-less
// credential (ReloadPINLess).
const OpReload = "reload"

// pinlessSlot holds the PIN-less authenticator in force. A renewal swaps it
// while taps are decided; a tap takes the one in force when it starts and
// finishes with it.
type pinlessSlot struct {
	cur atomic.Pointer[pinless.Authenticator]
	// mu makes renewals one at a time; taps never wait for it.
	mu sync.Mutex
	// observe, if set, is given every proof whose live exchange was
	// measured, too slow ones included.
	observe func(pinless.Proof)
}

// Prove implements agent.Prover with the authenticator in force.
func (s *pinlessSlot) Prove(t pinless.Transport, cardCert *x509.Certificate) (pinless.Proof, error) {
	p, err := s.cur.Load().Prove(t, cardCert)
	if p.Exchange > 0 && s.observe != nil {
		s.observe(p)
	}
	return p, err
}

// PINLessReload is what a renewal of the PIN-less credential put in force.
type PINLessReload struct {
	// KeyLabel is the institution key's label in the token.
	KeyLabel string `json:"institution_key_label"`
	// Certificate is the institution certificate's file.
	Certificate string `json:"certificate"`
	// NotAfter is the new certificate's end; PreviousNotAfter the old one's.
	NotAfter         time.Time `json:"not_after"`
	PreviousNotAfter time.Time `json:"previous_not_after"`
}

// ReloadPINLess renews the PIN-less credential without stopping the gate: it
// reads the config file again and, from it, the institution certificate
// (pinless.certificate) and the institution key (hsm.institution_key_label) in
// the token already open, checks that they belong together and name the
// configured institution code, and only then puts them in force. Taps already
// started finish with the credential they began with. On any error the
// credential in force stays, and the error says why. Only the pinless section
// and the key label are taken from the file; other changes need a restart.
func (g *Gate) ReloadPINLess() (PINLessReload, error) {
	if g.pinless == nil {
		return PINLessReload{}, errors.New("PIN-less renewal: this gate started without a PIN-less credential (pinless.certificate and an HSM); restart it to turn PIN-less on")
	}
	g.pinless.mu.Lock()
	defer g.pinless.mu.Unlock()
	cfg, err := config.Load(g.cfg.Path())
	if err != nil {
		return PINLessReload{}, fmt.Errorf("PIN-less renewal: %w; the credential in force stays", err)
	}
	if cfg.PINLess.Certificate == "" {
		return PINLessReload{}, errors.New("PIN-less renewal: the config no longer names pinless.certificate; restart the gate to turn PIN-less off; the credential in force stays")
	}
	if cfg.HSM.Module != g.cfg.HSM.Module || cfg.HSM.TokenLabel != g.cfg.HSM.TokenLabel {
		return PINLessReload{}, errors.New("PIN-less renewal: hsm.module or hsm.token_label changed; a reload uses the token already open, so restart the gate for a new token; the credential in force stays")
	}
	a, err := OpenPINLess(cfg, g.hsm, g.log)
	if err != nil {
		return PINLessReload{}, fmt.Errorf("PIN-less renewal: %w; the credential in force stays", err)
	}
	if end := a.Certificate().NotAfter; time.Now().After(end) {
		return PINLessReload{}, fmt.Errorf("PIN-less renewal: institution certificate %s ended on %s; the credential in force stays", cfg.PINLess.Certificate, end.Format(time.DateOnly))
	}
	old := g.pinless.cur.Swap(a)
	res := PINLessReload{KeyLabel: cfg.HSM.InstitutionKeyLabel, Certificate: cfg.PINLess.Certificate,
		NotAfter: a.Certificate().NotAfter, PreviousNotAfter: old.Certificate().NotAfter}
	g.log.Warn("PIN-less credential renewed; taps from now on use it", "institution_key_label", res.KeyLabel,
		"not_after", res.NotAfter, "previous_not_after", res.PreviousNotAfter)
	if g.uplink != nil {
		g.uplink.RefreshStatus()
	}
	return res, nil
}

// institutionCert returns the institution certificate in force, nil on a gate
// without PIN-less.
func (g *Gate) institutionCert() *pinless.Certificate {
	if g.pinless == nil {
		return nil
	}
	return g.pinless.cur.Load().Certificate()
}

// ReloadOn renews the PIN-less credential at each signal on sig (SIGHUP, which
// systemctl reload sends) until ctx is done; the outcome is logged.
func (g *Gate) ReloadOn(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			if _, err := g.ReloadPINLess(); err != nil {
				g.log.Error("reload refused", "err", err, "hint", "fix the certificate or hsm.institution_key_label and reload again; gateagent doctor checks them")
			}
		}
	}
}

// reload is the control socket's reload operation.
func (g *Gate) reload(context.Context, []byte) (any, error) {
	res, err := g.ReloadPINLess()
	if err != nil {
		return nil, localapi.Refused(err)
	}
	return res, nil
}
