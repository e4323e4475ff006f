package mqtttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mynagate/mynagate/internal/testenv"
)

// Option changes the broker Start runs. It writes what it needs into the
// broker's directory and returns the access lines of mosquitto.conf.
type Option func(t testing.TB, dir string) string

// WithPasswords makes the broker refuse anonymous clients and accept only
// these usernames with their passwords (a mosquitto_passwd file), so that a
// test can see how a client reports being refused.
func WithPasswords(users map[string]string) Option {
	return func(t testing.TB, dir string) string {
		t.Helper()
		bin := testenv.LookPath(t, "mosquitto_passwd", "mosquitto")
		file := filepath.Join(dir, "passwords")
		for user, pw := range users {
			// -c creates the file; later users are added to it.
			args := []string{"-b", file, user, pw}
			if _, err := os.Stat(file); err != nil {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("mqtttest: mosquitto_passwd %s: %v\n%s", user, err, out)
			}
		}
		return "allow_anonymous false\npassword_file " + file
	}
}
