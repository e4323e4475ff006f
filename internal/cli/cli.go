// Package cli dispatches a program's subcommands ("run", "card read"): the one
// piece gateagent and gatehub share, so that both answer usage, help, version,
// errors and exit codes the same way.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// Command is one subcommand.
type Command struct {
	Summary string
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// Set maps command names, of one or two words, to commands.
type Set map[string]Command

// Exit codes of Dispatch.
const (
	ExitOK     = 0 // the command succeeded, or help or the version was asked for
	ExitFailed = 1 // the command ran and failed
	ExitUsage  = 2 // no command, or an unknown one
)

// Dispatch runs the command whose name is the longest prefix of args and
// returns the exit code: 0 on success, 1 when the command failed (its error is
// printed as "prog name: error"), 2 for a missing or unknown command (named,
// with the usage). "help", "-h" and "--help" print the usage on stdout and
// "help COMMAND" the command's flags, "version" the build's version; all exit
// 0, and so does a command's own -h (flag.ErrHelp is an answer, not an error).
func (s Set) Dispatch(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		s.Usage(prog, stderr)
		return ExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) == 2 && s.under(args[1]) != nil {
			if _, own := s[args[1]]; !own {
				s.list(stdout, s.under(args[1]))
				return ExitOK
			}
		}
		if len(args) > 1 {
			return s.Dispatch(ctx, prog, append(args[1:len(args):len(args)], "-h"), stdout, stderr)
		}
		s.Usage(prog, stdout)
		return ExitOK
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "%s %s (%s, %s/%s)\n", prog, BuildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return ExitOK
	}
	for n := min(2, len(args)); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		if c, ok := s[name]; ok {
			err := c.Run(ctx, args[n:], stdout, stderr)
			switch {
			case errors.Is(err, flag.ErrHelp):
				return ExitOK
			case err != nil:
				fmt.Fprintf(stderr, "%s %s: %v\n", prog, name, err)
				return ExitFailed
			}
			return ExitOK
		}
	}
	if subs := s.under(args[0]); len(subs) > 0 {
		fmt.Fprintf(stderr, "%s: %q needs a subcommand: %s\n\n", prog, args[0], strings.Join(subs, ", "))
	} else {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n", prog, args[0])
	}
	s.Usage(prog, stderr)
	return ExitUsage
}

// under lists the two-word commands whose first word is word, sorted.
func (s Set) under(word string) []string {
	var out []string
	for n := range s {
		if strings.HasPrefix(n, word+" ") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Usage lists the commands with their summaries.
func (s Set) Usage(prog string, w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", prog)
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	s.list(w, names)
	fmt.Fprintf(w, "  %-20s %s\n", "help [COMMAND]", "this list, or a command's flags")
	fmt.Fprintf(w, "  %-20s %s\n", "version", "the build's version")
}

// list prints the named commands with their summaries.
func (s Set) list(w io.Writer, names []string) {
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, s[n].Summary)
	}
}

// Version is the release version, set at link time by the packaging build:
//
//	go build -ldflags "-X github.com/mynagate/mynagate/internal/cli.Version=1.2.0"
//
// Empty in a plain build, where BuildVersion falls back on the build info.
var Version string

// BuildVersion is the software version a program reports (in `version` and
// in the gate's status): Version when the build set it, else the module
// version, else "devel-" and the VCS revision (with "-dirty" for uncommitted
// changes), else "devel"; "unknown" without build info.
func BuildVersion() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel" // built without VCS stamping (-buildvcs=false)
	}
	return "devel-" + rev[:min(12, len(rev))] + dirty
}

// CheckFile is the frame of a "config check FILE" command: it takes exactly
// one file argument, runs check on it, and prints "FILE: problem" for each
// line of the error check returns (an error that only repeats the file's name
// in front of its cause is unwrapped first), or "FILE: ok (summary)". It
// fails, for an exit code of 1, when there was a problem.
func CheckFile(name, about string, args []string, stdout, stderr io.Writer, check func(path string) (summary string, err error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: %s FILE\n\n%s\n", name, about) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one config file")
	}
	path := fs.Arg(0)
	summary, err := check(path)
	if err == nil {
		fmt.Fprintf(stdout, "%s: ok (%s)\n", path, summary)
		return nil
	}
	if inner := errors.Unwrap(err); inner != nil && strings.HasSuffix(err.Error(), path+": "+inner.Error()) {
		err = inner
	}
	n := 0
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			fmt.Fprintf(stdout, "%s: %s\n", path, l)
			n++
		}
	}
	return fmt.Errorf("%d problem(s) in %s", n, path)
}
