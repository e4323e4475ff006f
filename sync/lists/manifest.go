package lists

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mynagate/mynagate/offline/crl"
)

// Kind says whether a list version replaces the list or changes it.
type Kind string

// Kinds of list version.
const (
	Snapshot Kind = "snapshot"
	Delta    Kind = "delta"
)

// Format names the manifest and payload format.
const Format = "mynagate-list/1"

// Chunking limits. A manifest may pick any chunk size in range; the hub uses
// DefaultChunkSize, below every common broker's message limit.
const (
	DefaultChunkSize = 256 << 10
	MinChunkSize     = 1 << 10
	MaxChunkSize     = 1 << 20
	// MaxPayload bounds one list version, so that even a validly signed
	// manifest cannot make a gate hold unbounded memory.
	MaxPayload = 1 << 30
)

// sigDomain separates list signatures from anything else the hub key signs.
const sigDomain = "mynagate list manifest v1\n"

// Manifest describes one signed list version. It is published as an Envelope;
// the gate verifies the signature, then every chunk against Chunks, then the
// whole payload against SHA256, before applying anything.
type Manifest struct {
	Format string `json:"format"`
	// Site and List bind the manifest to where it may be applied, so that a
	// list for one site or one list name cannot be replayed as another.
	Site string `json:"site"`
	List string `json:"list"`
	Kind Kind   `json:"kind"`
	// Version rises with every published version of this list; Base is, for a
	// delta, the version it applies on (0 for a snapshot).
	Version uint64    `json:"version"`
	Base    uint64    `json:"base"`
	Created time.Time `json:"created"`
	// Expires is when the hub stops vouching for this version: a gate whose
	// clock (less its allowed skew) is past it refuses the version, and a gate
	// whose list in force passed it reports the list as expired. The hub
	// re-signs the retained manifests with a later Expires before it passes
	// (Renew). Zero only in manifests of hubs older than the field, which
	// gates refuse unless configured otherwise.
	Expires time.Time `json:"expires,omitzero"`
	// ChunkSize is the size of every chunk but the last; Size the payload's.
	ChunkSize int   `json:"chunk_size"`
	Size      int64 `json:"size"`
	// SHA256 is the payload's hash; Chunks the hash of each chunk, in order
	// (lower-case hex).
	SHA256 string   `json:"sha256"`
	Chunks []string `json:"chunks"`
	// Counts of each section, checked after decoding.
	Puts     int `json:"puts"`
	Deletes  int `json:"deletes"`
	Revoke   int `json:"revoke"`
	Unrevoke int `json:"unrevoke"`
	// CRLs describes the X.509 CRLs imported at the hub into this list's
	// revocation set (gatehub revoke import), one per issuing CA, as they
	// stood when this version was published: the gate records them as it
	// records a CRL it applied itself, so that its CRL health, metric and
	// revocation_stale policy work on a list fed by the hub. A snapshot
	// carries every CRL in force and replaces the gate's records; a delta
	// carries them too and renews the records it names. Absent (and the
	// manifest bytes unchanged) when no CRL was imported; a gate older than
	// the field refuses a manifest that carries it.
	CRLs []crl.Info `json:"crls,omitempty"`
}

// Bounds of the CRL records a manifest may carry.
const (
	maxCRLs        = 64
	maxIssuerBytes = 1024
	maxKeyIDBytes  = 64
)

// Envelope is the manifest message: the manifest's exact JSON bytes and an
// Ed25519 signature over sigDomain || those bytes.
type Envelope struct {
	Manifest  json.RawMessage `json:"manifest"`
	Signature string          `json:"signature"`
}

