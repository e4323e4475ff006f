package pinless

import "io"

// SetRand replaces where a draws terminal nonces, so that the published test
// vectors can be replayed.
func SetRand(a *Authenticator, r io.Reader) { a.rand = r }
