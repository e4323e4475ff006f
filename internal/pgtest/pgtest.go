// Package pgtest gives integration tests a real PostgreSQL server: Debian's
// postgresql binaries (initdb, postgres) run on a temporary data directory
// and a free loopback port, one server per test process, and a fresh database
// for each test that asks.
//
// PostgreSQL refuses to run as root; when the tests do (as CI does), the
// server runs as the postgres user the Debian package creates. Outside CI a
// missing PostgreSQL skips the test, with CI=true it fails it (testenv).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mynagate/mynagate/internal/testenv"
)

// superuser is the role initdb makes; the server trusts loopback logins.
const superuser = "mynagate"

// server is the process-wide PostgreSQL.
type server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	log  *bytes.Buffer
	// exited is closed when the postgres process has ended.
	exited chan struct{}
}

var (
	mu   sync.Mutex
	srv  *server
	dbs  atomic.Int64
	fail string
)

// URL returns the URL of a new, empty database on the test process's server,
// starting the server on first use. The database is left for the server's
// end (StopAll).
func URL(t testing.TB) string {
	t.Helper()
	s := get(t)
	name := fmt.Sprintf("test_%d", dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v\n%s", err, s.log)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.url(name)
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, db)
}

func get(t testing.TB) *server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		return srv
	}
	if fail != "" {
		t.Fatal(fail)
	}
	bin := binDir(t)
	s, err := start(t, bin)
	if err != nil {
		fail = "pgtest: " + err.Error()
		t.Fatal(fail)
	}
	srv = s
	return s
}

// binDir finds the newest /usr/lib/postgresql/*/bin with initdb.
func binDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if len(dirs) == 0 {
		testenv.Unavailable(t, "PostgreSQL not found in /usr/lib/postgresql; install the Debian package postgresql (scripts/setup does)")
	}
	return filepath.Dir(dirs[0])
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// dirPrefix starts the name of each server's temporary directory; the file
// owner in it holds the test process's pid.
const dirPrefix = "mynagate-pgtest-"

func start(t testing.TB, bin string) (*server, error) {
	removeStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", superuser, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{dir: dir, port: port, log: new(bytes.Buffer), exited: make(chan struct{})}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// The server ends with the test process, even one killed: SIGQUIT is
	// PostgreSQL's immediate shutdown.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			c.Close(ctx)
			cancel()
			return s, nil
		}
		cancel()
		select {
		case <-s.exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited at start:\n%s", s.log)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("postgres does not answer on port %d after a minute: %w\n%s", s.port, err, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// credential is whom the server runs as: the invoking user, or postgres when
// that is root (PostgreSQL refuses root). dir is handed to that user.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and there is no postgres user to run the server as (the Debian package postgresql makes it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("hand %s to postgres: %w", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dir)
}

// StopAll stops the test process's server, if one was started, and removes
// its data. Call it from TestMain after m.Run.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.stop()
		srv = nil
	}
}

// freePort returns a loopback TCP port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeStale removes the directories of servers whose test process is gone
// (killed before StopAll; its server went with it).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue // being made, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}
