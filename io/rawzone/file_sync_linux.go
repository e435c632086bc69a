package rawzone

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// syncFile makes the contents of f, a file just written, durable before it
// is linked into place.
//
// One fsync per file costs a device cache flush per object: with 256
// webhook events in flight the flushes queued, and the receiver kept up
// with about 1,000 events/s on the bench machine. Instead the writers
// share syncfs(2) of the file system (group commit, see groupSync): one
// call writes back every file written since the previous one, their
// inodes, and flushes; the same machine, same afternoon, then took about
// 1,400-1,600 events/s (README, "Webhook receiver"). The price: syncfs also writes back other
// processes' dirty data on that file system, so a receiver host should
// keep its raw zone on a file system of its own.
//
// syncfs reports a write-back error only once and only through the
// descriptor it was called on, so each file then asks for its own errors
// with sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER): by now nothing
// is left to write, and the wait returns any write-back error of this
// file since it was opened (the per-file error cursor, Linux 4.16 and
// later). The link that follows is made durable by the directory's fsync,
// whose own flush also covers any metadata syncfs wrote after its flush.
func (s *FileStore) syncFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("syncing file: %w", err)
	}
	var syncErr error
	if err := rc.Control(func(fd uintptr) { syncErr = s.syncFD(int(fd)) }); err != nil {
		return fmt.Errorf("syncing file: %w", err)
	}
	return syncErr
}

// syncFD is syncFile of a raw descriptor.
func (s *FileStore) syncFD(fd int) error {
	if err := s.dataSync.run(func() error { return unix.Syncfs(fd) }); err != nil {
		return fmt.Errorf("syncing file system: %w", err)
	}
	const all = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	if err := unix.SyncFileRange(fd, 0, 0, all); err != nil {
		return fmt.Errorf("syncing file: %w", err)
	}
	return nil
}

// linkNew writes data to a file without a name (O_TMPFILE) in dir, makes
// it durable and links it to dst, which must be in dir: no temporary name
// is created, synced or removed, and a crash leaves nothing behind. The
// file is a bare descriptor: an *os.File would also try, and fail, to
// register each file with the network poller. (Keeping dir open and
// working relative to it saved nothing measurable, and a descriptor
// follows a directory that is moved away, while the name must land at
// its path.) File systems without O_TMPFILE, and systems without /proc
// (the unnamed file is linked through /proc/self/fd; linkat's
// AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH), get linkTemp.
func (s *FileStore) linkNew(dir, dst string, data []byte) error {
	if s.namedTemps || !procFDs() {
		return s.linkTemp(dst, data)
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			return s.linkTemp(dst, data)
		}
		return fmt.Errorf("creating file in %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := writeAll(fd, data); err != nil {
		return fmt.Errorf("writing file: %w", err)
	}
	if err := s.syncFD(fd); err != nil {
		return err
	}
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: "(unnamed)", New: dst, Err: err}
	}
	return nil
}

// writeAll writes data to fd, a regular file, whole.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// procFDs reports whether /proc/self/fd is there to link unnamed files.
var procFDs = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})
