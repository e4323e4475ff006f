// Package mqttsub subscribes a paho client to a set of filters and keeps
// trying the ones the broker refuses.
//
// A refused subscription is easy to miss: paho completes the token without an
// error and reports the refusal only as a return code in the SUBACK. And
// brokers refuse for passing reasons: the embedded broker (mochi-mqtt v2.7.9)
// keeps one packet-id table for both directions, so a SUBSCRIBE whose id
// equals that of a retained or queued message it is still sending to the
// same client is refused as "packet identifier in use" (0x91). A gate that
// asked for its lists and then for its peers' events got the lists and
// silently never the events. Subscribe retries each refused filter until the broker grants
// it or the connection ends.
package mqttsub

import (
	"log/slog"
	"maps"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// maxGranted is the highest SUBACK return code that grants a subscription
// (QoS 0, 1 or 2). MQTT 3.1.1 refuses with 0x80; mochi-mqtt answers its
// packet-id clash with MQTT 5's 0x91 even to a 3.1.1 client.
const maxGranted = 2

// Options tunes Subscribe. The zero value is valid.
type Options struct {
	// Logger receives a line per refusal or failure; nil discards them.
	Logger *slog.Logger
	// Retry is the first wait before a refused filter is asked for again
	// (default 200 ms); it doubles up to MaxRetry (default 30 s).
	Retry, MaxRetry time.Duration
	// Wait bounds the wait for one SUBACK (default 30 s).
	Wait time.Duration
}

// Subscribe subscribes c to filters at QoS 1 in one SUBSCRIBE, without
// callbacks (route messages with AddRoute before connecting, so that messages
// the broker sends before the SUBACK are handled too), and asks again for the
// filters the broker refuses until it grants them or c is no longer
// connected. It reports whether every filter was granted; it blocks, so call
// it from a goroutine of its own.
func Subscribe(c mqtt.Client, filters []string, opt Options) bool {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Retry <= 0 {
		opt.Retry = 200 * time.Millisecond
	}
	if opt.MaxRetry <= 0 {
		opt.MaxRetry = 30 * time.Second
	}
	if opt.Wait <= 0 {
		opt.Wait = 30 * time.Second
	}
	want := map[string]byte{}
	for _, f := range filters {
		want[f] = 1
	}
	wait := opt.Retry
	for attempt := 1; ; attempt++ {
		if !c.IsConnectionOpen() {
			return false
		}
		tok := c.SubscribeMultiple(want, nil)
		if !tok.WaitTimeout(opt.Wait) {
			log.Warn("mqttsub: subscribe not acknowledged; asked again at the next connect", "filters", slices.Sorted(maps.Keys(want)))
			return false
		}
		if err := tok.Error(); err != nil {
			log.Warn("mqttsub: subscribe failed; asked again at the next connect", "filters", slices.Sorted(maps.Keys(want)), "err", err)
			return false
		}
		granted := tok.(*mqtt.SubscribeToken).Result()
		for f := range want {
			if code, ok := granted[f]; ok && code <= maxGranted {
				delete(want, f)
			}
		}
		if len(want) == 0 {
			return true
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("mqttsub: the broker refused a subscription; asking again (a broker ACL, or a broker busy sending to this client)",
				"filters", slices.Sorted(maps.Keys(want)), "attempt", attempt)
		}
		time.Sleep(wait)
		wait = min(2*wait, opt.MaxRetry)
	}
}
