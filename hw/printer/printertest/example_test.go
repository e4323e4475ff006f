package printertest_test

import (
	"bytes"
	"fmt"

	"github.com/mynagate/mynagate/hw/escpos"
	"github.com/mynagate/mynagate/hw/printer/printertest"
)

// rw is a byte stream: what the gate sends, and what the printer answers.
type rw struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (s *rw) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *rw) Write(p []byte) (int, error) { return s.out.Write(p) }

func ExamplePrinter_Serve() {
	p := &printertest.Printer{}
	p.SetStatus(escpos.Status{CoverOpen: true})
	stream := &rw{in: bytes.NewReader([]byte("hi\x10\x04\x02!"))}
	_ = p.Serve(stream)
	fmt.Printf("printed %q, answered % x\n", p.Received(), stream.out.Bytes())
	// Output: printed "hi!", answered 56
}
