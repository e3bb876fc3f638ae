package policy

import "unsafe"

// unsafeString views b as a string without copying; the caller keeps b
// unchanged while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
