package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable reads rows as JSON lines and prints them under a line that names
// the machine, so figures are never quoted without what they ran on.
func printTable(r io.Reader, w io.Writer) error {
	var rows []row
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var x row
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			return fmt.Errorf("table: row %q: %w", sc.Text(), err)
		}
		rows = append(rows, x)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "MynaGate bench  %s  %d cores  %s  %s\n\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), cpuModel(), runtime.Version())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "name\tvalue\tunit\tnote")
	for _, x := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Name, formatValue(x.Value), x.Unit, x.Note)
	}
	return tw.Flush()
}

func formatValue(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
