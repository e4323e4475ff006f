package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	var got []string
	cmd := func(name string, err error) Command {
		return Command{Summary: name, Run: func(_ context.Context, args []string, _, _ io.Writer) error {
			got = append(got, name+":"+strings.Join(args, ","))
			return err
		}}
	}
	s := Set{"run": cmd("run", nil), "card read": cmd("card read", nil), "card": cmd("card", errors.New("boom"))}
	for _, tc := range []struct {
		args   []string
		code   int
		called string
		stderr string
	}{
		{[]string{"run", "--config", "x"}, 0, "run:--config,x", ""},
		{[]string{"card", "read", "--json"}, 0, "card read:--json", ""},
		{[]string{"card", "write"}, 1, "card:write", "prog card: boom"},
		{[]string{"nope"}, 2, "", "usage: prog COMMAND"},
		{nil, 2, "", "card read"},
	} {
		got = nil
		var stderr bytes.Buffer
		code := s.Dispatch(context.Background(), "prog", tc.args, io.Discard, &stderr)
		if code != tc.code || strings.Join(got, "") != tc.called || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%v: exit %d, called %v, stderr %q", tc.args, code, got, stderr.String())
		}
	}
}
