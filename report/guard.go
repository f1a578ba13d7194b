package report

import (
	"fmt"
	"math"
	"path/filepath"
	"reflect"
)

// MaxRecordBytes bounds a record file the Store reads: a record of the full
// plan is well under a megabyte; a larger file is not read, so one stray file
// cannot cost memory or time on every listing.
const MaxRecordBytes = 32 << 20

// readRecord reads a record file of at most MaxRecordBytes; a larger one is an
// error wrapping ErrInvalidRecord.
func (s *Store) readRecord(path string) ([]byte, error) {
	b, err := s.fsys().ReadFileMax(path, MaxRecordBytes)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidRecord, filepath.Base(path), MaxRecordBytes)
	}
	return b, nil
}

// summaryOf reads and summarises the record file name of run id; it returns the
// bytes read. A file that is not a record of that run wraps ErrInvalidRecord.
func (s *Store) summaryOf(id, name string) (Summary, int64, error) {
	b, err := s.readRecord(filepath.Join(s.runsDir(), name))
	if err != nil {
		return Summary{}, int64(len(b)), err
	}
	res, err := DecodeResult(b)
	if err != nil {
		return Summary{}, int64(len(b)), err
	}
	switch res.RunID {
	case "":
		res.RunID = id
	case id:
	default:
		return Summary{}, int64(len(b)), fmt.Errorf("%w: the file of run %q holds run id %q", ErrInvalidRecord, id, cutID(res.RunID))
	}
	return Summarize(res), int64(len(b)), nil
}

// cutID bounds an id from a file for an error message.
func cutID(id string) string {
	if len(id) > 80 {
		return id[:80] + "..."
	}
	return id
}

// scrubFloats sets every NaN or infinite float reachable from v to 0 and returns
// how many it changed. A record must always encode: a number no measurement can
// produce would otherwise lose the whole run.
func scrubFloats(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); (math.IsNaN(f) || math.IsInf(f, 0)) && v.CanSet() {
			v.SetFloat(0)
			return 1
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return scrubFloats(v.Elem())
		}
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				n += scrubFloats(v.Field(i))
			}
		}
		return n
	case reflect.Slice, reflect.Array:
		n := 0
		for i := range v.Len() {
			n += scrubFloats(v.Index(i))
		}
		return n
	case reflect.Map:
		n := 0
		iter := v.MapRange()
		for iter.Next() {
			val := iter.Value()
			if k := val.Kind(); (k == reflect.Float64 || k == reflect.Float32) && (math.IsNaN(val.Float()) || math.IsInf(val.Float(), 0)) {
				v.SetMapIndex(iter.Key(), reflect.Zero(val.Type()))
				n++
			}
		}
		return n
	}
	return 0
}
