package policy_test

import (
	"fmt"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
)

func ExampleDecide() {
	jst := time.FixedZone("JST", 9*3600)
	shelter := policy.Policy{
		Accept:   []string{policy.AssurancePINLess},
		Fallback: []string{policy.AssuranceCert}, // only in a declared emergency
		Location: jst,
	}
	resident := whitelist.Entry{ServiceID: "R-1001", Kind: whitelist.KindResident}
	in := policy.Input{Now: time.Date(2026, 12, 1, 3, 0, 0, 0, jst), Kind: event.KindCheckin,
		Entry: resident, Listed: true, Assurance: policy.AssuranceCert}

	fmt.Println(policy.Decide(shelter, in))
	in.Emergency = true
	fmt.Println(policy.Decide(shelter, in))
	// Output:
	// deny assurance_not_accepted
	// admit admit
}
