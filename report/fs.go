package report

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// fileSystem is the part of the operating system a Store writes through. Tests
// swap it for one that fails like a full disk.
type fileSystem interface {
	MkdirAll(dir string) error
	// CreateTemp creates a new file for writing in dir (os.CreateTemp).
	CreateTemp(dir, pattern string) (file, error)
	// OpenAppend opens name for appending, creating it if needed.
	OpenAppend(name string) (file, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	ReadFile(name string) ([]byte, error)
	// ReadFileMax reads at most limit bytes of name (more than limit bytes
	// read means the file is larger).
	ReadFileMax(name string, limit int64) ([]byte, error)
	ReadDir(dir string) ([]fs.DirEntry, error)
	// SyncDir makes the entries of dir durable (fsync of the directory).
	SyncDir(dir string) error
}

// file is an open file of a fileSystem; *os.File implements it.
type file interface {
	io.Writer
	io.ReaderAt
	Name() string
	Sync() error
	Close() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
}

// osFS is the real file system.
type osFS struct{}

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (osFS) CreateTemp(dir, pattern string) (file, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) OpenAppend(name string) (file, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (osFS) ReadFileMax(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
func (osFS) ReadDir(dir string) ([]fs.DirEntry, error) { return os.ReadDir(dir) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) { // file systems that cannot sync a directory
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
