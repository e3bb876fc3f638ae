//go:build !unix

package tlsconf

import "os"

// fileID returns 0, 0 where os.FileInfo has no inode: modification time
// and size must then tell a replaced file.
func fileID(os.FileInfo) (dev, ino uint64) { return 0, 0 }
