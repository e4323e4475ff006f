package agent

import "path"

func matchReader(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}
