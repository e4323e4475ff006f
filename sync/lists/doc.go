// Package lists carries signed whitelists and revocation lists from the hub to
// the gates over MQTT.
//
// A list version is a payload (EncodePayload: whitelist records by card key,
// deletes, revocations) cut into chunks (DefaultChunkSize, below any broker's
// message limit) and a manifest that names the site, list, kind (snapshot or
// delta), version, base version, chunk count and the SHA-256 of every chunk and
// of the whole payload, signed with the hub's Ed25519 key. Topics:
//
//	{prefix}/{site}/lists/{list}/snapshot                manifest of the latest snapshot
//	{prefix}/{site}/lists/{list}/snapshot/{i}            its chunk i
//	{prefix}/{site}/lists/{list}/delta/{version}         manifest of a delta
//	{prefix}/{site}/lists/{list}/delta/{version}/{i}     its chunk i
//
// All are retained, and the hub clears retained deltas at or below each new
// snapshot: a gate that (re)subscribes gets the latest snapshot and the
// deltas after it, so it reaches the latest version with no gap.
//
// A gate (Receiver) verifies the manifest against its pinned key, each chunk
// against the manifest and the whole payload against its hash before one byte
// is applied, then applies atomically through its store (Applier). Versions at
// or below the one in force are refused (replay); a delta whose base is not the
// version in force is held and the retained snapshot is requested again. Every
// refusal logs one line and leaves the previous list in force.
//
// A list whose payload is not whitelist records, such as the hub's
// configuration document ("config", see sync/gateconfig), is a raw list: it
// travels the same way, snapshots only, and the receiver hands its payload
// bytes to a RawApplier once the whole version verified.
package lists
