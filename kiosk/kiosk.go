// Package kiosk is the daemon's side of a kiosk's own screen: it tells the
// screen what happens at the kiosk's lanes (card presented or removed, "enter
// your PIN" with the tries left, the result), each with a plain message in
// Japanese and English, and takes from the screen what the next card is bound
// to and the holder's PIN. The screen reaches it through the station's local
// API (package localapi): POST operations and a stream of server-sent events.
//
// The PIN crosses once: it is parsed from the request body straight into a
// byte slice, handed to the waiting tap, and zeroed with the body after its
// one use. It is never logged, journaled or stored.
package kiosk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
)

// Message kinds the screen receives.
const (
	// MsgCard: a card was presented at a lane (State "present") or taken off
	// ("removed").
	MsgCard = "card"
	// MsgPIN: the tap waits for the PIN; TriesLeft says how many tries are left.
	MsgPIN = "pin"
	// MsgResult: the tap is decided (Outcome identified, enrolled or denied).
	MsgResult = "result"
	// MsgPending: what the next card at the lane will be bound to changed.
	MsgPending = "pending"
)

// Outcomes of a result message.
const (
	OutcomeIdentified = "identified"
	OutcomeEnrolled   = "enrolled"
	OutcomeDenied     = "denied"
)

// Text is a message for the holder, Japanese first, English second.
type Text struct {
	JA string `json:"ja"`
	EN string `json:"en"`
}

// Message is one thing the screen is told.
type Message struct {
	Type string `json:"type"`
	Lane string `json:"lane"`
	// State is "present" or "removed", on a card message.
	State string `json:"state,omitempty"`
	// TriesLeft is the PIN's retry counter, on a pin message.
	TriesLeft int `json:"tries_left,omitempty"`
	// Warning is set on a pin message when one try is left.
	Warning bool `json:"warning,omitempty"`
	// Outcome, ServiceID, Seat, Reason and Assurance describe a result.
	Outcome   string       `json:"outcome,omitempty"`
	ServiceID string       `json:"service_id,omitempty"`
	Seat      string       `json:"seat,omitempty"`
	Reason    event.Reason `json:"reason,omitempty"`
	Assurance string       `json:"assurance,omitempty"`
	// EventID is the journaled event of a result.
	EventID string `json:"event_id,omitempty"`
	// Pending lists the seats still to be bound, on a pending message.
	Pending []string `json:"pending,omitempty"`
	// Text is what the screen shows.
	Text Text `json:"text"`
}

// Binding is what the screen asks the next cards at an enrol lane to be bound
// to: one ServiceID (an order, a resident record) and its seats, one card per
// seat in order. Without seats, one card is bound to the ServiceID alone.
type Binding struct {
	Lane      string      `json:"lane"`
	ServiceID string      `json:"service_id"`
	Seats     []string    `json:"seats,omitempty"`
	Grant     event.Grant `json:"grant"`
}

// DefaultPINTimeout is how long a tap waits for the PIN before it is denied
// pin_not_entered.
const DefaultPINTimeout = 60 * time.Second

// Screen keeps each kiosk lane's state between the taps and the screen. It
// implements agent.PINPad and agent.Enrolments. The zero value is not usable;
// use New.
type Screen struct {
	// PINTimeout bounds the wait for a PIN; default DefaultPINTimeout.
	PINTimeout time.Duration

	mu     sync.Mutex
	lanes  map[string]*lane
	subs   map[chan Message]struct{}
	closed bool
}

type lane struct {
	pending []agent.Enrolment
	// prompt is where the PIN for the waiting tap goes; nil when none waits.
	prompt chan []byte
	// cancel abandons the waiting prompt.
	cancel chan struct{}
}

// New returns a screen for the named kiosk lanes.
func New(lanes []string) *Screen {
	s := &Screen{lanes: map[string]*lane{}, subs: map[chan Message]struct{}{}}
	for _, l := range lanes {
		s.lanes[l] = &lane{}
	}
	return s
}

// ErrUnknownLane is returned for a lane that is not a kiosk lane of this gate.
var ErrUnknownLane = errors.New("kiosk: no such kiosk lane")

// ErrNoPrompt is returned by Enter when no tap at the lane waits for a PIN.
var ErrNoPrompt = errors.New("kiosk: no card is waiting for a PIN at this lane")

func (s *Screen) lane(name string) (*lane, error) {
	l, ok := s.lanes[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLane, name)
	}
	return l, nil
}

// Bind sets what the next cards at b.Lane are bound to, replacing anything
// pending there.
func (s *Screen) Bind(b Binding) error {
	s.mu.Lock()
	l, err := s.lane(b.Lane)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	seats := b.Seats
	if len(seats) == 0 {
		seats = []string{""}
	}
	l.pending = l.pending[:0]
	for _, seat := range seats {
		l.pending = append(l.pending, agent.Enrolment{ServiceID: b.ServiceID, Seat: seat, Grant: b.Grant})
	}
	msg := s.pendingMsg(b.Lane, l)
	s.mu.Unlock()
	s.send(msg)
	return nil
}

