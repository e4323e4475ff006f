package hsm

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/miekg/pkcs11"
)

// DefaultHubSigningKeyLabel is the default label of the hub's Ed25519
// list-signing key.
const DefaultHubSigningKeyLabel = "mynagate-hub-signing"

// PKCS#11 3.0 Ed25519 identifiers, which miekg/pkcs11 v1.1.2 does not name
// (SoftHSM2 2.6 implements them).
const (
	ckkECEdwards           = 0x40
	ckmECEdwardsKeyPairGen = 0x1055
	ckmEdDSA               = 0x1057
)

// ed25519Params is CKA_EC_PARAMS for Ed25519: the DER of OID 1.3.101.112.
var ed25519Params = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}

// rawToken is a PKCS#11 session of this process's own on the token crypto11
// opened, for what crypto11 cannot do (Ed25519, importing a secret). The
// module is shared with crypto11: it is never finalised here, and the login
// crypto11 made holds for this session too (PKCS#11 logs in per process).
// One session, used under mu: the hub signs a handful of manifests at a time.
type rawToken struct {
	mu   sync.Mutex
	cfg  Config
	p    *pkcs11.Ctx
	sess pkcs11.SessionHandle
	open bool
}

// do runs fn on the session, opening it first if needed. When the session was
// lost (token unplugged and back, module restarted), it opens a new one and
// tries once more.
func (r *rawToken) do(fn func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for try := 0; ; try++ {
		if err := r.ensure(); err != nil {
			return err
		}
		err := fn(r.p, r.sess)
		if try > 0 || !sessionLost(err) {
			return err
		}
		r.closeSession()
	}
}

func sessionLost(err error) bool {
	for _, code := range []uint{pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_USER_NOT_LOGGED_IN} {
		if errors.Is(err, pkcs11.Error(code)) {
			return true
		}
	}
	return false
}

func (r *rawToken) ensure() error {
	if r.open {
		return nil
	}
	if r.p == nil {
		p := pkcs11.New(r.cfg.Module)
		if p == nil {
			return fmt.Errorf("cannot load %s", r.cfg.Module)
		}
		r.p = p
	}
	if err := r.p.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return fmt.Errorf("initialise module: %w", err)
	}
	slot, err := findSlot(r.p, r.cfg.TokenLabel)
	if err != nil {
		return err
	}
	sess, err := r.p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	pin, err := ReadPINFile(r.cfg.PINFile)
	if err != nil {
		r.p.CloseSession(sess)
		return err
	}
	if err := r.p.Login(sess, pkcs11.CKU_USER, pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		r.p.CloseSession(sess)
		return fmt.Errorf("log in: %w", err)
	}
	r.sess, r.open = sess, true
	return nil
}

func (r *rawToken) closeSession() {
	if r.open {
		_ = r.p.CloseSession(r.sess)
		r.open = false
	}
}

// close ends the session and drops this handle on the module (crypto11 keeps
// its own until HSM.Close).
func (r *rawToken) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeSession()
	if r.p != nil {
		r.p.Destroy()
		r.p = nil
	}
}

// token returns the HSM's own session, made on first use.
func (h *HSM) token() *rawToken {
	h.rawOnce.Do(func() { h.raw = &rawToken{cfg: h.cfg} })
	return h.raw
}

// findObjects returns the handles of the objects matching tmpl.
func findObjects(p *pkcs11.Ctx, s pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := p.FindObjectsInit(s, tmpl); err != nil {
		return nil, err
	}
	objs, _, err := p.FindObjects(s, 8)
	if ferr := p.FindObjectsFinal(s); err == nil {
		err = ferr
	}
	return objs, err
}

func labelled(class uint, label string) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
}

