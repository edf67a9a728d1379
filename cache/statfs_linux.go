package cache

import "syscall"

// statfs measures the filesystem that holds dir.
func statfs(dir string) (Filesystem, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return Filesystem{}, err
	}
	bs := int64(st.Bsize)
	return Filesystem{
		Size:  int64(st.Blocks) * bs,
		Used:  int64(st.Blocks-st.Bfree) * bs,
		Avail: int64(st.Bavail) * bs,
	}, nil
}
