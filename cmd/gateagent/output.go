package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// printer writes a command's results: human text by default, one JSON object per
// line with --json.
type printer struct {
	w    io.Writer
	json bool
}

// emit writes one result. text is the human form; v the JSON form.
func (p printer) emit(v any, text string) error {
	if p.json {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintln(p.w, text)
	return err
}
