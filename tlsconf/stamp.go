package tlsconf

import (
	"os"
	"slices"
)

// stamp is what Watch compares to notice that a file changed: its
// modification time, size and inode. The inode catches a new file renamed
// over the old one (certbot, kubelet's symlink swap: os.Stat follows
// links) even when the time and size agree.
type stamp struct {
	path     string
	ok       bool // the stat succeeded; a missing file is a state too
	mtime    int64
	size     int64
	dev, ino uint64
}

func statFile(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{path: path}
	}
	dev, ino := fileID(fi)
	return stamp{path: path, ok: true, mtime: fi.ModTime().UnixNano(), size: fi.Size(), dev: dev, ino: ino}
}

// restat stamps again the files of old, in the same order.
func restat(old []stamp) []stamp {
	now := make([]stamp, len(old))
	for i, st := range old {
		now[i] = statFile(st.path)
	}
	return now
}

func stampsEqual(a, b []stamp) bool { return slices.Equal(a, b) }
