// Package cli dispatches a program's subcommands ("run", "card read"): the one
// piece gateagent and gatehub share, so that both answer usage, errors and exit
// codes the same way.
package cli

import (
	"context"
	"fmt"
	"io"
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

// Dispatch runs the command whose name is the longest prefix of args and
// returns the exit code: 0 on success, 1 when the command failed (its error is
// printed as "prog name: error"), 2 for an unknown command (with the usage).
func (s Set) Dispatch(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) int {
	for n := min(2, len(args)); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		if c, ok := s[name]; ok {
			if err := c.Run(ctx, args[n:], stdout, stderr); err != nil {
				fmt.Fprintf(stderr, "%s %s: %v\n", prog, name, err)
				return 1
			}
			return 0
		}
	}
	s.Usage(prog, stderr)
	return 2
}

// Usage lists the commands with their summaries.
func (s Set) Usage(prog string, w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", prog)
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, s[n].Summary)
	}
}
