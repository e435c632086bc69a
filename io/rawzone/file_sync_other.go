//go:build !linux

package rawzone

import "os"

// syncFile makes the contents of f durable: elsewhere than on Linux, by
// its own fsync (no syncfs).
func (s *FileStore) syncFile(f *os.File) error { return f.Sync() }

// linkNew is linkTemp.
func (s *FileStore) linkNew(_, dst string, data []byte) error { return s.linkTemp(dst, data) }
