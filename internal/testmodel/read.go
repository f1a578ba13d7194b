package testmodel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ErrFormat is wrapped by every error about a malformed or truncated GGUF file.
var ErrFormat = errors.New("invalid gguf file")

// File is what Read found in a GGUF file.
type File struct {
	Version    uint32
	Metadata   []KV         // in file order
	Tensors    []TensorInfo // in file order
	DataOffset int64        // where the tensor data starts (a multiple of the alignment)
	Size       int64        // total bytes read
}

// KV is one metadata entry. Value holds uint8..uint64, int8..int64, float32,
// float64, bool, string, or a slice of one of them.
type KV struct {
	Key   string
	Value any
}

// TensorInfo is one entry of the tensor table.
type TensorInfo struct {
	Name   string
	Dims   []uint64 // innermost first
	Type   uint32   // GGML type; 0 is F32
	Offset uint64   // relative to DataOffset
}

// Lookup returns the value of a metadata key.
func (f *File) Lookup(key string) (any, bool) {
	for _, p := range f.Metadata {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// Tensor returns the tensor table entry of a name.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// ReadFile reads and checks the GGUF file at path; see Read.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("testmodel: %w", err)
	}
	defer fh.Close()
	f, err := Read(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Read reads a whole GGUF v3 file and checks its structure: header, metadata, tensor
// table, that tensor offsets are aligned and do not overlap, and that the data
// section holds every tensor (F32 tensors only: other types' sizes are not known
// here). It returns an error wrapping ErrFormat when anything is wrong.
func Read(r io.Reader) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 1<<16)}
	f, err := d.file()
	if err != nil {
		return nil, fmt.Errorf("testmodel: %w at byte %d: %w", ErrFormat, d.n, err)
	}
	return f, nil
}

// maxCount bounds counts read from the file, so a corrupt length cannot make Read
// allocate without limit.
const maxCount = 1 << 24

type decoder struct {
	r   *bufio.Reader
	n   int64
	buf [8]byte
}

