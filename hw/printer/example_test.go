package printer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/hw/escpos"
	"github.com/mynagate/mynagate/hw/printer"
	"github.com/mynagate/mynagate/hw/printer/printertest"
	"github.com/mynagate/mynagate/hw/receipt"
)

func ExamplePrinter_Print() {
	// A fake network printer stands in for one at 192.0.2.7:9100.
	fake, err := printertest.ListenTCP()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fake.Close()
	fake.SetStatus(escpos.Status{PaperOut: true})
	p, err := printer.New(printer.Config{Transport: printer.TCP, Address: fake.Addr}, quiet())
	if err != nil {
		fmt.Println(err)
		return
	}
	// The gate has already opened; the receipt is printed without holding it up.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		done <- p.Print(ctx, receipt.Shelter{Shelter: "小木中学校", At: time.Now(), CheckinNo: "0042"})
	}()
	fmt.Println(<-done == nil)
	st, _ := p.Status(context.Background())
	fmt.Println(st)
	// Output:
	// false
	// paper out: load a new roll
}
