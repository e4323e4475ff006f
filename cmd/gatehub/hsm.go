package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/sync/lists"
)

// hsmKeyResult is one line of hsm init's output.
type hsmKeyResult struct {
	Key       string `json:"key"`
	Label     string `json:"label"`
	Action    string `json:"action"`
	PublicKey string `json:"public_key_pem,omitempty"`
}

func cmdHSMInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehub hsm init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "/etc/mynagate/gatehub.json", "hub configuration file, with an \"hsm\" section")
	importSecret := fs.String("import-secret", "", "import the card-key secret from this file (64 hex digits or 32 bytes; the demo hub's cardkey.secret keeps the gates' card keys valid); delete it afterwards")
	importNext := fs.String("import-next-secret", "", "during a card-key rotation: import the next card-key secret from this file into hsm.next_card_key_label; delete it once the gates have it too")
	pubOut := fs.String("public-out", "", "also write the signing key's public key (PEM) to this file, for gatehub gate add and the gates")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := hub.LoadConfig(*config)
	if err != nil {
		return err
	}
	if cfg.HSM == nil {
		return fmt.Errorf(`%s has no "hsm" section: add one naming the token (module, token_label, pin_file; README "Hub keys in an HSM") and remove signing_key, card_key_secret and demo_file_keys`, *config)
	}
	var secret []byte
	if *importSecret != "" {
		b, err := os.ReadFile(*importSecret)
		if err != nil {
			return fmt.Errorf("read the card-key secret to import: %w", err)
		}
		if secret, err = cardkey.DecodeSecret(b); err != nil {
			return fmt.Errorf("card-key secret %s: %w", *importSecret, err)
		}
	}
	var nextSecret []byte
	if *importNext != "" {
		if cfg.HSM.NextCardKeyLabel == "" {
			return fmt.Errorf("--import-next-secret: set hsm.next_card_key_label in %s first (e.g. mynagate-cardkey-2; README \"Rotating the card-key secret\")", *config)
		}
		b, err := os.ReadFile(*importNext)
		if err != nil {
			return fmt.Errorf("read the next card-key secret to import: %w", err)
		}
		if nextSecret, err = cardkey.DecodeSecret(b); err != nil {
			return fmt.Errorf("next card-key secret %s: %w", *importNext, err)
		}
	}
	h, err := hsm.Open(cfg.HSM.Token())
	if err != nil {
		return err
	}
	defer h.Close()
	emit := func(r hsmKeyResult, text string) error {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(r)
		}
		_, err := fmt.Fprintln(stdout, text)
		return err
	}

	sign := hsmKeyResult{Key: "signing", Label: cfg.HSM.SigningKeyLabel, Action: "exists"}
	var pub ed25519.PublicKey
	if signer, ferr := h.Ed25519Signer(sign.Label); ferr == nil {
		pub, _ = lists.PublicKeyOf(signer) // Ed25519Signer holds Ed25519 keys only
	} else {
		if pub, err = h.InitEd25519Key(sign.Label); err != nil {
			return fmt.Errorf("%w (looked for it first: %v)", err, ferr)
		}
		sign.Action = "created"
	}
	p, err := lists.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	sign.PublicKey = string(p)
	if *pubOut != "" {
		if err := os.WriteFile(*pubOut, p, 0o644); err != nil {
			return fmt.Errorf("write public key: %w", err)
		}
	}
	if err := emit(sign, fmt.Sprintf("list-signing key %q: %s (Ed25519, non-extractable, in token %q); every gate pins this public key:\n%s",
		sign.Label, sign.Action, cfg.HSM.TokenLabel, sign.PublicKey)); err != nil {
		return err
	}

	ck := hsmKeyResult{Key: "cardkey", Label: cfg.HSM.CardKeyLabel, Action: "exists"}
	_, ferr := h.CardKeyer(ck.Label)
	switch {
	case ferr == nil && secret != nil:
		return fmt.Errorf("card-key secret %q already in the token; nothing imported", ck.Label)
	case ferr == nil:
	case secret != nil:
		if err := h.ImportCardKeySecret(ck.Label, secret); err != nil {
			return err
		}
		ck.Action = "imported"
	default:
		ck.Action = "missing"
	}
	text := fmt.Sprintf("card-key secret %q: %s", ck.Label, ck.Action)
	switch ck.Action {
	case "missing":
		text += " (import it with --import-secret FILE: the gates import the same file, since a secret made in the token could never reach them)"
	case "imported":
		text += fmt.Sprintf("; the gates' card keys stay valid. Delete %s and every other copy of it now", *importSecret)
	}
	if err := emit(ck, text); err != nil {
		return err
	}
	if cfg.HSM.NextCardKeyLabel == "" {
		return nil
	}
	next := hsmKeyResult{Key: "next_cardkey", Label: cfg.HSM.NextCardKeyLabel, Action: "exists"}
	_, ferr = h.CardKeyer(next.Label)
	switch {
	case ferr == nil && nextSecret != nil:
		return fmt.Errorf("next card-key secret %q already in the token; nothing imported", next.Label)
	case ferr == nil:
	case nextSecret != nil:
		if err := h.ImportCardKeySecret(next.Label, nextSecret); err != nil {
			return err
		}
		next.Action = "imported"
	default:
		next.Action = "missing"
	}
	text = fmt.Sprintf("next card-key secret %q: %s", next.Label, next.Action)
	if next.Action == "missing" {
		text += " (import it with --import-next-secret FILE, the file the gates import too)"
	}
	return emit(next, text)
}
