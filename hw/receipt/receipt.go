// Package receipt lays out the slips a gate prints, one template per mode: the
// venue seat receipt (席番レシート) that replaces a paper ticket, and the shelter
// check-in slip (避難所受付票). Each renders to ESC/POS bytes for package printer.
//
// No personal data goes on paper: the templates have no field for a name, a card
// key or the individual number, only the service's own reference numbers.
package receipt

import (
	"fmt"
	"time"

	"github.com/mynagate/mynagate/hw/escpos"
)

// jst is Japan Standard Time; Japan has no daylight saving time, so a fixed zone is
// exact and does not depend on the gate's tzdata.
var jst = time.FixedZone("JST", 9*60*60)

var weekdays = [...]string{"日", "月", "火", "水", "木", "金", "土"}

// maxRef bounds a reference so that its QR code stays small enough to scan from a
// phone-sized slip.
const maxRef = 64

// stamp renders t in JST as "2026年11月25日(水) 18:30".
func stamp(t time.Time) string {
	t = t.In(jst)
	return fmt.Sprintf("%d年%d月%d日(%s) %02d:%02d", t.Year(), t.Month(), t.Day(), weekdays[t.Weekday()], t.Hour(), t.Minute())
}

// Seat is a venue seat-number receipt: it shows the seat in large type and carries
// the ticket reference as text and as a QR code, for staff to scan at the door of
// the block.
type Seat struct {
	Event     string    // event name, e.g. "ウインターライブ2026"
	At        time.Time // time of entry; printed in JST
	Gate      string    // gate name, e.g. "東ゲート3"
	Seat      string    // seat, e.g. "1階 A列 12番"
	TicketRef string    // ticket reference (printable ASCII), never a person's data
}

// ESCPOS renders the receipt, or says which field is missing or invalid.
func (s Seat) ESCPOS() ([]byte, error) {
	if err := required("seat", map[string]string{"event": s.Event, "gate": s.Gate, "seat": s.Seat}, s.At); err != nil {
		return nil, err
	}
	if err := checkRef(s.TicketRef); err != nil {
		return nil, err
	}
	return escpos.New().
		Align(escpos.Center).
		Line("座席のご案内 / Your seat").
		Feed(1).
		Bold(true).Line(s.Event).Bold(false).
		Line(stamp(s.At)).
		Line("ゲート / Gate: "+s.Gate).
		Feed(1).
		Line("お座席 / Seat").
		Size(2, 2).Bold(true).Line(s.Seat).Bold(false).Size(1, 1).
		Feed(1).
		QR(s.TicketRef, 6, escpos.LevelM).
		Line("チケット番号 / Ticket: " + s.TicketRef).
		Feed(1).
		Line("再入場の際もカードをタッチしてください").
		Cut().
		Bytes()
}

// Shelter is an evacuation-shelter check-in slip: the shelter, the time and the
// check-in number in large type, which the evacuee shows at the desk.
type Shelter struct {
	Shelter   string    // shelter name, e.g. "小木中学校 体育館"
	At        time.Time // time of check-in; printed in JST
	CheckinNo string    // check-in number at this shelter, e.g. "0123"
	// Reconcile says the check-in was taken although the card could not be
	// confirmed (not on the list, expired...): the slip tells the evacuee,
	// kindly, that staff will confirm it later.
	Reconcile bool
}

// ESCPOS renders the slip, or says which field is missing.
func (s Shelter) ESCPOS() ([]byte, error) {
	if err := required("shelter", map[string]string{"shelter": s.Shelter, "checkin_no": s.CheckinNo}, s.At); err != nil {
		return nil, err
	}
	b := escpos.New().
		Align(escpos.Center).
		Size(2, 2).Bold(true).Line("避難所受付票").Bold(false).Size(1, 1).
		Line("Shelter check-in").
		Feed(1).
		Bold(true).Line(s.Shelter).Bold(false).
		Line("受付日時: "+stamp(s.At)).
		Feed(1).
		Line("受付番号 / No.").
		Size(3, 3).Bold(true).Line(s.CheckinNo).Bold(false).Size(1, 1).
		Feed(1)
	if s.Reconcile {
		b = b.Line("受付は完了しています。").
			Line("カードの確認は後ほど係員が行います。").
			Line("ご安心ください。").
			Line("You are checked in. Staff will").
			Line("confirm your card later.").
			Feed(1)
	}
	return b.Line("この票は退所まで保管してください").
		Line("退所の際もカードをタッチしてください").
		Cut().
		Bytes()
}

func required(template string, fields map[string]string, at time.Time) error {
	for _, name := range []string{"event", "gate", "seat", "shelter", "checkin_no"} {
		if v, ok := fields[name]; ok && v == "" {
			return fmt.Errorf("receipt: %s receipt without %s", template, name)
		}
	}
	if at.IsZero() {
		return fmt.Errorf("receipt: %s receipt without a time", template)
	}
	return nil
}

func checkRef(ref string) error {
	if ref == "" || len(ref) > maxRef {
		return fmt.Errorf("receipt: ticket reference must be 1 to %d characters, got %d", maxRef, len(ref))
	}
	for _, c := range []byte(ref) {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("receipt: ticket reference %q has a character other than printable ASCII", ref)
		}
	}
	return nil
}
