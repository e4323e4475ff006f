package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	var got []string
	cmd := func(name string, err error) Command {
		return Command{Summary: name, Run: func(_ context.Context, args []string, _, stderr io.Writer) error {
			got = append(got, name+":"+strings.Join(args, ","))
			fs := flag.NewFlagSet(name, flag.ContinueOnError)
			fs.SetOutput(stderr)
			fs.Bool("json", false, "json output")
			if perr := fs.Parse(args); perr != nil {
				return perr
			}
			return err
		}}
	}
	s := Set{"run": cmd("run", nil), "card read": cmd("card read", nil), "card verify": cmd("card verify", nil), "doctor": cmd("doctor", errors.New("boom"))}
	for _, tc := range []struct {
		args           []string
		code           int
		called         string
		stdout, stderr string
	}{
		{[]string{"run", "--json"}, 0, "run:--json", "", ""},
		{[]string{"card", "read", "--json"}, 0, "card read:--json", "", ""},
		{[]string{"doctor"}, 1, "doctor:", "", "prog doctor: boom"},
		{[]string{"run", "--nope"}, 1, "run:--nope", "", "flag provided but not defined: -nope"},
		{[]string{"nope"}, 2, "", "", "prog: unknown command \"nope\"\n\nusage: prog COMMAND"},
		{[]string{"card"}, 2, "", "", `prog: "card" needs a subcommand: card read, card verify`},
		{[]string{"card", "write"}, 2, "", "", `"card" needs a subcommand`},
		{nil, 2, "", "", "card read"},
		{[]string{"--help"}, 0, "", "usage: prog COMMAND", ""},
		{[]string{"-h"}, 0, "", "  version", ""},
		{[]string{"help"}, 0, "", "  run ", ""},
		{[]string{"help", "run"}, 0, "run:-h", "", "-json"},
		{[]string{"help", "card"}, 0, "", "card verify", ""},
		{[]string{"help", "card", "read"}, 0, "card read:-h", "", "-json"},
		{[]string{"run", "-h"}, 0, "run:-h", "", "Usage of run"},
		{[]string{"card", "verify", "--help"}, 0, "card verify:--help", "", "-json"},
		{[]string{"help", "nope"}, 2, "", "", `unknown command "nope"`},
		{[]string{"version"}, 0, "", "prog ", ""},
		{[]string{"--version"}, 0, "", "prog ", ""},
	} {
		got = nil
		var stdout, stderr bytes.Buffer
		code := s.Dispatch(context.Background(), "prog", tc.args, &stdout, &stderr)
		if code != tc.code || strings.Join(got, "") != tc.called || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%v: exit %d, called %v, stdout %q, stderr %q", tc.args, code, got, stdout.String(), stderr.String())
		}
		if tc.code != 0 && stdout.Len() != 0 {
			t.Errorf("%v: failure wrote to stdout: %q", tc.args, stdout.String())
		}
	}
}

func TestVersionOf(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}
	for _, tc := range []struct {
		main     string
		settings []debug.BuildSetting
		want     string
	}{
		{"v1.4.0", rev, "v1.4.0"},
		{"(devel)", rev, "devel-0123456789ab"},
		{"", append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "devel-0123456789ab-dirty"},
		{"(devel)", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "devel-abc"},
		{"(devel)", nil, "devel"},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Version: tc.main}, Settings: tc.settings}
		if got := versionOf(bi); got != tc.want {
			t.Errorf("versionOf(%q, %v) = %q, want %q", tc.main, tc.settings, got, tc.want)
		}
	}
}

func TestBuildVersionPrefersLinkTimeVersion(t *testing.T) {
	defer func(v string) { Version = v }(Version)
	Version = "1.2.3"
	if got := BuildVersion(); got != "1.2.3" {
		t.Errorf("BuildVersion() = %q with Version set", got)
	}
}

func TestCheckFile(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		result  error
		want    string
		wantErr bool
	}{
		{"ok", []string{"a.json"}, nil, "a.json: ok (fine)\n", false},
		{"problems, one per line", []string{"a.json"}, errors.Join(errors.New("x is required"), errors.New("y: bad")), "a.json: x is required\na.json: y: bad\n", true},
		{"the file's name said once", []string{"a.json"}, fmt.Errorf("hub: config a.json: %w", errors.New("z unknown")), "a.json: z unknown\n", true},
		{"no file", nil, nil, "", true},
		{"two files", []string{"a.json", "b.json"}, nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			err := CheckFile("prog config check", "about", tc.args, &out, &errOut, func(string) (string, error) { return "fine", tc.result })
			if (err != nil) != tc.wantErr || out.String() != tc.want {
				t.Fatalf("err %v, out %q; want error %v, out %q", err, out.String(), tc.wantErr, tc.want)
			}
		})
	}
}
