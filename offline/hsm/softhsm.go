package hsm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// CreateSoftHSMToken makes a SoftHSM2 token in its own directory under dir for
// the demo and tests: it writes dir/softhsm2.conf, points SOFTHSM2_CONF at it
// for this process, initialises a token labelled label with the user PIN pin,
// and writes that PIN to dir/pin (mode 0600). It returns the Config to Open it
// with. A production gate's token is set up by its operator, not by this.
func CreateSoftHSMToken(dir, label, pin string) (Config, error) {
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return Config{}, fmt.Errorf("hsm: softhsm2-util not found; install the Debian package softhsm2: %w", err)
	}
	if _, err := os.Stat(SoftHSMModule); err != nil {
		return Config{}, fmt.Errorf("hsm: %s missing; install the Debian package softhsm2", SoftHSMModule)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return Config{}, fmt.Errorf("hsm: token directory: %w", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		return Config{}, fmt.Errorf("hsm: softhsm2.conf: %w", err)
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return Config{}, err
	}
	out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", pin+"-so").CombinedOutput()
	if err != nil {
		return Config{}, fmt.Errorf("hsm: softhsm2-util --init-token: %v: %s", err, out)
	}
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		return Config{}, fmt.Errorf("hsm: PIN file: %w", err)
	}
	return Config{Module: SoftHSMModule, TokenLabel: label, PINFile: pinFile, MaxSessions: 4}, nil
}
