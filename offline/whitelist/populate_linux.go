package whitelist

import "syscall"

// mmapPopulate asks the kernel to read the whole file into the mapping at
// open (Options.Preload).
const mmapPopulate = syscall.MAP_POPULATE
