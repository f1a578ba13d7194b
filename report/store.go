package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Sentinel errors of the package.
var (
	// ErrNotFound: no record with that run id.
	ErrNotFound = errors.New("record not found")
	// ErrInvalidRunID: the run id cannot name a record file (empty, too long, a
	// path separator, a leading dot...). Load wraps ErrNotFound beside it.
	ErrInvalidRunID = errors.New("invalid run id")
	// ErrInvalidRecord: the bytes are not a Typhon record (DecodeResult).
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidLine: the bytes are not a chronicle line (DecodeChronicleLine).
	ErrInvalidLine = errors.New("invalid chronicle line")
)

// Names of the files in a Store's directory.
const (
	RunsDir       = "runs"            // one <run_id>.json per run
	ChronicleFile = "chronicle.jsonl" // one line per benchmark of a finished run
	LastRunFile   = "last_run.json"   // a copy of the latest finished record
)

// maxRunIDLen bounds a run id, so that "<id>.json" and its temp file names fit in
// any file system's name limit.
const maxRunIDLen = 128

// staleTempAge is how old a temp file must be before Recover removes it: younger
// ones may belong to a writer in another process.
const staleTempAge = time.Minute

// WriteError is the error of a write that did not reach the disk. Its text starts
// with "cannot write record: ", followed by the cause (e.g. "write
// /data/runs/.a3f1c820.json.tmp-1234: no space left on device"); Unwrap gives the
// cause, so errors.Is(err, syscall.ENOSPC) works.
type WriteError struct {
	Path string // the file that was being written
	Err  error
}

