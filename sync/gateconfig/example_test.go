package gateconfig_test

import (
	"crypto/ed25519"
	"log/slog"

	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
)

// A gate keeps the hub's config beside its whitelist and registers the store
// as the config list's raw applier.
func Example_gate() {
	var (
		dir       = "/var/lib/mynagate"
		hubKey    ed25519.PublicKey
		whitelist lists.Applier
		log       = slog.Default()
	)
	cfg, err := gateconfig.Open(dir+"/hubconfig.json", gateconfig.Options{Logger: log,
		OnChange: func(d gateconfig.Doc) { /* update the agent: emergency, policy */ }})
	if err != nil {
		log.Error("hub config", "err", err)
		return
	}
	if doc, version := cfg.Current(); version > 0 {
		_ = doc // in force since before the restart: apply it before serving taps
	}
	_, err = lists.NewReceiver(lists.ReceiverConfig{Prefix: "mynagate/v1", Site: "shelter-3", Keys: []ed25519.PublicKey{hubKey},
		Lists: map[string]lists.Applier{"whitelist": whitelist},
		Raw:   map[string]lists.RawApplier{gateconfig.List: cfg}})
	if err != nil {
		log.Error("lists", "err", err)
	}
}
