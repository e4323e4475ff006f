package receipts

import (
	"log/slog"
	"sync"
)

// Publish sends one receipt message on topic (QoS 1, not retained). A failed
// or lost message costs only a resend: the gate sends the event again and the
// hub answers with another receipt.
type Publish func(topic string, payload []byte) error

// Batcher groups the receipts of each gate and publishes them: whatever
// arrived while the previous message was being handed over goes out as one
// message per gate, so a burst stored in one commit costs a few messages, not
// one per event.
type Batcher struct {
	prefix string
	pub    Publish
	log    *slog.Logger

	mu      sync.Mutex
	pending map[gateKey][]Receipt
	order   []gateKey
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

type gateKey struct{ site, gate string }

// NewBatcher starts a batcher that publishes through pub. log may be nil.
// Close stops it.
func NewBatcher(prefix string, pub Publish, log *slog.Logger) *Batcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Batcher{prefix: prefix, pub: pub, log: log, pending: map[gateKey][]Receipt{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

// Add queues a receipt for site/gate. It never blocks on the network.
func (b *Batcher) Add(site, gate string, r Receipt) {
	k := gateKey{site, gate}
	b.mu.Lock()
	if _, ok := b.pending[k]; !ok {
		b.order = append(b.order, k)
	}
	b.pending[k] = append(b.pending[k], r)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Batcher) run() {
	defer close(b.stopped)
	for {
		select {
		case <-b.wake:
		case <-b.stop:
			b.flush()
			return
		}
		b.flush()
	}
}

// flush publishes everything queued, one message per gate and MaxPerMessage.
func (b *Batcher) flush() {
	b.mu.Lock()
	pending, order := b.pending, b.order
	b.pending, b.order = map[gateKey][]Receipt{}, nil
	b.mu.Unlock()
	for _, k := range order {
		rs := pending[k]
		for len(rs) > 0 {
			n := min(len(rs), MaxPerMessage)
			payload, err := Encode(rs[:n])
			if err == nil {
				err = b.pub(Topic(b.prefix, k.site, k.gate), payload)
			}
			if err != nil {
				// The gate sends these events again and gets new receipts.
				b.log.Warn("receipts: publish failed; the gate will resend and be answered again",
					"site", k.site, "gate", k.gate, "receipts", n, "err", err)
			}
			rs = rs[n:]
		}
	}
}

// Close publishes what is queued and stops the batcher.
func (b *Batcher) Close() {
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	<-b.stopped
}