func (e *WriteError) Error() string { return "cannot write record: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Store keeps the records of runs in Dir:
//
//	Dir/runs/<run_id>.json   one record per run (WriteJSON), replaced atomically
//	Dir/chronicle.jsonl      one ChronicleLine per benchmark of a finished run
//	Dir/last_run.json        a copy of the latest finished record
//
// A record is written to a temp file in the same directory, fsynced, renamed over
// the old one and the directory fsynced, so a crash or a full disk leaves either
// the old record or the new one, never a truncated file. The lines of a run are
// appended to the chronicle in one write and fsynced; a failed append is cut back
// to the previous size, and a line torn by a crash is repaired at the next append
// and skipped when reading.
//
// The zero value is not usable: set Dir. A Store must not be copied after first
// use. Its methods are safe for concurrent use, and so are several Stores on one
// Dir in one process; two processes writing one Dir are not supported.
type Store struct {
	Dir    string
	Logger *slog.Logger // nil: discard

	fs fileSystem // nil: the operating system (tests inject failures)

	// cache holds the summaries List decoded, by file name, with the size and
	// modification time they were read at, so paging does not decode every
	// record again.
	cacheMu sync.Mutex
	cache   map[string]cachedSummary
}

type cachedSummary struct {
	size    int64
	modTime time.Time
	sum     Summary
	bad     bool // the file is not a record of its run
}

// dirLocks serialises the writers of one directory across Store values.
var dirLocks sync.Map // cleaned Dir -> *sync.Mutex

func (s *Store) lock() func() {
	key := filepath.Clean(s.Dir)
	if abs, err := filepath.Abs(key); err == nil {
		key = abs
	}
	m, _ := dirLocks.LoadOrStore(key, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (s *Store) fsys() fileSystem {
	if s.fs == nil {
		return osFS{}
	}
	return s.fs
}

func (s *Store) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// ValidRunID reports whether id can name a record: 1 to 128 characters, letters,
// digits, '-', '_' and '.', starting with a letter or digit.
func ValidRunID(id string) bool {
	if id == "" || len(id) > maxRunIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (s *Store) runsDir() string             { return filepath.Join(s.Dir, RunsDir) }
func (s *Store) recordPath(id string) string { return filepath.Join(s.runsDir(), id+".json") }

func (s *Store) check(res *schema.Result) error {
	if s.Dir == "" {
		return &WriteError{Err: errors.New("report: Store.Dir is empty")}
	}
	if res == nil {
		return &WriteError{Err: errors.New("report: nil result")}
	}
	if !ValidRunID(res.RunID) {
		return &WriteError{Err: fmt.Errorf("%w %q", ErrInvalidRunID, res.RunID)}
	}
	return nil
}

// Save writes the record of res to Dir/runs/<run_id>.json, replacing the previous
// version atomically. Runner calls it when a run starts (status "running"), after
// every test and at the end, so a process killed mid-run leaves its finished
// tests on disk. The error is a *WriteError.
func (s *Store) Save(res *schema.Result) error {
	if err := s.check(res); err != nil {
		return err
	}
	data, err := marshalRecord(res)
	if err != nil {
		return &WriteError{Err: err}
	}
	unlock := s.lock()
	defer unlock()
	s.forget(res.RunID) // this write replaces a pending one of the run
	s.settleLocked()
	return s.saveLocked(res.RunID, data)
}

func (s *Store) saveLocked(id string, data []byte) error {
	dir := s.runsDir()
	if err := s.fsys().MkdirAll(dir); err != nil {
		return &WriteError{Path: dir, Err: err}
	}
	return s.writeAtomic(s.recordPath(id), data)
}

// writeAtomic replaces path with data: temp file in the same directory, write,
// fsync, close, rename, fsync of the directory. On failure the temp file is
// removed and path is untouched.
func (s *Store) writeAtomic(path string, data []byte) (err error) {
	fsys := s.fsys()
	dir, base := filepath.Split(path)
	f, err := fsys.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return &WriteError{Path: path, Err: err}
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err == nil {
			return
		}
		if !closed {
			_ = f.Close()
		}
		if rerr := fsys.Remove(tmp); rerr != nil {
			s.log().Warn("cannot remove temp file", "path", tmp, "err", rerr)
		}
		err = &WriteError{Path: path, Err: err}
	}()
	if err := writeFull(f, data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return err
	}
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	return nil
}

// writeFull writes all of data or returns an error (a short write without an
// error counts as io.ErrShortWrite).
func writeFull(w io.Writer, data []byte) error {
	n, err := w.Write(data)
	if err != nil {
		return err
	}
	if n != len(data) {
		return io.ErrShortWrite
	}
	return nil
}

// Finish writes the final record of a run and appends its benchmarks to the
// chronicle; both are on disk when Finish returns nil. It then replaces
// last_run.json (a failure there is only logged). res.Status must be final (not
// "" or "running"). The error is a *WriteError. A failed Finish leaves every
// earlier file intact: the chronicle gets all the lines of the run or none, and
// when the record was written but the chronicle append failed, the record is
// rewritten (best effort) with status "failed" and the error's text, as Runner
// reports the job.
func (s *Store) Finish(res *schema.Result) error {
	data, lines, err := s.finalBytes(res, "Finish")
	if err != nil {
		return err
	}
	unlock := s.lock()
	defer unlock()
	s.forget(res.RunID) // this write replaces a pending one of the run
	s.settleLocked()
	if err := s.saveLocked(res.RunID, data); err != nil {
		// The record on disk still says "running": it is marked failed as soon
		// as the disk takes it (Settle), not at the next start.
		s.markFailedLater(res, err)
		return err
	}
	s.forget(res.RunID)
	if err := s.appendChronicle(lines); err != nil {
		// The record says the run ended well, the chronicle has no line of it:
		// rewrite the record the way the job will show it, now or, on a full
		// disk, as soon as it takes it (the chronicle then gets failed lines).
		failed := *res
		failed.Status = schema.StatusFailed
		failed.Error = err.Error()
		b, merr := marshalRecord(&failed)
		if merr == nil {
			merr = s.saveLocked(res.RunID, b)
		}
		if merr != nil {
			s.markFailedLater(res, err)
		}
		return err
	}
	// last_run.json is a convenience copy: the record and the chronicle are
	// already durable, so a failure here is logged, not returned.
	if err := s.writeAtomic(filepath.Join(s.Dir, LastRunFile), data); err != nil {
		s.log().Warn("cannot update last_run.json", "err", err)
	}
	return nil
}

// appendChronicle appends data (whole lines) to the chronicle in one write and
// fsyncs it. On failure the file is cut back to its previous size, so it never
// keeps part of a line. A torn last line left by a crash is repaired first.
func (s *Store) appendChronicle(data []byte) (err error) {
	if len(data) == 0 {
		return nil
	}
	fsys := s.fsys()
	path := filepath.Join(s.Dir, ChronicleFile)
	if err := fsys.MkdirAll(s.Dir); err != nil {
		return &WriteError{Path: s.Dir, Err: err}
	}
	f, err := fsys.OpenAppend(path)
	if err != nil {
		return &WriteError{Path: path, Err: err}
	}
	defer func() {
		// After a successful fsync the lines are on disk: a failed close does
		// not undo them, and reporting it would make the record contradict the
		// chronicle.
		if cerr := f.Close(); cerr != nil {
			s.log().Warn("closing the chronicle", "path", path, "err", cerr)
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return &WriteError{Path: path, Err: err}
	}
	size := fi.Size()
	if size > 0 {
		if size, err = s.repairTail(f, size); err != nil {
			return &WriteError{Path: path, Err: err}
		}
	}
	werr := writeFull(f, data)
	if werr == nil {
		werr = f.Sync()
	}
	if werr != nil {
		if terr := f.Truncate(size); terr != nil {
			s.log().Error("cannot cut the chronicle back after a failed append", "path", path, "err", terr)
		} else if serr := f.Sync(); serr != nil {
			s.log().Warn("cannot sync the chronicle after cutting it back", "path", path, "err", serr)
		}
		return &WriteError{Path: path, Err: werr}
	}
	if size == 0 {
		if err := fsys.SyncDir(s.Dir); err != nil {
			return &WriteError{Path: s.Dir, Err: err}
		}
	}
	return nil
}

// repairTail makes the chronicle end with a newline. A last line without one was
// torn by a crash during an append: if it still decodes, its newline is added;
// otherwise it is cut off. It returns the new size.
func (s *Store) repairTail(f file, size int64) (int64, error) {
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return size, err
	}
	if last[0] == '\n' {
		return size, nil
	}
	// Find the start of the torn line.
	start := int64(0)
	const chunk = 4096
	buf := make([]byte, chunk)
	for end := size; end > 0; {
		off := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-off], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return size, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			start = off + int64(i) + 1
			break
		}
		end = off
	}
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil && !errors.Is(err, io.EOF) {
		return size, err
	}
	if _, err := DecodeChronicleLine(tail); err == nil {
		if err := writeFull(f, []byte{'\n'}); err != nil {
			return size, err
		}
		s.log().Warn("chronicle: completed a last line that had lost its newline", "bytes", len(tail))
		return size + 1, nil
	}
	if err := f.Truncate(start); err != nil {
		return size, err
	}
	s.log().Warn("chronicle: removed a torn last line", "bytes", len(tail))
	return start, nil
}

// Load reads the record of one run. An unknown id is an error wrapping
// ErrNotFound; an id that cannot name a record (e.g. "../x") wraps both
// ErrInvalidRunID and ErrNotFound.
func (s *Store) Load(runID string) (*schema.Result, error) {
	if !ValidRunID(runID) {
		return nil, fmt.Errorf("report: load %q: %w (%w)", runID, ErrInvalidRunID, ErrNotFound)
	}
	if s.Dir == "" {
		return nil, errors.New("report: Store.Dir is empty")
	}
	s.Settle()
	b, err := s.readRecord(s.recordPath(runID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("report: load %q: %w", runID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("report: load %q: %w", runID, err)
	}
	res, err := DecodeResult(b)
	if err != nil {
		return nil, fmt.Errorf("report: load %q: %w", runID, err)
	}
	if res.RunID != runID {
		return nil, fmt.Errorf("report: load %q: %w: the file holds run id %q", runID, ErrInvalidRecord, cutID(res.RunID))
	}
	return res, nil
}

// Summary is one line of the history: a record without its benchmarks.
type Summary struct {
	RunID      string        `json:"run_id"`
	RunAt      time.Time     `json:"run_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Status     schema.Status `json:"status"`
	Mode       schema.Mode   `json:"mode"`
	Model      string        `json:"model"`
	Server     string        `json:"server"`
	Benchmarks int           `json:"benchmarks"`
	// Failed counts the tests with at least one failed run or a test error.
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Error   string `json:"error,omitempty"`
}

// Summarize is the Summary of a record.
func Summarize(res *schema.Result) Summary {
	sum := Summary{
		RunID:      res.RunID,
		RunAt:      res.RunAt,
		FinishedAt: res.FinishedAt,
		Status:     res.Status,
		Mode:       res.Mode,
		Model:      res.Model,
		Server:     res.Server.Name,
		Benchmarks: len(res.Benchmarks),
		Error:      res.Error,
	}
	for i := range res.Benchmarks {
		switch BenchmarkStatus(&res.Benchmarks[i]) {
		case OutcomeFailed, OutcomePartial:
			sum.Failed++
		case OutcomeSkipped:
			sum.Skipped++
		}
	}
	return sum
}

// List returns the summaries of the records on disk, newest first (by run_at,
// then run id), from offset, at most limit of them (limit <= 0: all), and the
// total number of records. It reads the disk on every call, so it sees records of
// earlier processes. Files that do not decode are left out and logged.
func (s *Store) List(offset, limit int) ([]Summary, int, error) {
	if offset < 0 {
		return nil, 0, fmt.Errorf("report: list: negative offset %d", offset)
	}
	if s.Dir == "" {
		return nil, 0, errors.New("report: Store.Dir is empty")
	}
	s.Settle()
	entries, err := s.fsys().ReadDir(s.runsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("report: list records: %w", err)
	}
	var all []Summary
	fresh := make(map[string]cachedSummary, len(entries))
	s.cacheMu.Lock()
	old := s.cache
	s.cacheMu.Unlock()
	for _, e := range entries {
		id, ok := recordID(e)
		if !ok {
			continue
		}
		info, ierr := e.Info()
		if ierr == nil {
			if c, ok := old[e.Name()]; ok && c.size == info.Size() && c.modTime.Equal(info.ModTime()) {
				fresh[e.Name()] = c
				if !c.bad {
					all = append(all, c.sum)
				}
				continue
			}
		}
		sum, size, err := s.summaryOf(id, e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		var bad bool
		switch {
		case errors.Is(err, ErrInvalidRecord):
			// Remembered as bad until the file changes: not read again per call.
			s.log().Warn("skipping a record that does not decode", "file", e.Name(), "err", err)
			bad = true
		case err != nil:
			return nil, 0, fmt.Errorf("report: list records: %w", err)
		default:
			all = append(all, sum)
		}
		if ierr == nil && (size == info.Size() || bad) {
			fresh[e.Name()] = cachedSummary{size: info.Size(), modTime: info.ModTime(), sum: sum, bad: bad}
		}
	}
	s.cacheMu.Lock()
	s.cache = fresh
	s.cacheMu.Unlock()
	slices.SortFunc(all, func(a, b Summary) int {
		if c := b.RunAt.Compare(a.RunAt); c != 0 {
			return c
		}
		return strings.Compare(b.RunID, a.RunID)
	})
	total := len(all)
	if offset >= total {
		return nil, total, nil
	}
	page := all[offset:]
	if limit > 0 && limit < len(page) {
		page = page[:limit]
	}
	return slices.Clip(page), total, nil
}

// recordID is the run id a directory entry of runs/ holds a record of.
func recordID(e fs.DirEntry) (string, bool) {
	if e.IsDir() {
		return "", false
	}
	id, ok := strings.CutSuffix(e.Name(), ".json")
	if !ok || !ValidRunID(id) {
		return "", false
	}
	return id, true
}

// Chronicle reads chronicle.jsonl. Lines that do not decode (a line torn by a
// crash) are skipped and logged. No chronicle yet is no lines and no error.
func (s *Store) Chronicle() ([]ChronicleLine, error) {
	b, err := s.fsys().ReadFile(filepath.Join(s.Dir, ChronicleFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: read chronicle: %w", err)
	}
	lines, skipped, err := ReadChronicle(bytes.NewReader(b))
	if skipped > 0 {
		s.log().Warn("chronicle: skipped lines that do not decode", "lines", skipped)
	}
	return lines, err
}
