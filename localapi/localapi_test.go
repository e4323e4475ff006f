package localapi_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/localapi"
)

// shortDir is a temp dir whose socket path fits the 108-byte unix limit.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "la")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func start(t *testing.T) (*localapi.Server, string) {
	t.Helper()
	dir := shortDir(t)
	s := &localapi.Server{Socket: filepath.Join(dir, "run", "s.sock"), TokenFile: filepath.Join(dir, "run", "s.token"),
		Ops: map[string]localapi.Op{
			"echo": func(_ context.Context, b []byte) (any, error) { return map[string]string{"got": string(b)}, nil },
			"no":   func(context.Context, []byte) (any, error) { return nil, localapi.Refused(errors.New("not here")) },
			"fail": func(context.Context, []byte) (any, error) { return nil, errors.New("disk on fire") },
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(s.TokenFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("socket never came up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, dir
}

func TestCallsAndRefusals(t *testing.T) {
	s, dir := start(t)
	for _, p := range []string{s.Socket, s.TokenFile} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v, want owner-only", p, st.Mode().Perm())
		}
	}
	ctx := context.Background()
	c := localapi.NewClient(s.Socket, s.TokenFile)
	var got map[string]string
	if err := c.Call(ctx, "echo", map[string]int{"n": 1}, &got); err != nil {
		t.Fatal(err)
	}
	if got["got"] != `{"n":1}` {
		t.Fatalf("echo: %v", got)
	}
	for _, tc := range []struct{ op, want string }{
		{"no", "status 400"}, {"fail", "status 500"}, {"missing", "status 404"},
	} {
		if err := c.Call(ctx, tc.op, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", tc.op, err, tc.want)
		}
	}
	wrong := filepath.Join(dir, "wrong.token")
	if err := os.WriteFile(wrong, []byte("00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := localapi.NewClient(s.Socket, wrong).Call(ctx, "echo", nil, nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	if err := localapi.NewClient(s.Socket, filepath.Join(dir, "absent")).Call(ctx, "echo", nil, nil); err == nil {
		t.Fatal("call without a token file went through")
	}
}