// Cancel drops what is pending at a lane and abandons a PIN prompt there.
func (s *Screen) Cancel(laneName string) error {
	s.mu.Lock()
	l, err := s.lane(laneName)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	l.pending = nil
	if l.cancel != nil {
		close(l.cancel)
		l.cancel = nil
	}
	msg := s.pendingMsg(laneName, l)
	s.mu.Unlock()
	s.send(msg)
	return nil
}

// pendingMsg describes what is pending at l; s.mu is held.
func (s *Screen) pendingMsg(name string, l *lane) Message {
	m := Message{Type: MsgPending, Lane: name, Text: Text{JA: "カードをかざしてください", EN: "Please touch your card"}}
	for _, en := range l.pending {
		m.ServiceID = en.ServiceID
		m.Pending = append(m.Pending, en.Seat)
	}
	if len(l.pending) == 0 {
		m.Text = Text{JA: "受付を選んでください", EN: "Choose what to register first"}
	}
	return m
}

// Pending returns what the next card at the lane is bound to (agent.Enrolments).
func (s *Screen) Pending(laneName string) (agent.Enrolment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lanes[laneName]
	if !ok || len(l.pending) == 0 {
		return agent.Enrolment{}, false
	}
	return l.pending[0], true
}

// PIN asks the screen for the PIN and waits for Enter (agent.PINPad).
func (s *Screen) PIN(ctx context.Context, laneName string, triesLeft int) ([]byte, error) {
	s.mu.Lock()
	l, err := s.lane(laneName)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	prompt, cancel := make(chan []byte, 1), make(chan struct{})
	l.prompt, l.cancel = prompt, cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if l.prompt == prompt {
			l.prompt, l.cancel = nil, nil
		}
		s.mu.Unlock()
	}()
	m := Message{Type: MsgPIN, Lane: laneName, TriesLeft: triesLeft,
		Text: Text{JA: fmt.Sprintf("暗証番号（数字4桁）を入力してください（残り%d回）", triesLeft), EN: fmt.Sprintf("Enter your 4-digit PIN (%d tries left)", triesLeft)}}
	if triesLeft == 1 {
		m.Warning = true
		m.Text = Text{JA: "暗証番号を入力してください。あと1回間違えるとロックされます", EN: "Enter your PIN. One more wrong try blocks it"}
	}
	s.send(m)
	timeout := s.PINTimeout
	if timeout <= 0 {
		timeout = DefaultPINTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case pin := <-prompt:
		return pin, nil
	case <-cancel:
		return nil, agent.ErrNoPIN
	case <-t.C:
		return nil, agent.ErrNoPIN
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Enter hands a PIN to the tap waiting at the lane. The screen's copy is
// the caller's to zero; the tap zeroes the one it is given.
func (s *Screen) Enter(laneName string, pin []byte) error {
	if !validPIN(pin) {
		return errors.New("kiosk: the PIN is 4 digits")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.lane(laneName)
	if err != nil {
		return err
	}
	if l.prompt == nil {
		return ErrNoPrompt
	}
	select {
	case l.prompt <- append([]byte(nil), pin...):
		l.prompt, l.cancel = nil, nil
		return nil
	default:
		return ErrNoPrompt
	}
}

func validPIN(pin []byte) bool {
	if len(pin) != 4 {
		return false
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Presented tells the screen a card arrived at the lane.
func (s *Screen) Presented(laneName string) {
	s.send(Message{Type: MsgCard, Lane: laneName, State: "present", Text: Text{JA: "カードを読み取っています。そのままお待ちください", EN: "Reading your card. Please keep it in place"}})
}

// Removed tells the screen the card was taken off the lane.
func (s *Screen) Removed(laneName string) {
	s.send(Message{Type: MsgCard, Lane: laneName, State: "removed", Text: Text{JA: "カードが取り外されました", EN: "Card removed"}})
}

// Decided tells the screen the tap's result and, on an enrolment, moves on to
// the next seat pending at the lane.
func (s *Screen) Decided(e event.Event) {
	m := Result(e)
	if e.Kind == event.KindEnrol && e.Decision == event.Admit {
		s.mu.Lock()
		if l, ok := s.lanes[e.Lane]; ok && len(l.pending) > 0 {
			l.pending = l.pending[1:]
		}
		s.mu.Unlock()
	}
	s.send(m)
}

// Subscribe returns a channel of the messages from now on and a function that
// ends the subscription. A screen that does not keep up loses messages, not
// the taps.
func (s *Screen) Subscribe() (<-chan Message, func()) {
	ch := make(chan Message, 64)
	s.mu.Lock()
	if s.closed {
		close(ch)
	} else {
		s.subs[ch] = struct{}{}
	}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}
}

// Close ends every subscription.
func (s *Screen) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
}

func (s *Screen) send(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- m:
		default:
		}
	}
}
