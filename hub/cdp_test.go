package hub

import "fmt"

// gateCell is a JavaScript expression: the text of the gate table's cell in
// column col (0-based) of the row of gate, "" before the table is there.
func gateCell(gate string, col int) string {
	return fmt.Sprintf(`(() => { for (const r of document.querySelectorAll('#gates tr')) { const c = r.querySelectorAll('td');
		if (c.length > %d && c[1].textContent.trim() === %q) return c[%d].textContent.trim(); } return ''; })()`, col, gate, col)
}

// chartSum is a JavaScript expression: the taps a chart's bars of a class
// count (each bar's title holds its count).
func chartSum(id, class string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#%s rect.%s title')].reduce((s, t) => s + Number(t.textContent), 0) + ''`, id, class)
}
