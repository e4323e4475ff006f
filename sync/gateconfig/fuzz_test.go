package gateconfig

import (
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes (a payload from the broker, once verified)
// to the parser: whatever it accepts is valid and survives a round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"emergency":true,"emergency_until":"2026-09-01T09:00:00Z","anti_passback":false,"accept":["pinless"],"fallback":["cert"],"note":"typhoon"}`))
	f.Add([]byte(`{"emergency":false,"accept":null,"fallback":[]}`))
	f.Add([]byte(`{"emergency":true,"emergency":true}`))
	f.Add([]byte(`{"Emergency":true}`))
	f.Add([]byte(`{"emergency":true,"emergency_until":"2026-09-01T18:00:00+09:00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted an invalid doc: %v", err)
		}
		enc, err := d.Marshal()
		if err != nil {
			t.Fatalf("accepted doc does not encode: %v", err)
		}
		back, err := Parse(enc)
		if err != nil || !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, d)
		}
	})
}
