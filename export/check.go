package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// ErrInvalid is wrapped by every error of Check.
var ErrInvalid = errors.New("not a valid community export")

// MaxFileBytes bounds the size of a file Check reads.
const MaxFileBytes = 64 << 20

var hex64RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Write writes f as indented JSON.
func Write(w io.Writer, f *File) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// Check validates an export against the format: exactly one JSON object, no
// field the format does not name (at any depth), the known format and version,
// dates without a time, a 64-hex machine fingerprint, identifiers that are
// identifiers, and no string that holds a path, URL, IP address or UUID. The
// error wraps ErrInvalid and says where the file breaks the format.
func Check(r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxFileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalid)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &f, nil
}

func (f *File) validate() error {
	if f.Format != Format {
		return fmt.Errorf("format %q, want %q", f.Format, Format)
	}
	if f.FormatVersion != FormatVersion {
		return fmt.Errorf("format_version %d, this code reads %d", f.FormatVersion, FormatVersion)
	}
	if err := checkDate("exported_on", f.ExportedOn); err != nil {
		return err
	}
	if f.Runs == nil {
		return errors.New("runs missing")
	}
	for i, r := range f.Runs {
		if err := r.validate(); err != nil {
			return fmt.Errorf("runs[%d]: %v", i, err)
		}
	}
	return nil
}

func (r *Run) validate() error {
	if err := checkDate("date", r.Date); err != nil {
		return err
	}
	if !hex64RE.MatchString(r.Machine) {
		return fmt.Errorf("machine %q is not 64 lower-case hex digits", r.Machine)
	}
	if field := r.checkVocab(); field != "" {
		return fmt.Errorf("%s is not a value of the format's vocabulary", field)
	}
	tokens := map[string]string{"mode": r.Mode, "status": r.Status, "typhon_version": r.TyphonVersion,
		"server.kind": r.Server.Kind, "server.version": r.Server.Version, "model.quantization": r.Model.Quantization,
		"hardware.os_family": r.Hardware.OSFamily}
	texts := map[string]string{"model.name": r.Model.Name, "hardware.cpu_model": r.Hardware.CPUModel}
	for i, g := range r.Hardware.GPUs {
		texts[fmt.Sprintf("hardware.gpus[%d].model", i)] = g.Model
		if g.MemoryMB < 0 {
			return fmt.Errorf("hardware.gpus[%d].memory_mb is negative", i)
		}
	}
	if r.Hardware.CPUCores < 0 || r.Hardware.RAMGB < 0 || r.Hardware.DriverMajor < 0 {
		return errors.New("hardware: negative count")
	}
	for i, b := range r.Benchmarks {
		p := fmt.Sprintf("benchmarks[%d].", i)
		tokens[p+"test_id"], tokens[p+"category"] = b.TestID, b.Category
		for j, k := range b.ErrorKinds {
			tokens[fmt.Sprintf("%serror_kinds[%d]", p, j)] = k
		}
		if b.CtxSize < 0 || b.MaxTokens < 0 || b.NRuns < 0 || b.SuccessfulRuns < 0 || b.AvgTPS < 0 || b.AvgTTFTS < 0 {
			return fmt.Errorf("%s: negative figure", p[:len(p)-1])
		}
	}
	for name, v := range tokens {
		if v != "" && token(v) != v {
			return fmt.Errorf("%s %q is not an identifier of the format", name, v)
		}
	}
	for name, v := range texts {
		if why := unsafeText(v); why != "" {
			return fmt.Errorf("%s holds %s", name, why)
		}
		if len([]rune(v)) > maxText {
			return fmt.Errorf("%s is longer than %d characters", name, maxText)
		}
		if text(v) != v {
			return fmt.Errorf("%s %q holds control characters or runs of spaces", name, v)
		}
	}
	return nil
}

func checkDate(name, v string) error {
	if _, err := time.Parse(DateLayout, v); err != nil {
		return fmt.Errorf("%s %q is not a date YYYY-MM-DD", name, v)
	}
	return nil
}
