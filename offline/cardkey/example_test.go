package cardkey_test

import (
	"bytes"
	"fmt"

	"github.com/mynagate/mynagate/offline/cardkey"
)

func ExampleKeyer() {
	// On a gate the keyer comes from the HSM (hsm.HSM.CardKeyer); the software
	// keyer is for demos and tests.
	k := cardkey.NewSoftware(bytes.Repeat([]byte{0x42}, 32))
	key, err := k.CardKey([]byte{0x1a, 0xc1, 0x00, 0xf5}, []byte{0x01, 0x33, 0xC3, 0x49})
	if err != nil {
		panic(err)
	}
	again, _ := cardkey.ParseKey(key.String())
	fmt.Println(len(key.String()), again == key)
	// Output: 64 true
}
