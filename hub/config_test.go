package hub

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
		check               func(*testing.T, *Config)
	}{
		{name: "defaults", body: `{"data_dir": "data", "username": "hub", "password_file": "hub.password"}`, check: func(t *testing.T, c *Config) {
			if c.Prefix != "mynagate/v1" || c.Listen != "127.0.0.1:1883" || c.BrokerURL() != "ssl://127.0.0.1:1883" || !filepath.IsAbs(c.DataDir) {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "wildcard listen", body: `{"data_dir": "/d", "listen": "0.0.0.0:1884", "username": "hub", "password_file": "hub.password"}`, check: func(t *testing.T, c *Config) {
			if c.BrokerURL() != "ssl://127.0.0.1:1884" {
				t.Fatal(c.BrokerURL())
			}
			if _, err := c.GateBrokerURL(); err == nil || !strings.Contains(err.Error(), "gate_broker") {
				t.Fatalf("gate broker of a wildcard listen: %v", err)
			}
		}},
		{name: "plain on loopback", body: `{"data_dir": "/d", "insecure_plain_tcp_on_loopback": true, "username": "hub", "password_file": "hub.password"}`, check: func(t *testing.T, c *Config) {
			if c.BrokerURL() != "tcp://127.0.0.1:1883" {
				t.Fatal(c.BrokerURL())
			}
		}},
		{name: "external broker, plain TCP off loopback", body: `{"data_dir": "/d", "broker": "tcp://mqtt.example:1883", "insecure_plain_tcp_on_loopback": true}`, wantErr: `broker "tcp://mqtt.example:1883": plain TCP off loopback`},
		{name: "external broker, plain TCP on loopback unasked", body: `{"data_dir": "/d", "broker": "tcp://127.0.0.1:1883"}`, wantErr: `needs "insecure_plain_tcp_on_loopback": true`},
		{name: "external broker, plain TCP on loopback asked", body: `{"data_dir": "/d", "broker": "tcp://127.0.0.1:1883", "insecure_plain_tcp_on_loopback": true}`, check: func(t *testing.T, c *Config) {
			if c.BrokerURL() != "tcp://127.0.0.1:1883" {
				t.Fatal(c.BrokerURL())
			}
		}},
		{name: "gate broker, plain TCP off loopback", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "gate_broker": "tcp://192.0.2.10:1883", "insecure_plain_tcp_on_loopback": true}`, wantErr: `gate_broker "tcp://192.0.2.10:1883": plain TCP off loopback`},
		{name: "plain elsewhere", body: `{"data_dir": "/d", "listen": "0.0.0.0:1883", "insecure_plain_tcp_on_loopback": true, "username": "hub", "password_file": "hub.password"}`, wantErr: "not a loopback address"},
		{name: "gate broker", body: `{"data_dir": "/d", "listen": "0.0.0.0:8883", "gate_broker": "ssl://hub.example:8883", "username": "hub", "password_file": "hub.password"}`, check: func(t *testing.T, c *Config) {
			if u, err := c.GateBrokerURL(); err != nil || u != "ssl://hub.example:8883" || !slices.Contains(c.brokerNames(), "hub.example") {
				t.Fatal(u, err, c.brokerNames())
			}
		}},
		{name: "external", body: `{"data_dir": "/d", "broker": "ssl://hub.example:8883"}`, check: func(t *testing.T, c *Config) {
			if c.BrokerURL() != "ssl://hub.example:8883" {
				t.Fatal(c.BrokerURL())
			}
		}},
		{name: "unknown key", body: `{"data_dir": "/d", "lsiten": ":1"}`, wantErr: `unknown field "lsiten"`},
		{name: "no data dir", body: `{}`, wantErr: "data_dir is required"},
		{name: "bad broker", body: `{"data_dir": "/d", "broker": "mqtt://x"}`, wantErr: "want tcp://"},
		{name: "users moved to the registry", body: `{"data_dir": "/d", "users": []}`, wantErr: `unknown field "users"`},
		{name: "bad log", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "log": "loud"}`, wantErr: "log"},
		{name: "time zones", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "site_time_zones": {"guam": "Pacific/Guam"}}`, check: func(t *testing.T, c *Config) {
			if c.TimeZone != "Asia/Tokyo" || c.Zone("stadium").String() != "Asia/Tokyo" || c.Zone("guam").String() != "Pacific/Guam" {
				t.Fatalf("%s %s %s", c.TimeZone, c.Zone("stadium"), c.Zone("guam"))
			}
		}},
		{name: "bad time zone", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "time_zone": "Tokyo"}`, wantErr: "time_zone \"Tokyo\""},
		{name: "one instance as ever", body: `{"data_dir": "/d", "broker": "ssl://b:8883"}`, check: func(t *testing.T, c *Config) {
			if c.ClientID() != "mynagate-hub-ingest" || c.RetentionDays["venue"] != 90 || c.RetentionDays["shelter"] != 1825 || c.RetentionDays["kiosk"] != 365 {
				t.Fatalf("%s %v", c.ClientID(), c.RetentionDays)
			}
		}},
		{name: "instances", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "database_url": "postgres://hub@db/hub", "instance": "hub-2", "shared_group": "hubs", "retention_days": {"shelter": 0}}`, check: func(t *testing.T, c *Config) {
			if c.ClientID() != "mynagate-hub-ingest-hub-2" || c.RetentionDays["shelter"] != 0 || c.RetentionDays["venue"] != 90 {
				t.Fatalf("%s %v", c.ClientID(), c.RetentionDays)
			}
		}},
		{name: "instance from host name", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "database_url": "postgres://hub@db/hub"}`, check: func(t *testing.T, c *Config) {
			if host, _ := os.Hostname(); c.ClientID() != "mynagate-hub-ingest-"+host {
				t.Fatal(c.ClientID())
			}
		}},
		{name: "bad database url", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "database_url": "mysql://db"}`, wantErr: "database_url"},
		{name: "bad instance", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "database_url": "postgres://db/h", "instance": "a/b"}`, wantErr: `instance "a/b"`},
		{name: "shared without database", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "shared_group": "hubs"}`, wantErr: "shared_group needs database_url"},
		{name: "shared on the embedded broker", body: `{"data_dir": "/d", "username": "hub", "password_file": "hub.password", "database_url": "postgres://db/h", "shared_group": "hubs"}`, wantErr: "shared_group needs an external broker"},
		{name: "bad retention", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "retention_days": {"venue": -1, "museum": 3}}`, wantErr: `retention_days "museum": 3, "venue": -1`},
		{name: "bad site time zone", body: `{"data_dir": "/d", "broker": "ssl://b:8883", "site_time_zones": {"s": "JST+9"}}`, wantErr: "site_time_zones"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehub.json")
			os.WriteFile(path, []byte(tc.body), 0o600)
			c, err := LoadConfig(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("got %v, want an error naming the file and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestExampleConfig(t *testing.T) {
	if _, err := LoadConfig(filepath.Join("testdata", "gatehub.json")); err != nil {
		t.Fatal(err)
	}
}

// TestConfigsExample keeps configs/gatehub.json, the README's example, loadable.
func TestConfigsExample(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "configs", "gatehub.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GateBroker == "" || c.Username == "" || c.HTTP == "" || c.Zone("stadium").String() != "Asia/Tokyo" {
		t.Fatalf("%+v", c)
	}
	// The README's example of one instance of several ("Outgrowing one box").
	c, err = LoadConfig(filepath.Join("..", "configs", "hub", "gatehub-cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL == "" || c.SharedGroup == "" || c.ClientID() != "mynagate-hub-ingest-hub-1" {
		t.Fatalf("%+v", c)
	}
}

// TestREADMEDocumentsConfigAndCSV fails when a hub config key or an enrolment
// column is added without its line in the README.
func TestREADMEDocumentsConfigAndCSV(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, typ := range []reflect.Type{reflect.TypeFor[Config]()} {
		for f := range typ.Fields() {
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" {
				names = append(names, tag)
			}
		}
	}
	names = append(names, enrolColumns...)
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("README.md does not document %q", n)
		}
	}
}