func (d *decoder) read(p []byte) error {
	n, err := io.ReadFull(d.r, p)
	d.n += int64(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (d *decoder) u8() (uint8, error) {
	err := d.read(d.buf[:1])
	return d.buf[0], err
}

func (d *decoder) u16() (uint16, error) {
	err := d.read(d.buf[:2])
	return binary.LittleEndian.Uint16(d.buf[:2]), err
}

func (d *decoder) u32() (uint32, error) {
	err := d.read(d.buf[:4])
	return binary.LittleEndian.Uint32(d.buf[:4]), err
}

func (d *decoder) u64() (uint64, error) {
	err := d.read(d.buf[:8])
	return binary.LittleEndian.Uint64(d.buf[:8]), err
}

func (d *decoder) count(what string) (int, error) {
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	if n > maxCount {
		return 0, fmt.Errorf("%s count %d is implausible", what, n)
	}
	return int(n), nil
}

func (d *decoder) str() (string, error) {
	n, err := d.count("string length")
	if err != nil {
		return "", err
	}
	p := make([]byte, n)
	err = d.read(p)
	return string(p), err
}

func (d *decoder) value(typ uint32) (any, error) {
	switch typ {
	case typeUint8:
		return d.u8()
	case typeInt8:
		v, err := d.u8()
		return int8(v), err
	case typeUint16:
		return d.u16()
	case typeInt16:
		v, err := d.u16()
		return int16(v), err
	case typeUint32:
		return d.u32()
	case typeInt32:
		v, err := d.u32()
		return int32(v), err
	case typeFloat32:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case typeBool:
		v, err := d.u8()
		if err == nil && v > 1 {
			err = fmt.Errorf("bool value %d", v)
		}
		return v == 1, err
	case typeString:
		return d.str()
	case typeUint64:
		return d.u64()
	case typeInt64:
		v, err := d.u64()
		return int64(v), err
	case typeFloat64:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case typeArray:
		return d.array()
	}
	return nil, fmt.Errorf("unknown value type %d", typ)
}

func (d *decoder) array() (any, error) {
	elem, err := d.u32()
	if err != nil {
		return nil, err
	}
	n, err := d.count("array")
	if err != nil {
		return nil, err
	}
	switch elem {
	case typeString:
		return readSlice(d, n, elem, func(v any) string { return v.(string) })
	case typeFloat32:
		return readSlice(d, n, elem, func(v any) float32 { return v.(float32) })
	case typeInt32:
		return readSlice(d, n, elem, func(v any) int32 { return v.(int32) })
	case typeUint32:
		return readSlice(d, n, elem, func(v any) uint32 { return v.(uint32) })
	case typeArray:
		return nil, errors.New("nested arrays are not supported")
	}
	return readSlice(d, n, elem, func(v any) any { return v })
}

func readSlice[T any](d *decoder, n int, elem uint32, conv func(any) T) ([]T, error) {
	out := make([]T, 0, min(n, 1<<16))
	for i := 0; i < n; i++ {
		v, err := d.value(elem)
		if err != nil {
			return nil, fmt.Errorf("array element %d: %w", i, err)
		}
		out = append(out, conv(v))
	}
	return out, nil
}

// file reads a whole GGUF file: header, metadata, tensor table, padding and the
// tensor data, which must hold every F32 tensor of the table.
func (d *decoder) file() (*File, error) {
	f, nt, nkv, err := d.header()
	if err != nil {
		return nil, err
	}
	align, err := d.metadata(f, nkv)
	if err != nil {
		return nil, err
	}
	for i := 0; i < nt; i++ {
		t, err := d.tensor(i, align)
		if err != nil {
			return nil, err
		}
		f.Tensors = append(f.Tensors, t)
	}
	// Padding up to the data section.
	if pad := alignUp(uint64(d.n), align) - uint64(d.n); pad > 0 {
		if err := d.read(make([]byte, pad)); err != nil {
			return nil, fmt.Errorf("padding before tensor data: %w", err)
		}
	}
	f.DataOffset = d.n
	end, err := dataEnd(f.Tensors)
	if err != nil {
		return nil, err
	}
	got, err := io.Copy(io.Discard, d.r)
	d.n += got
	if err != nil {
		return nil, err
	}
	if uint64(got) < end {
		return nil, fmt.Errorf("tensor data is %d bytes, the tensor table needs %d: %w", got, end, io.ErrUnexpectedEOF)
	}
	f.Size = d.n
	return f, nil
}

// header reads the magic, the version and the tensor and metadata counts.
func (d *decoder) header() (f *File, tensors, kvs int, err error) {
	magic := make([]byte, 4)
	if err := d.read(magic); err != nil {
		return nil, 0, 0, err
	}
	if string(magic) != Magic {
		return nil, 0, 0, fmt.Errorf("magic %q, want %q", magic, Magic)
	}
	f = &File{}
	if f.Version, err = d.u32(); err != nil {
		return nil, 0, 0, err
	}
	if f.Version != Version {
		return nil, 0, 0, fmt.Errorf("version %d, want %d", f.Version, Version)
	}
	if tensors, err = d.count("tensor"); err != nil {
		return nil, 0, 0, err
	}
	if kvs, err = d.count("metadata"); err != nil {
		return nil, 0, 0, err
	}
	return f, tensors, kvs, nil
}

// metadata reads n key-value pairs into f and returns the data alignment.
func (d *decoder) metadata(f *File, n int) (uint64, error) {
	align := uint64(Alignment)
	for i := 0; i < n; i++ {
		key, err := d.str()
		if err != nil {
			return 0, fmt.Errorf("metadata %d key: %w", i, err)
		}
		typ, err := d.u32()
		if err != nil {
			return 0, fmt.Errorf("metadata %q: %w", key, err)
		}
		v, err := d.value(typ)
		if err != nil {
			return 0, fmt.Errorf("metadata %q: %w", key, err)
		}
		if key == "general.alignment" {
			a, ok := v.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return 0, fmt.Errorf("general.alignment %v is not a power of two", v)
			}
			align = uint64(a)
		}
		f.Metadata = append(f.Metadata, KV{Key: key, Value: v})
	}
	return align, nil
}

// tensor reads the i-th entry of the tensor table.
func (d *decoder) tensor(i int, align uint64) (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = d.str(); err != nil {
		return t, fmt.Errorf("tensor %d name: %w", i, err)
	}
	nd, err := d.u32()
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if nd == 0 || nd > 4 {
		return t, fmt.Errorf("tensor %q has %d dimensions", t.Name, nd)
	}
	for j := uint32(0); j < nd; j++ {
		v, err := d.u64()
		if err != nil {
			return t, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		t.Dims = append(t.Dims, v)
	}
	if t.Type, err = d.u32(); err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if t.Offset, err = d.u64(); err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if t.Offset%align != 0 {
		return t, fmt.Errorf("tensor %q offset %d is not a multiple of %d", t.Name, t.Offset, align)
	}
	return t, nil
}

// dataEnd is where the data section must reach: each F32 tensor must fit before
// the next one starts, and the data section must hold the last one.
func dataEnd(tensors []TensorInfo) (uint64, error) {
	var end uint64
	for _, t := range tensors {
		if t.Offset < end {
			return 0, fmt.Errorf("tensor %q at offset %d overlaps the previous tensor ending at %d", t.Name, t.Offset, end)
		}
		if t.Type != ggmlTypeF32 {
			end = t.Offset
			continue
		}
		n := uint64(4)
		for _, dim := range t.Dims {
			if dim != 0 && n > math.MaxInt64/dim {
				return 0, fmt.Errorf("tensor %q is too large", t.Name)
			}
			n *= dim
		}
		end = t.Offset + n
	}
	return end, nil
}
