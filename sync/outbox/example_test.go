package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/receipts"
)

// A gate journals every decided tap before it opens, and forgets it only once the
// hub's receipt names its seq and id.
func Example() {
	dir, _ := os.MkdirTemp("", "outbox")
	defer os.RemoveAll(dir)
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{MaxBytes: 64 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ob.Close()
	e := &event.Event{ID: "01JEXAMPLE0000000000000001", At: time.Now(), Site: "stadium", Gate: "north-3",
		Kind: event.KindEntry, Decision: event.Admit, Reason: event.ReasonAdmit, Assurance: "pinless"}
	switch err := ob.Append(context.Background(), e); {
	case errors.Is(err, outbox.ErrFull):
		fmt.Println("cannot record: the mode's policy decides")
	case err != nil:
		fmt.Println(err)
	}
	pending, _ := ob.Pending(0, 10)
	fmt.Println("seq", pending[0].Seq, "pending", len(pending))
	ob.Ack(receipts.Receipt{Seq: pending[0].Seq, ID: pending[0].ID})
	n, _ := ob.Backlog()
	fmt.Println("backlog", n)
	// Output:
	// seq 1 pending 1
	// backlog 0
}
