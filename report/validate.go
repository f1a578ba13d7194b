package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/typhonbench/typhon/schema"
)

// DecodeStrict decodes one finished record, refusing what does not fit the
// schema: unknown fields, trailing data, a key given twice in one object, an
// unknown mode, a model id over 512 bytes, and anything ValidateRecord refuses.
// A collector uses it on records uploaded to it. The error wraps
// ErrInvalidRecord.
func DecodeStrict(b []byte) (*schema.Result, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var res schema.Result
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("report: %w: %w", ErrInvalidRecord, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("report: %w: data after the record", ErrInvalidRecord)
	}
	if err := checkDuplicateKeys(b); err != nil {
		return nil, fmt.Errorf("report: %w: %w", ErrInvalidRecord, err)
	}
	if err := ValidateRecord(&res); err != nil {
		return nil, err
	}
	if err := validateNames(&res); err != nil {
		return nil, fmt.Errorf("report: %w: %w", ErrInvalidRecord, err)
	}
	return &res, nil
}

// maxBenchmarks bounds the tests and load levels of a record taken from
// outside: a full plan runs about twenty, a sweep a few dozen levels.
const maxBenchmarks = 1024

// ValidateRecord checks that res is a finished record whose figures hold
// together: a known schema version, a valid run id, a final status, each load
// level's request columns as many as its completed and failed requests, each
// histogram decoding to as many samples as its figures count, and a worker's
// levels matching its load levels. The error wraps ErrInvalidRecord.
func ValidateRecord(res *schema.Result) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("report: %w: %s", ErrInvalidRecord, fmt.Sprintf(format, a...))
	}
	switch {
	case res.SchemaVersion < 1 || res.SchemaVersion > schema.Version:
		return bad("schema_version %d: want 1 to %d", res.SchemaVersion, schema.Version)
	case !ValidRunID(res.RunID):
		return bad("run_id %q cannot name a record", res.RunID)
	case res.RunAt.IsZero():
		return bad("run_at is missing")
	case res.Benchmarks == nil:
		return bad("benchmarks is missing")
	case len(res.Benchmarks) > maxBenchmarks:
		// Each load level decodes up to four histograms of 47,000 buckets:
		// 16,000 levels in one upload cost the collector 5 s of CPU.
		return bad("%d benchmarks: at most %d", len(res.Benchmarks), maxBenchmarks)
	}
	switch res.Status {
	case schema.StatusComplete, schema.StatusFailed, schema.StatusCancelled, schema.StatusInterrupted:
	default:
		return bad("status %q: want a final status", res.Status)
	}
	levels := 0
	for i := range res.Benchmarks {
		b := &res.Benchmarks[i]
		if b.TestID == "" {
			return bad("benchmark %d has no test_id", i)
		}
		if b.Category != schema.CategoryLoad {
			if err := validateClassic(b); err != nil {
				return bad("%s: %v", b.TestID, err)
			}
			continue
		}
		levels++
		if err := validateLevel(b); err != nil {
			return bad("%s: %v", b.TestID, err)
		}
	}
	if err := validateWorker(res, levels); err != nil {
		return bad("%v", err)
	}
	return nil
}

// validateLevel checks one load level's figures against its columns and
// histograms.
func validateLevel(b *schema.Benchmark) error {
	l := b.LoadLevel
	switch {
	case l == nil:
		return errors.New("a load level without its figures")
	case l.Shape != schema.LoadUsers && l.Shape != schema.LoadRate:
		return fmt.Errorf("shape %q", l.Shape)
	case l.Completed < 0 || l.Failed < 0 || l.Incomplete < 0 || l.WindowS < 0:
		return errors.New("negative counts or window")
	}
	if q := l.Requests; q != nil {
		n := len(q.StartS)
		if len(q.TTFTS) != n || len(q.E2ES) != n || len(q.OutputTokens) != n || len(q.PromptTokens) != n || len(q.OK) != n {
			return errors.New("request columns of different lengths")
		}
		if n != l.Completed+l.Failed {
			return fmt.Errorf("%d requests in the columns, %d completed and %d failed", n, l.Completed, l.Failed)
		}
	}
	if err := validateLoadFigures(b); err != nil {
		return err
	}
	ds := map[string]schema.Dist{"ttft_s": l.Latency.TTFTS, "itl_s": l.Latency.ITLS, "tpot_s": l.Latency.TPOTS, "e2e_s": l.Latency.E2ES}
	for name, enc := range l.HDR {
		d, ok := ds[name]
		if !ok {
			return fmt.Errorf("histogram of unknown series %q", name)
		}
		h, err := decodeHDR(enc)
		if err != nil {
			return fmt.Errorf("histogram %s: %w", name, err)
		}
		if h.TotalCount() != int64(d.N) {
			return fmt.Errorf("histogram %s holds %d samples, latency says %d", name, h.TotalCount(), d.N)
		}
		if err := hdrMatches(h, d); err != nil {
			return fmt.Errorf("histogram %s: %w", name, err)
		}
	}
	return nil
}
