package hub

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

const k1 = "0101010101010101010101010101010101010101010101010101010101010101"
const k2 = "0202020202020202020202020202020202020202020202020202020202020202"

func TestParseEnrolCSV(t *testing.T) {
	keyer := cardkey.NewSoftware([]byte("0123456789abcdef0123456789abcdef"))
	tests := []struct {
		name, csv string
		keyer     cardkey.Keyer
		wantN     int
		wantErr   string
		check     func(*testing.T, []whitelist.Record)
	}{
		{name: "by card key", csv: "card_key,service_id,kind,zones,seat,group,valid_from,valid_until,daily_from,daily_until\n" +
			k1 + ",T-1,ticket,north;vip,A-1,G-1,2026-12-01T18:00:00+09:00,2026-12-01T23:00:00+09:00,18:00,23:00\n" +
			k2 + ",T-2,ticket,,,,,,,\n", wantN: 2, check: func(t *testing.T, r []whitelist.Record) {
			e := r[0].Entry
			if r[0].Key.String() != k1 || e.ServiceID != "T-1" || len(e.Zones) != 2 || e.Daily.From != 18*60 || e.ValidFrom.Hour() != 9 {
				t.Fatalf("%+v", r[0])
			}
		}},
		{name: "by certificate", csv: "issuer_key_id,serial,service_id,kind\n0a0b,123,R-1,resident\n", keyer: keyer, wantN: 1,
			check: func(t *testing.T, r []whitelist.Record) {
				want, _ := keyer.CardKey([]byte{0x0a, 0x0b}, []byte{0x01, 0x23})
				if r[0].Key != want {
					t.Fatal("card key not computed from issuer key id and serial")
				}
			}},
		{name: "certificate without secret", csv: "issuer_key_id,serial,service_id,kind\n0a,01,R-1,resident\n", wantErr: "card-key secret"},
		{name: "unknown column", csv: "card_key,service_id,kind,name\n", wantErr: `column name`},
		{name: "both identities", csv: "card_key,issuer_key_id,serial,service_id,kind\n", wantErr: "either card_key"},
		{name: "missing kind", csv: "card_key,service_id\n", wantErr: "column kind"},
		{name: "bad kind", csv: "card_key,service_id,kind\n" + k1 + ",T-1,vip\n", wantErr: "line 2: kind"},
		{name: "bad key", csv: "card_key,service_id,kind\nzz,T-1,ticket\n", wantErr: "column card_key"},
		{name: "bad time", csv: "card_key,service_id,kind,valid_from\n" + k1 + ",T-1,ticket,tomorrow\n", wantErr: "column valid_from"},
		{name: "half window", csv: "card_key,service_id,kind,daily_from,daily_until\n" + k1 + ",T-1,ticket,18:00,\n", wantErr: "daily_until"},
		{name: "duplicate card", csv: "card_key,service_id,kind\n" + k1 + ",T-1,ticket\n" + k1 + ",T-2,ticket\n", wantErr: "already listed on line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseEnrolCSV(context.Background(), strings.NewReader(tc.csv), tc.keyer, nil)
			if tc.wantErr != "" {
				var ce *CSVError
				var re *RowErrors
				if !(errors.As(err, &ce) || errors.As(err, &re)) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want a CSVError or RowErrors with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			recs, err := e.Records()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.wantN {
				t.Fatalf("%d records", len(recs))
			}
			tc.check(t, recs)
		})
	}
}

func FuzzParseEnrolCSV(f *testing.F) {
	f.Add("card_key,service_id,kind\n" + k1 + ",T-1,ticket\n")
	f.Add("issuer_key_id,serial,service_id,kind,daily_from,daily_until\n0a,1,R,resident,22:00,06:00\n")
	keyer := cardkey.NewSoftware([]byte("0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEnrolCSV(context.Background(), strings.NewReader(s), keyer, nil)
		if err != nil {
			return
		}
		recs, err := e.Records()
		if err != nil {
			t.Fatalf("accepted a row it cannot decode: %v", err)
		}
		for _, r := range recs {
			if err := r.Entry.Validate(); err != nil {
				t.Fatalf("accepted an invalid entry: %v", err)
			}
		}
	})
}
