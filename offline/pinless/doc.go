// Package pinless is the terminal side of MynaGate's PIN-less reference
// protocol (docs/pinless.md): a 特定機関 terminal proves itself to the card with
// its institution certificate and HSM key, and the card then signs the
// terminal's nonce, its own challenge and the institution code with its
// user-authentication key, without the holder's PIN.
//
// The official J-LIS procedure is not public; Authenticator is the one place
// that would change when it is.
package pinless
