// Package printertest is a fake ESC/POS printer for tests: it captures what a gate
// sends and answers the real-time status requests (DLE EOT n) from a Status the
// test sets, over TCP (as a port-9100 network printer) or any byte stream such as
// the master side of a pty.
package printertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/mynagate/mynagate/hw/escpos"
)

// Printer is a fake printer. Its zero value is a ready printer that answers.
// It is safe for concurrent use.
type Printer struct {
	mu     sync.Mutex
	status escpos.Status
	mute   bool
	got    bytes.Buffer
	more   chan struct{} // closed and replaced whenever bytes arrive
}

// SetStatus sets the state the printer reports from now on.
func (p *Printer) SetStatus(s escpos.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = s
}

// SetMute makes the printer ignore status requests, as cheap printers without
// real-time commands do.
func (p *Printer) SetMute(mute bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mute = mute
}

// Received returns the bytes printed so far, without the status requests.
func (p *Printer) Received() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.got.Bytes())
}

// WaitReceived waits until at least n bytes of print data have arrived, or ctx
// ends, and returns them.
func (p *Printer) WaitReceived(ctx context.Context, n int) ([]byte, error) {
	for {
		p.mu.Lock()
		if p.got.Len() >= n {
			defer p.mu.Unlock()
			return bytes.Clone(p.got.Bytes()), nil
		}
		more := p.moreLocked()
		p.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return p.Received(), fmt.Errorf("printertest: %d of %d bytes received: %w", len(p.Received()), n, ctx.Err())
		}
	}
}

func (p *Printer) moreLocked() chan struct{} {
	if p.more == nil {
		p.more = make(chan struct{})
	}
	return p.more
}

// Answers returns the bytes a printer in state s sends to escpos.StatusRequests.
// Like a real printer, one that cannot print also reports itself offline.
func Answers(s escpos.Status) []byte {
	b := []byte{0x12, 0x12, 0x12, 0x12}
	set := func(i int, bits byte, on bool) {
		if on {
			b[i] |= bits
		}
	}
	set(0, 0x08, s.Offline || !s.Ready())
	set(1, 0x04, s.CoverOpen)
	set(1, 0x20, s.PaperOut)
	set(1, 0x40, !s.Ready())
	set(2, 0x08, s.CutterError)
	set(2, 0x20, s.Unrecoverable)
	set(2, 0x40, s.AutoRecoverable)
	set(3, 0x0c, s.PaperNearEnd)
	set(3, 0x60, s.PaperOut)
	return b
}

// Serve reads rw until it ends, capturing print data and answering each
// DLE EOT n (n = 1 to 4) with one status byte. It returns nil at end of stream.
func (p *Printer) Serve(rw io.ReadWriter) error {
	r := bufio.NewReader(rw)
	for {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if b == 0x10 {
			if next, _ := r.Peek(2); len(next) == 2 && next[0] == 0x04 && next[1] >= 1 && next[1] <= 4 {
				_, _ = r.Discard(2)
				p.mu.Lock()
				mute, answer := p.mute, Answers(p.status)[next[1]-1]
				p.mu.Unlock()
				if !mute {
					if _, err := rw.Write([]byte{answer}); err != nil {
						return err
					}
				}
				continue
			}
		}
		p.mu.Lock()
		p.got.WriteByte(b)
		close(p.moreLocked())
		p.more = nil
		p.mu.Unlock()
	}
}

// Server is a fake network printer listening on a loopback port.
type Server struct {
	*Printer
	// Addr is host:port to configure as the printer's address.
	Addr string

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// ListenTCP starts a fake network printer on a loopback port, serving one
// connection at a time; Close stops it.
func ListenTCP() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("printertest: listen: %w", err)
	}
	s := &Server{Printer: &Printer{}, Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// One job at a time, in the order they connected, as a raw
			// port-9100 printer does: the next connection waits in the
			// backlog, and two jobs never interleave or swap.
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			_ = s.Serve(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// Close stops listening, drops open connections and waits for them to end.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
