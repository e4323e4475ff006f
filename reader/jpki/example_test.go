package jpki_test

import (
	"fmt"

	"github.com/mynagate/mynagate/reader/jpki"
)

// The first READ BINARY of a certificate file returns the DER header, which
// says how many more bytes to read; padding after them is never read.
func ExampleDERLength() {
	n, err := jpki.DERLength([]byte{0x30, 0x82, 0x06, 0x3C, 0x30, 0x82})
	fmt.Println(n, err)
	// Output: 1600 <nil>
}

// EF 0006 tells a My Number card from the tokens that share its applet.
func ExampleParseToken() {
	for _, label := range []string{"JPKIAPICCTOKEN2", "JPKIAPICCTOKEN", "JPKIAPGPSETOKEN"} {
		fmt.Println(jpki.ParseToken([]byte(label + "                 ")).Kind)
	}
	// Output:
	// my_number_card
	// juki_card
	// android_phone
}
