package vcard_test

import (
	"fmt"

	"github.com/mynagate/mynagate/vcard"
)

// A card answers APDUs without any reader; Present would put the same card on
// a vpcd slot for pcscd.
func ExampleCard_Process() {
	p, err := vcard.LoadProfile("testdata/pki/card-001.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := vcard.NewCard(p)
	selectAP := append([]byte{0x00, 0xA4, 0x04, 0x0C, 0x0A}, vcard.AID...)
	fmt.Printf("% X\n", c.Process(selectAP))
	fmt.Printf("% X\n", c.Process([]byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18})) // EF 0018: auth PIN
	fmt.Printf("% X\n", c.Process([]byte{0x00, 0x20, 0x00, 0x80}))                   // tries left
	// Output:
	// 90 00
	// 90 00
	// 63 C3
}
