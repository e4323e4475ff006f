package receipt_test

import (
	"fmt"
	"time"

	"github.com/mynagate/mynagate/hw/receipt"
)

func ExampleShelter() {
	slip := receipt.Shelter{Shelter: "小木中学校 体育館", At: time.Date(2026, 1, 2, 7, 5, 0, 0, time.UTC), CheckinNo: "0042"}
	b, err := slip.ESCPOS()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(b) > 0, b[len(b)-6:])
	// Output: true [29 86 66 3 28 46]
}
