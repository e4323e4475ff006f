package escpos_test

import (
	"fmt"

	"github.com/mynagate/mynagate/hw/escpos"
)

func ExampleDoc() {
	b, err := escpos.New().
		Align(escpos.Center).Size(2, 2).Line("席番 A-12").
		Size(1, 1).QR("T-000123", 6, escpos.LevelM).
		Cut().Bytes()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", b[:18])
	// Output: 1b 40 1b 74 01 1c 43 01 1c 26 1b 61 01 1d 21 11 90 c8
}

func ExampleParseStatus() {
	// The answers of a TM printer with its cover open to DLE EOT 1, 2, 3 and 4.
	s, err := escpos.ParseStatus([]byte{0x1a, 0x16, 0x12, 0x12})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Ready(), s)
	// Output: false cover open: close the printer cover
}
