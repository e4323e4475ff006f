package pins_test

import (
	"fmt"

	"github.com/mynagate/mynagate/hw/pins"
)

func ExampleByName() {
	// On a machine without that pin the error names it and the config key.
	_, err := pins.ByName("GPIO_EXAMPLE_MISSING", "hw.relay.pin")
	fmt.Println(err)
	// Output: pins: pin "GPIO_EXAMPLE_MISSING" not found; check hw.relay.pin in the config and that the gpiochip is visible (ls /dev/gpiochip*, gpioinfo)
}