// check validates a manifest's fields and their consistency.
func (m *Manifest) check() error {
	switch {
	case m.Format != Format:
		return fmt.Errorf("format %q, want %q", m.Format, Format)
	case validName(m.Site) != nil:
		return fmt.Errorf("site %q: %w", m.Site, validName(m.Site))
	case validName(m.List) != nil:
		return fmt.Errorf("list %q: %w", m.List, validName(m.List))
	case m.Kind != Snapshot && m.Kind != Delta:
		return fmt.Errorf("kind %q is neither snapshot nor delta", m.Kind)
	case m.Version == 0:
		return errors.New("version 0")
	case m.Kind == Snapshot && m.Base != 0:
		return fmt.Errorf("snapshot with base %d", m.Base)
	case m.Kind == Delta && m.Base >= m.Version:
		return fmt.Errorf("delta base %d not below version %d", m.Base, m.Version)
	case m.ChunkSize < MinChunkSize || m.ChunkSize > MaxChunkSize:
		return fmt.Errorf("chunk size %d outside %d..%d", m.ChunkSize, MinChunkSize, MaxChunkSize)
	case m.Size < 0 || m.Size > MaxPayload:
		return fmt.Errorf("size %d outside 0..%d", m.Size, MaxPayload)
	case int64(len(m.Chunks)) != chunkCount(m.Size, m.ChunkSize):
		return fmt.Errorf("%d chunk hashes for %d bytes in %d-byte chunks", len(m.Chunks), m.Size, m.ChunkSize)
	case !m.Expires.IsZero() && !m.Expires.After(m.Created):
		return fmt.Errorf("expires %s not after created %s", m.Expires.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	case m.Puts < 0 || m.Deletes < 0 || m.Revoke < 0 || m.Unrevoke < 0:
		return errors.New("negative count")
	case m.Kind == Snapshot && (m.Deletes != 0 || m.Unrevoke != 0):
		return errors.New("snapshot with deletes or unrevocations")
	case len(m.CRLs) > maxCRLs:
		return fmt.Errorf("%d CRLs, at most %d", len(m.CRLs), maxCRLs)
	}
	seen := make(map[string]bool, len(m.CRLs))
	for i, c := range m.CRLs {
		if err := checkCRL(c); err != nil {
			return fmt.Errorf("CRL %d: %w", i, err)
		}
		id := string(c.IssuerKeyID)
		if seen[id] {
			return fmt.Errorf("CRL %d: a second CRL of issuer key id %X", i, c.IssuerKeyID)
		}
		seen[id] = true
	}
	if !isSHA256Hex(m.SHA256) {
		return fmt.Errorf("payload hash %q is not 64 hex digits", m.SHA256)
	}
	for i, h := range m.Chunks {
		if !isSHA256Hex(h) {
			return fmt.Errorf("chunk %d hash %q is not 64 hex digits", i, h)
		}
	}
	return nil
}

// checkCRL validates one CRL record of a manifest.
func checkCRL(c crl.Info) error {
	switch {
	case len(c.IssuerKeyID) == 0 || len(c.IssuerKeyID) > maxKeyIDBytes:
		return fmt.Errorf("issuer key id of %d bytes, want 1 to %d", len(c.IssuerKeyID), maxKeyIDBytes)
	case len(c.Issuer) > maxIssuerBytes || len(c.Number) > maxIssuerBytes:
		return fmt.Errorf("issuer or number longer than %d bytes", maxIssuerBytes)
	case c.ThisUpdate.IsZero() || c.NextUpdate.IsZero():
		return errors.New("this update or next update missing")
	case c.NextUpdate.Before(c.ThisUpdate):
		return fmt.Errorf("next update %s before this update %s", c.NextUpdate.Format(time.RFC3339), c.ThisUpdate.Format(time.RFC3339))
	case c.Entries < 0:
		return errors.New("negative entry count")
	}
	return nil
}

func chunkCount(size int64, chunk int) int64 {
	if size == 0 {
		return 1 // an empty list still has one (empty) chunk to carry it
	}
	return (size + int64(chunk) - 1) / int64(chunk)
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validName checks a site or list name used as one topic level.
func validName(s string) error {
	switch {
	case s == "" || len(s) > 64:
		return errors.New("must be 1 to 64 bytes")
	case strings.ContainsAny(s, "/+#\x00"):
		return errors.New("must not contain '/', '+', '#' or NUL")
	}
	return nil
}

// ErrSignature means a manifest's signature does not verify with any pinned key.
var ErrSignature = errors.New("signature does not verify with the pinned hub key")

// ParseManifest decodes an Envelope, verifies its signature with one of the
// pinned keys and checks the manifest. Nothing in an unverified manifest is
// trusted: the signature is checked before the manifest is decoded.
func ParseManifest(b []byte, keys []ed25519.PublicKey) (*Manifest, error) {
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("lists: manifest envelope: %w", err)
	}
	if dec.More() {
		return nil, errors.New("lists: manifest envelope: trailing data")
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("lists: manifest: %w (malformed signature)", ErrSignature)
	}
	msg := append([]byte(sigDomain), env.Manifest...)
	ok := false
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("lists: manifest: %w", ErrSignature)
	}
	var m Manifest
	dec = json.NewDecoder(bytes.NewReader(env.Manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("lists: manifest: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("lists: manifest: %w", err)
	}
	return &m, nil
}

// Signed is one list version ready to publish: the manifest message and the
// chunk messages.
type Signed struct {
	Manifest *Manifest
	Envelope []byte
	Chunks   [][]byte
}

// Build chunks payload and signs the manifest. m supplies Site, List, Kind,
// Version, Base, Created and the section counts; Build fills in the rest.
// chunkSize 0 means DefaultChunkSize. key is the hub's Ed25519 signing key: an
// ed25519.PrivateKey (demo file keys) or a signer whose private half stays in a
// token (hub keys in an HSM); see Sign.
func Build(key crypto.Signer, m Manifest, payload []byte, chunkSize int) (*Signed, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	m.Format = Format
	m.ChunkSize = chunkSize
	m.Size = int64(len(payload))
	sum := sha256.Sum256(payload)
	m.SHA256 = hex.EncodeToString(sum[:])
	m.Chunks = nil
	var chunks [][]byte
	for i := int64(0); i < chunkCount(m.Size, chunkSize); i++ {
		lo := i * int64(chunkSize)
		hi := min(lo+int64(chunkSize), m.Size)
		data := payload[lo:hi]
		h := sha256.Sum256(data)
		m.Chunks = append(m.Chunks, hex.EncodeToString(h[:]))
		chunks = append(chunks, encodeChunk(m.Kind, m.Version, uint32(i), data))
	}
	env, err := Sign(key, &m)
	if err != nil {
		return nil, fmt.Errorf("lists: build: %w", err)
	}
	return &Signed{Manifest: &m, Envelope: env, Chunks: chunks}, nil
}

// Sign checks m and returns its signed Envelope message. Build uses it for a
// new version; the hub uses it alone to renew a retained version's expiry
// (same version and chunks, a later Expires).
//
// key must be an Ed25519 key (its Public an ed25519.PublicKey) signing pure
// Ed25519 (crypto.Hash(0)), so that the wire format and the gates stay the
// same whatever holds the key. Every signature is checked against the public
// key before it leaves: a token that signed wrongly fails here, not at every
// gate.
func Sign(key crypto.Signer, m *Manifest) ([]byte, error) {
	pub, err := PublicKeyOf(key)
	if err != nil {
		return nil, fmt.Errorf("lists: sign: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("lists: sign %s %s v%d: %w", m.List, m.Kind, m.Version, err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("lists: sign: encode manifest: %w", err)
	}
	msg := append([]byte(sigDomain), raw...)
	sig, err := key.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("lists: sign %s %s v%d: %w", m.List, m.Kind, m.Version, err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return nil, fmt.Errorf("lists: sign %s %s v%d: the signing key returned a signature that does not verify with its public key; check the token (gatehub hsm init prints the key it holds)", m.List, m.Kind, m.Version)
	}
	env, err := json.Marshal(Envelope{Manifest: raw, Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return nil, fmt.Errorf("lists: sign: encode envelope: %w", err)
	}
	return env, nil
}

// chunkMagic opens a chunk message:
//
//	"MGLC" kind(1: 's' or 'd') version(uint64 BE) index(uint32 BE) data
//
// The header only routes the chunk; its data is trusted only once its hash
// matches the signed manifest's.
const chunkMagic = "MGLC"

const chunkHeader = len(chunkMagic) + 1 + 8 + 4

// Chunk is a parsed chunk message.
type Chunk struct {
	Kind    Kind
	Version uint64
	Index   uint32
	Data    []byte
}

func encodeChunk(k Kind, version uint64, index uint32, data []byte) []byte {
	b := make([]byte, 0, chunkHeader+len(data))
	b = append(b, chunkMagic...)
	b = append(b, k[0])
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint32(b, index)
	return append(b, data...)
}

// ParseChunk parses a chunk message. Data aliases b.
func ParseChunk(b []byte) (Chunk, error) {
	if len(b) < chunkHeader || string(b[:4]) != chunkMagic {
		return Chunk{}, errors.New("lists: chunk: bad header")
	}
	var c Chunk
	switch b[4] {
	case 's':
		c.Kind = Snapshot
	case 'd':
		c.Kind = Delta
	default:
		return Chunk{}, fmt.Errorf("lists: chunk: unknown kind %q", b[4])
	}
	c.Version = binary.BigEndian.Uint64(b[5:13])
	c.Index = binary.BigEndian.Uint32(b[13:17])
	c.Data = b[chunkHeader:]
	if len(c.Data) > MaxChunkSize {
		return Chunk{}, fmt.Errorf("lists: chunk: %d bytes of data, at most %d", len(c.Data), MaxChunkSize)
	}
	return c, nil
}
