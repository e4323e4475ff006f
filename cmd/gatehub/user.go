package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mynagate/mynagate/hub"
)

// stdin is where user add reads the password (a test swaps it).
var stdin io.Reader = os.Stdin

// cmdUserAdd adds or replaces a dashboard login. The password is read from
// standard input, never from the command line, where ps and the shell's
// history would show it.
func cmdUserAdd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehub user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "/etc/mynagate/gatehub.json", "hub configuration file (its users_file is written)")
	role := fs.String("role", "viewer", "viewer (reads) or operator (may also change things)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatehub user add --config F [--role viewer|operator] NAME < password\n\nAdds or replaces a dashboard login; the password (12 characters or more) is the\nfirst line of standard input.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one user name")
	}
	cfg, err := hub.LoadConfig(*config)
	if err != nil {
		return err
	}
	if cfg.UsersFile == "" {
		return fmt.Errorf("%s has no users_file: add one (for example \"users_file\": \"users.json\") and run this again", *config)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := hub.AddOperator(cfg.UsersFile, fs.Arg(0), hub.Role(*role), pw); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s (%s) saved in %s; restart gatehub to apply\n", fs.Arg(0), *role, cfg.UsersFile)
	return nil
}
