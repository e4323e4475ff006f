package whitelist_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/offline/whitelist/whitelisttest"
)

// TestKilledImport kills a process (SIGKILL) while it writes a big import and
// checks the store afterwards: it must hold either the whole old list or the
// whole new one, never a mix, and open cleanly.
func TestKilledImport(t *testing.T) {
	if path := os.Getenv("WHITELIST_KILL_CHILD"); path != "" {
		s, err := whitelist.Open(path, whitelist.Options{})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		s.ImportCSV(whitelisttest.CSV(300_000), whitelisttest.Keyer, func(n int) {
			if n == 300_000 {
				fmt.Println("writing") // reading done; the batches go to disk now
			}
		})
		fmt.Println("done")
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("spawns a process importing 300k rows")
	}
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := whitelist.Open(path, whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportCSV(whitelisttest.CSV(1000), whitelisttest.Keyer, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledImport$")
	cmd.Env = append(os.Environ(), "WHITELIST_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "writing" && sc.Text() != "done" {
	}
	// Land the kill somewhere in sorting, batch writes or the swap; which
	// one varies from run to run, and every outcome must be whole.
	time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()

	s, err = whitelist.Open(path, whitelist.Options{})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer s.Close()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	switch st.Version {
	case 1:
		want = 1000
	case 2:
		want = 300_000
	default:
		t.Fatalf("version %d after kill", st.Version)
	}
	if st.Entries != want {
		t.Fatalf("version %d with %d entries, want %d", st.Version, st.Entries, want)
	}
	for _, i := range []int{0, 499, 999} {
		if _, ok, err := s.Lookup(whitelisttest.Key(i)); !ok || err != nil {
			t.Fatalf("card %d missing after kill (version %d): %v", i, st.Version, err)
		}
	}
	if st.Version == 2 {
		if _, ok, _ := s.Lookup(whitelisttest.Key(299_999)); !ok {
			t.Fatal("new list incomplete")
		}
	} else if _, ok, _ := s.Lookup(whitelisttest.Key(1000)); ok {
		t.Fatal("old list has an entry of the killed import")
	}
	t.Logf("killed import left version %d (%d entries)", st.Version, st.Entries)
}
