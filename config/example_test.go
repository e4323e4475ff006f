package config_test

import (
	"fmt"

	"github.com/mynagate/mynagate/config"
)

// A misspelt key is an error that names it, not a silently ignored setting.
func ExampleParse() {
	_, err := config.Parse([]byte(`{"site":"s","gate":"g","roots":["r.pem"],"card_key":{"secret_file":"k"},"polcy":{}}`))
	fmt.Println(err)
	// Output: unknown key "polcy" (check the spelling; README.md lists the keys)
}
