//go:build !linux

package whitelist

// mmapPopulate is 0 where MAP_POPULATE does not exist: Preload then has no
// effect and pages are read on first use.
const mmapPopulate = 0