// InitEd25519Key creates a new Ed25519 key pair labelled label in the token
// (CKM_EC_EDWARDS_KEY_PAIR_GEN), its private half sensitive and
// non-extractable, and returns the public key. It is the hub's list-signing
// key: gates pin the public key and verify with plain Ed25519. It refuses a
// label in use.
func (h *HSM) InitEd25519Key(label string) (ed25519.PublicKey, error) {
	if label == "" {
		return nil, errors.New("hsm: init Ed25519 key: empty label")
	}
	err := h.token().do(func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
			objs, err := findObjects(p, s, labelled(class, label))
			if err != nil {
				return fmt.Errorf("look for an existing key: %w", err)
			}
			if len(objs) > 0 {
				return fmt.Errorf("a key labelled %q already exists in token %q; use it, or delete it with pkcs11-tool first if it must be replaced (gates pinning it then refuse new lists)", label, h.cfg.TokenLabel)
			}
		}
		pub := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519Params),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		}
		priv := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		}
		if _, _, err := p.GenerateKeyPair(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}, pub, priv); err != nil {
			return fmt.Errorf("generate in token: %w; the token must support CKM_EC_EDWARDS_KEY_PAIR_GEN (SoftHSM2 2.6 does)", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: init Ed25519 key %q: %w", label, err)
	}
	slog.Info("hsm: Ed25519 key created", "label", label, "token", h.cfg.TokenLabel)
	return h.ed25519Public(label)
}

// ed25519Public reads the public half of the Ed25519 key labelled label.
func (h *HSM) ed25519Public(label string) (ed25519.PublicKey, error) {
	var pub ed25519.PublicKey
	err := h.token().do(func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		objs, err := findObjects(p, s, append(labelled(pkcs11.CKO_PUBLIC_KEY, label), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards)))
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			return fmt.Errorf("not found in token %q; create it with gatehub hsm init", h.cfg.TokenLabel)
		}
		attrs, err := p.GetAttributeValue(s, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			return fmt.Errorf("read public key: %w", err)
		}
		pub, err = edPoint(attrs[0].Value)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: Ed25519 key %q: %w", label, err)
	}
	return pub, nil
}

// edPoint decodes CKA_EC_POINT of an Ed25519 key: the 32-byte key in a DER
// OCTET STRING (PKCS#11 3.0), or bare, as some tokens store it.
func edPoint(v []byte) (ed25519.PublicKey, error) {
	switch {
	case len(v) == ed25519.PublicKeySize:
		return ed25519.PublicKey(v), nil
	case len(v) == ed25519.PublicKeySize+2 && v[0] == 0x04 && v[1] == ed25519.PublicKeySize:
		return ed25519.PublicKey(v[2:]), nil
	}
	return nil, fmt.Errorf("public key point of %d bytes is not an Ed25519 key", len(v))
}

// edSigner signs with an Ed25519 private key that stays in the token.
type edSigner struct {
	tok   *rawToken
	label string
	pub   ed25519.PublicKey
}

// Ed25519Signer returns the Ed25519 key labelled label as a crypto.Signer
// whose private half stays in the token. It signs pure Ed25519 (opts
// crypto.Hash(0)), the same signatures as ed25519.Sign, and is safe for
// concurrent use (one signature at a time). It is valid until the HSM is
// closed.
func (h *HSM) Ed25519Signer(label string) (crypto.Signer, error) {
	pub, err := h.ed25519Public(label)
	if err != nil {
		return nil, err
	}
	return &edSigner{tok: h.token(), label: label, pub: pub}, nil
}

// Public implements crypto.Signer.
func (e *edSigner) Public() crypto.PublicKey { return e.pub }

// Sign implements crypto.Signer: pure Ed25519 over msg, in the token.
func (e *edSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, fmt.Errorf("hsm: Ed25519 key %q signs pure Ed25519 only, not with %v", e.label, opts.HashFunc())
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, fmt.Errorf("hsm: Ed25519 key %q signs without a context only", e.label)
	}
	var sig []byte
	err := e.tok.do(func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		objs, err := findObjects(p, s, append(labelled(pkcs11.CKO_PRIVATE_KEY, e.label), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards)))
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			return errors.New("private key not found in token")
		}
		if err := p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, objs[0]); err != nil {
			return fmt.Errorf("start signing: %w", err)
		}
		sig, err = p.Sign(s, msg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: sign with Ed25519 key %q: %w; is the token still attached?", e.label, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("hsm: sign with Ed25519 key %q: token returned %d bytes, want %d", e.label, len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}
