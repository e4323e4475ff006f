package main

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm"
)

func init() {
	register("hsm init", "create the institution key and the card-key secret in the HSM (non-extractable)", hsmInitCmd)
	register("hsm status", "show the HSM token and whether the gate's keys are in it", hsmStatusCmd)
}

// hsmFlags are the flags that select and unlock a token; whitelist commands
// use them too. The PIN is only ever read from a file.
type hsmFlags struct {
	module, token, pinFile string
	maxSessions            int
	cardKeyLabel           string
}

func addHSMFlags(fs *flag.FlagSet) *hsmFlags {
	f := &hsmFlags{}
	fs.StringVar(&f.module, "hsm-module", hsm.SoftHSMModule, "PKCS#11 module of the HSM")
	fs.StringVar(&f.token, "hsm-token", "", "HSM token label")
	fs.StringVar(&f.pinFile, "hsm-pin-file", "", "file holding the token PIN (mode 0600, owned by the service user)")
	fs.IntVar(&f.maxSessions, "hsm-max-sessions", 4, "PKCS#11 sessions to open at most (at least 2)")
	fs.StringVar(&f.cardKeyLabel, "hsm-cardkey-label", hsm.DefaultCardKeyLabel, "label of the card-key secret in the token")
	return f
}

func (f *hsmFlags) config() hsm.Config {
	return hsm.Config{Module: f.module, TokenLabel: f.token, PINFile: f.pinFile, MaxSessions: f.maxSessions}
}

func (f *hsmFlags) open() (*hsm.HSM, error) {
	if f.token == "" {
		return nil, errors.New("--hsm-token is required (the token label; softhsm2-util --show-slots lists them)")
	}
	return hsm.Open(f.config())
}

// keyer returns the card keyer chosen by the flags: the HSM when --hsm-token
// is set, else the demo secret file. The returned close func releases the HSM.
func (f *hsmFlags) keyer(secretFile string) (cardkey.Keyer, func(), error) {
	switch {
	case f.token != "" && secretFile != "":
		return nil, nil, errors.New("give either --secret-file or --hsm-token, not both")
	case secretFile != "":
		k, err := cardkey.LoadSecretFile(secretFile)
		return k, func() {}, err
	case f.token != "":
		h, err := f.open()
		if err != nil {
			return nil, nil, err
		}
		k, err := h.CardKeyer(f.cardKeyLabel)
		if err != nil {
			h.Close()
			return nil, nil, err
		}
		return k, func() { h.Close() }, nil
	}
	return nil, nil, errors.New("no card-key secret: give --hsm-token (with --hsm-pin-file) or, for demos only, --secret-file")
}

// hsmKeyResult is one line of hsm init's output.
type hsmKeyResult struct {
	Key       string `json:"key"`
	Label     string `json:"label"`
	Action    string `json:"action"`
	PublicKey string `json:"public_key_pem,omitempty"`
	CSR       string `json:"csr_pem,omitempty"`
}

func hsmInitCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent hsm init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hf := addHSMFlags(fs)
	instLabel := fs.String("institution-label", hsm.DefaultInstitutionKeyLabel, "label of the institution key pair")
	importSecret := fs.String("import-secret", "", "import the hub's card-key secret from this hand-over file (64 hex digits or 32 bytes; delete it afterwards)")
	genSecret := fs.Bool("generate-secret", false, "generate a card-key secret in the token (only for a gate that enrols its own cards)")
	csrCN := fs.String("csr-cn", "", "also print a certificate request for the institution key with this common name")
	csrOrg := fs.String("csr-org", "", "organisation for the certificate request")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *importSecret != "" && *genSecret {
		return errors.New("give --import-secret or --generate-secret, not both")
	}
	h, err := hf.open()
	if err != nil {
		return err
	}
	defer h.Close()
	st, err := h.Status(*instLabel, hf.cardKeyLabel)
	if err != nil {
		return err
	}
	out := printer{w: stdout, json: *asJSON}

	inst := hsmKeyResult{Key: "institution", Label: *instLabel, Action: "exists"}
	var pub crypto.PublicKey
	if st.Keys[0].Found {
		signer, err := h.InstitutionSigner(*instLabel)
		if err != nil {
			return err
		}
		pub = signer.Public()
	} else {
		if pub, err = h.InitInstitutionKey(*instLabel); err != nil {
			return err
		}
		inst.Action = "created"
	}
	p, err := hsm.PublicKeyPEM(pub)
	if err != nil {
		return err
	}
	inst.PublicKey = string(p)
	if *csrCN != "" {
		subj := pkix.Name{CommonName: *csrCN}
		if *csrOrg != "" {
			subj.Organization = []string{*csrOrg}
		}
		csr, err := h.CSR(*instLabel, subj)
		if err != nil {
			return err
		}
		inst.CSR = string(csr)
	}
	text := fmt.Sprintf("institution key %q: %s (ECDSA P-256, non-extractable)\n%s%s", inst.Label, inst.Action, inst.PublicKey, inst.CSR)
	if err := out.emit(inst, strings.TrimSuffix(text, "\n")); err != nil {
		return err
	}

	ck := hsmKeyResult{Key: "cardkey", Label: hf.cardKeyLabel, Action: "exists"}
	switch {
	case st.Keys[1].Found && (*importSecret != "" || *genSecret):
		return fmt.Errorf("card-key secret %q already in the token; nothing imported or generated", hf.cardKeyLabel)
	case st.Keys[1].Found:
	case *importSecret != "":
		b, err := os.ReadFile(*importSecret)
		if err != nil {
			return fmt.Errorf("read hand-over secret: %w", err)
		}
		secret, err := cardkey.DecodeSecret(b)
		if err != nil {
			return fmt.Errorf("hand-over secret %s: %w", *importSecret, err)
		}
		if err := h.ImportCardKeySecret(hf.cardKeyLabel, secret); err != nil {
			return err
		}
		ck.Action = "imported"
	case *genSecret:
		if err := h.InitCardKeySecret(hf.cardKeyLabel); err != nil {
			return err
		}
		ck.Action = "generated"
	default:
		ck.Action = "missing"
	}
	text = fmt.Sprintf("card-key secret %q: %s", ck.Label, ck.Action)
	if ck.Action == "missing" {
		text += " (import the hub's with --import-secret FILE)"
	}
	return out.emit(ck, text)
}

func hsmStatusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent hsm status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hf := addHSMFlags(fs)
	instLabel := fs.String("institution-label", hsm.DefaultInstitutionKeyLabel, "label of the institution key pair")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h, err := hf.open()
	if err != nil {
		return err
	}
	defer h.Close()
	st, err := h.Status(*instLabel, hf.cardKeyLabel)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "token %q via %s (max %d sessions): present", st.TokenLabel, st.Module, st.MaxSessions)
	for _, k := range st.Keys {
		switch {
		case !k.Found:
			fmt.Fprintf(&b, "\n  %-24s MISSING (gateagent hsm init)", k.Label)
		case !k.Sensitive || k.Extractable:
			fmt.Fprintf(&b, "\n  %-24s %s, EXTRACTABLE: recreate it with gateagent hsm init", k.Label, k.Type)
		default:
			fmt.Fprintf(&b, "\n  %-24s %s, non-extractable: ok", k.Label, k.Type)
		}
	}
	return printer{w: stdout, json: *asJSON}.emit(st, b.String())
}
