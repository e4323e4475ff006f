package vcard

import (
	"bytes"
	"crypto"
	"crypto/rsa"
)

// selectFile handles SELECT by DF name (the JPKI AID) and by EF identifier,
// both with P2 0C (no FCI returned), as the JPKI applet requires.
func (c *Card) selectFile(cmd command) []byte {
	switch cmd.p1 {
	case 0x04:
		if c.label == "" || !bytes.Equal(cmd.data, AID) {
			return sw(swNotFound)
		}
		if cmd.p2 != 0x0C {
			return sw(swWrongP1P2)
		}
		c.resetLocked()
		c.apSelected = true
		return sw(swOK)
	case 0x02:
		if cmd.p2 != 0x0C {
			return sw(swWrongP1P2)
		}
		if len(cmd.data) != 2 {
			return sw(swWrongLength)
		}
		fid := uint16(cmd.data[0])<<8 | uint16(cmd.data[1])
		if _, ok := c.files[fid]; !ok || !c.apSelected {
			return sw(swNotFound)
		}
		c.current = fid
		return sw(swOK)
	}
	return sw(swWrongP1P2)
}

// readable reports whether READ BINARY may return fid's content, or the status
// word that refuses it.
func readable(fid uint16) (bool, uint16) {
	switch fid {
	case EFTokenInfo, EFAuthCert, EFAuthCA, EFSignCA, EFPINlessAuthority:
		return true, swOK
	case EFSignCert:
		return false, swSecurity // needs the signature password
	}
	return false, swIncompatible
}

// readBinary handles READ BINARY with a 15-bit offset in P1-P2, or with a short
// EF identifier (P1 = 80 | SFI, offset in P2) that also selects the file.
func (c *Card) readBinary(cmd command) []byte {
	if len(cmd.data) != 0 || cmd.ne == 0 {
		return sw(swWrongLength)
	}
	fid, off := c.current, int(cmd.p1)<<8|int(cmd.p2)
	if cmd.p1&0x80 != 0 {
		if cmd.p1&0x60 != 0 {
			return sw(swWrongP1P2)
		}
		fid, off = uint16(cmd.p1&0x1F), int(cmd.p2)
		if _, ok := c.files[fid]; !ok || !c.apSelected {
			return sw(swNotFound)
		}
		c.current = fid
	}
	if fid == 0 {
		return sw(swConditions)
	}
	if ok, refusal := readable(fid); !ok {
		return sw(refusal)
	}
	if fid == EFAuthCert && c.label == LabelAndroid && !c.verified {
		return sw(swSecurity) // the phone token guards its certificate with the PIN
	}
	f := c.files[fid]
	if off >= len(f) {
		return sw(swWrongOffset)
	}
	end := min(len(f), off+cmd.ne)
	return append(append([]byte{}, f[off:end]...), sw(swOK)...)
}

// verify handles VERIFY against the PIN file selected before it: with no data
// it reports the retry counter as 63Cx, with data it checks the PIN.
func (c *Card) verify(cmd command) []byte {
	if cmd.p1 != 0x00 || cmd.p2 != 0x80 {
		return sw(swWrongP1P2)
	}
	switch c.current {
	case EFAuthPIN:
	case EFSignPIN:
		if len(cmd.data) == 0 {
			return sw(swTriesLeft | signPINTries)
		}
		return sw(swFuncUnsupported)
	default:
		return sw(swConditions)
	}
	if len(cmd.data) == 0 {
		return sw(swTriesLeft | uint16(c.tries))
	}
	if len(cmd.data) != 4 {
		return sw(swWrongLength)
	}
	if c.tries == 0 {
		return sw(swBlocked)
	}
	if string(cmd.data) != c.pin {
		c.tries--
		c.verified = false
		return sw(swTriesLeft | uint16(c.tries))
	}
	c.tries = c.maxTries
	c.verified = true
	return sw(swOK)
}

// maxDigestInfo is the longest input RSA-2048 PKCS#1 v1.5 padding accepts.
const maxDigestInfo = 256 - 11

// sign handles COMPUTE DIGITAL SIGNATURE (80 2A 00 80) with the key EF selected:
// the card pads the DigestInfo it receives (PKCS#1 v1.5, type 1) and signs it.
func (c *Card) sign(cmd command) []byte {
	if cmd.p1 != 0x00 || cmd.p2 != 0x80 {
		return sw(swWrongP1P2)
	}
	switch c.current {
	case EFAuthKey:
	case EFSignKey:
		return sw(swSecurity)
	default:
		return sw(swConditions)
	}
	if !c.verified {
		return sw(swSecurity)
	}
	return c.signRaw(cmd.data)
}

// signRaw pads and signs data with the user-authentication key.
func (c *Card) signRaw(data []byte) []byte {
	if len(data) == 0 || len(data) > maxDigestInfo {
		return sw(swWrongLength)
	}
	sig, err := rsa.SignPKCS1v15(nil, c.key, crypto.Hash(0), data)
	if err != nil {
		return sw(swWrongData)
	}
	return append(sig, sw(swOK)...)
}
