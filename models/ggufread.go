package models

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"
)

// File is a parsed and validated GGUF file. Metadata and tensor infos are held
// in memory; tensor data is read on demand from the underlying reader.
type File struct {
	Path       string // as given to Open; empty for Read
	Version    uint32 // 2 or 3
	Size       int64  // bytes in the file
	Alignment  uint64 // data alignment (general.alignment or 32)
	DataOffset int64  // start of the tensor data section
	Metadata   []KV   // in file order
	Tensors    []TensorInfo

	kvIndex     map[string]int
	tensorIndex map[string]int
	r           io.ReaderAt
	closer      io.Closer
}

// Open opens and validates the GGUF file at path. Close it when done.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("models: %w", err)
	}
	if st.IsDir() {
		fh.Close()
		return nil, fmt.Errorf("models: %s is a directory, not a GGUF file", path)
	}
	f, err := read(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// Read parses and validates a GGUF file of size bytes read from r. The File
// keeps r for TensorData; Close does not close it.
func Read(r io.ReaderAt, size int64) (*File, error) {
	return read(r, size, "")
}

// Close releases the file opened by Open.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// decoder reads the header sequentially through a buffer, tracking the offset
// so that every length can be checked against what is left of the file.
type decoder struct {
	br   *bufio.Reader
	off  int64
	size int64
	path string
	buf  [8]byte
}

func (d *decoder) errf(kind error, format string, args ...any) error {
	return &FormatError{Path: d.path, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// need checks that n more bytes exist for what, before anything is allocated.
func (d *decoder) need(n uint64, what string) error {
	left := uint64(d.size - d.off)
	if n > left {
		return d.errf(ErrTruncated, "%s at byte %d needs %d bytes but the file has %d bytes", what, d.off, n, d.size)
	}
	return nil
}

func (d *decoder) readFull(p []byte, what string) error {
	if err := d.need(uint64(len(p)), what); err != nil {
		return err
	}
	n, err := io.ReadFull(d.br, p)
	d.off += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return d.errf(ErrTruncated, "%s at byte %d: file ended early (it shrank while being read?)", what, d.off)
		}
		return fmt.Errorf("models: %s: reading %s: %w", d.pathOr(), what, err)
	}
	return nil
}

func (d *decoder) pathOr() string {
	if d.path == "" {
		return "GGUF"
	}
	return d.path
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.readFull(d.buf[:4], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(d.buf[:4]), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	if err := d.readFull(d.buf[:8], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(d.buf[:8]), nil
}

// str reads a length-prefixed string of at most max bytes.
func (d *decoder) str(what string, max uint64) (string, error) {
	start := d.off
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > max {
		return "", d.errf(ErrInvalid, "%s at byte %d is %d bytes long, more than the limit of %d", what, start, n, max)
	}
	if err := d.need(n, what); err != nil {
		return "", err
	}
	b := make([]byte, n)
	if err := d.readFull(b, what); err != nil {
		return "", err
	}
	return string(b), nil
}

func read(r io.ReaderAt, size int64, path string) (*File, error) {
	if size < 0 {
		return nil, &FormatError{Path: path, Kind: ErrInvalid, Msg: fmt.Sprintf("negative file size %d", size)}
	}
	d := &decoder{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(min(max(size, 16), 1<<16))), size: size, path: path}
	f := &File{Path: path, Size: size, r: r}

	// Header.
	if size < 4 {
		return nil, d.errf(ErrNotGGUF, "the file has only %d bytes", size)
	}
	magic, err := d.u32("magic")
	if err != nil {
		return nil, err
	}
	if magic != ggufMagic {
		var m [4]byte
		binary.LittleEndian.PutUint32(m[:], magic)
		return nil, d.errf(ErrNotGGUF, "magic is %q, want \"GGUF\"", m[:])
	}
	if f.Version, err = d.u32("version"); err != nil {
		return nil, err
	}
	switch {
	case f.Version == 1:
		return nil, d.errf(ErrUnsupported, "GGUF version 1 is obsolete; convert the model again")
	case f.Version&0xffff == 0 && f.Version != 0:
		return nil, d.errf(ErrUnsupported, "version field %#x looks big-endian; only little-endian GGUF is supported", f.Version)
	case f.Version != 2 && f.Version != 3:
		return nil, d.errf(ErrUnsupported, "GGUF version %d, want 2 or 3", f.Version)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// Each KV takes at least 13 bytes (key length, one key byte, type, a u8)
	// and each tensor info at least 24, so the file size bounds both counts.
	left := uint64(size - d.off)
	if nKV > maxKVCount || nKV > left/13 {
		return nil, d.errf(ErrInvalid, "metadata count %d is impossible for a file of %d bytes", nKV, size)
	}
	if nTensors > maxTensorCount || nTensors > left/24 {
		return nil, d.errf(ErrInvalid, "tensor count %d is impossible for a file of %d bytes", nTensors, size)
	}

	// Metadata.
	f.Metadata = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for i := uint64(0); i < nKV; i++ {
		at := d.off
		key, err := d.str(fmt.Sprintf("metadata key #%d", i), maxKeyLen)
		if err != nil {
			return nil, err
		}
		if key == "" {
			return nil, d.errf(ErrInvalid, "metadata key #%d at byte %d is empty", i, at)
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, d.errf(ErrInvalid, "duplicate metadata key %q at byte %d", key, at)
		}
		v, err := d.value(key)
		if err != nil {
			return nil, err
		}
		f.kvIndex[key] = len(f.Metadata)
		f.Metadata = append(f.Metadata, KV{Key: key, Value: v})
	}

	f.Alignment = DefaultAlignment
	if v, ok := f.Value(KeyAlignment); ok {
		a, isU32 := v.(uint32)
		if !isU32 {
			return nil, d.errf(ErrInvalid, "%s is %s, want uint32", KeyAlignment, typeName(v))
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, d.errf(ErrInvalid, "%s is %d, want a power of two", KeyAlignment, a)
		}
		f.Alignment = uint64(a)
	}

	// Tensor infos.
	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tensorIndex = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		t, err := d.tensorInfo(i, f.Alignment)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return nil, d.errf(ErrInvalid, "duplicate tensor name %q", t.Name)
		}
		f.tensorIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	// Data section: aligned start, every tensor inside the file, no overlaps.
	dataOff := alignUp(uint64(d.off), f.Alignment)
	f.DataOffset = int64(dataOff)
	if len(f.Tensors) > 0 && dataOff > uint64(size) {
		return nil, d.errf(ErrTruncated, "the data section starts at byte %d but the file has %d bytes", dataOff, size)
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	var prevEnd uint64
	prev := -1
	for _, i := range order {
		t := &f.Tensors[i]
		start, c1 := bits.Add64(dataOff, t.Offset, 0)
		end, c2 := bits.Add64(start, t.Size, 0)
		if c1 != 0 || c2 != 0 || end > uint64(size) {
			if c1 != 0 || c2 != 0 {
				end = math.MaxUint64
			}
			return nil, d.errf(ErrTruncated, "tensor %q data ends at byte %d but the file has %d bytes", t.Name, end, size)
		}
		if prev >= 0 && t.Offset < prevEnd {
			return nil, d.errf(ErrInvalid, "tensor %q data (offset %d) overlaps tensor %q (ends at offset %d)", t.Name, t.Offset, f.Tensors[prev].Name, prevEnd)
		}
		prevEnd, prev = t.Offset+t.Size, i
	}
	return f, nil
}

func alignUp(n, a uint64) uint64 {
	if r := n % a; r != 0 {
		return n + (a - r)
	}
	return n
}

// tensorInfo reads and validates one tensor info.
func (d *decoder) tensorInfo(i uint64, alignment uint64) (TensorInfo, error) {
	var t TensorInfo
	at := d.off
	name, err := d.str(fmt.Sprintf("tensor #%d name", i), MaxTensorNameLen)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) && fe.Kind == ErrInvalid {
			return t, d.errf(ErrInvalid, "tensor #%d name at byte %d is longer than ggml's limit of %d bytes", i, at, MaxTensorNameLen)
		}
		return t, err
	}
	if name == "" {
		return t, d.errf(ErrInvalid, "tensor #%d at byte %d has an empty name", i, at)
	}
	t.Name = name
	nDims, err := d.u32(fmt.Sprintf("tensor %q dimension count", name))
	if err != nil {
		return t, err
	}
	if nDims > MaxDims {
		return t, d.errf(ErrInvalid, "tensor %q has %d dimensions, ggml allows at most %d", name, nDims, MaxDims)
	}
	t.Shape = make([]uint64, nDims)
	elems := uint64(1)
	for j := range t.Shape {
		n, err := d.u64(fmt.Sprintf("tensor %q dimension %d", name, j))
		if err != nil {
			return t, err
		}
		if n == 0 || n > math.MaxInt64 {
			return t, d.errf(ErrInvalid, "tensor %q dimension %d is %d, want 1 to 2^63-1", name, j, int64(n))
		}
		hi, lo := bits.Mul64(elems, n)
		if hi != 0 || lo > math.MaxInt64 {
			return t, d.errf(ErrInvalid, "tensor %q shape %v has more than 2^63-1 elements", name, t.Shape[:j+1])
		}
		elems = lo
		t.Shape[j] = n
	}
	typ, err := d.u32(fmt.Sprintf("tensor %q type", name))
	if err != nil {
		return t, err
	}
	t.Type = GGMLType(typ)
	if !t.Type.Valid() {
		return t, d.errf(ErrInvalid, "tensor %q has unknown ggml type %d", name, typ)
	}
	if t.Size, err = tensorBytes(t.Type, t.Shape); err != nil {
		return t, d.errf(ErrInvalid, "tensor %q (%s, shape %v): %v", name, t.Type, t.Shape, err)
	}
	if t.Offset, err = d.u64(fmt.Sprintf("tensor %q offset", name)); err != nil {
		return t, err
	}
	if t.Offset%alignment != 0 {
		return t, d.errf(ErrInvalid, "tensor %q offset %d is not a multiple of the alignment %d", name, t.Offset, alignment)
	}
	return t, nil
}

// value reads a type tag and the value that follows it.
func (d *decoder) value(key string) (any, error) {
	typ, err := d.u32(fmt.Sprintf("type of %q", key))
	if err != nil {
		return nil, err
	}
	t := ValueType(typ)
	if t != ValueTypeArray {
		if t.size() == 0 {
			return nil, d.errf(ErrInvalid, "metadata key %q has unknown value type %d", key, typ)
		}
		return d.scalar(key, t)
	}
	et, err := d.u32(fmt.Sprintf("array type of %q", key))
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	if elem == ValueTypeArray {
		return nil, d.errf(ErrInvalid, "metadata key %q is an array of arrays, which ggml does not support", key)
	}
	if elem.size() == 0 {
		return nil, d.errf(ErrInvalid, "metadata key %q is an array of unknown type %d", key, et)
	}
	n, err := d.u64(fmt.Sprintf("array length of %q", key))
	if err != nil {
		return nil, err
	}
	// Bound the length by the bytes left before allocating anything.
	left := uint64(d.size - d.off)
	if n > maxArrayLen || n > left/uint64(elem.size()) {
		return nil, d.errf(ErrTruncated, "metadata key %q is an array of %d %s values, more than the %d bytes left can hold", key, n, elem, left)
	}
	if elem == ValueTypeString {
		out := make([]string, n)
		for i := range out {
			if out[i], err = d.str(fmt.Sprintf("%q[%d]", key, i), maxStringLen); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	raw := make([]byte, n*uint64(elem.size()))
	if err := d.readFull(raw, fmt.Sprintf("array %q", key)); err != nil {
		return nil, err
	}
	return decodeArray(elem, raw, int(n)), nil
}

func (d *decoder) scalar(key string, t ValueType) (any, error) {
	if t == ValueTypeString {
		return d.str(fmt.Sprintf("value of %q", key), maxStringLen)
	}
	b := d.buf[:t.size()]
	if err := d.readFull(b, fmt.Sprintf("value of %q", key)); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch t {
	case ValueTypeUint8:
		return b[0], nil
	case ValueTypeInt8:
		return int8(b[0]), nil
	case ValueTypeBool:
		return b[0] != 0, nil
	case ValueTypeUint16:
		return le.Uint16(b), nil
	case ValueTypeInt16:
		return int16(le.Uint16(b)), nil
	case ValueTypeUint32:
		return le.Uint32(b), nil
	case ValueTypeInt32:
		return int32(le.Uint32(b)), nil
	case ValueTypeFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case ValueTypeUint64:
		return le.Uint64(b), nil
	case ValueTypeInt64:
		return int64(le.Uint64(b)), nil
	case ValueTypeFloat64:
		return math.Float64frombits(le.Uint64(b)), nil
	}
	return nil, d.errf(ErrInvalid, "metadata key %q has unknown value type %d", key, uint32(t))
}

func decodeArray(t ValueType, b []byte, n int) any {
	le := binary.LittleEndian
	switch t {
	case ValueTypeUint8:
		return b
	case ValueTypeInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(b[i])
		}
		return out
	case ValueTypeBool:
		out := make([]bool, n)
		for i := range out {
			out[i] = b[i] != 0
		}
		return out
	case ValueTypeUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = le.Uint16(b[2*i:])
		}
		return out
	case ValueTypeInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le.Uint16(b[2*i:]))
		}
		return out
	case ValueTypeUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(b[4*i:])
		}
		return out
	case ValueTypeInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le.Uint32(b[4*i:]))
		}
		return out
	case ValueTypeFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return out
	case ValueTypeUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = le.Uint64(b[8*i:])
		}
		return out
	case ValueTypeInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le.Uint64(b[8*i:]))
		}
		return out
	case ValueTypeFloat64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return out
	}
	return nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorSection returns a reader over the named tensor's data, for tensors too
// large to read into memory at once.
func (f *File) TensorSection(name string) (*io.SectionReader, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("models: %s: %w: %q", f.pathOr(), ErrTensorNotFound, name)
	}
	if f.r == nil {
		return nil, fmt.Errorf("models: %s: the file is closed", f.pathOr())
	}
	return io.NewSectionReader(f.r, f.DataOffset+int64(t.Offset), int64(t.Size)), nil
}

// TensorData reads the named tensor's raw bytes (little-endian, in its ggml type).
func (f *File) TensorData(name string) ([]byte, error) {
	sr, err := f.TensorSection(name)
	if err != nil {
		return nil, err
	}
	if sr.Size() > math.MaxInt {
		return nil, fmt.Errorf("models: %s: tensor %q is too large to read into memory", f.pathOr(), name)
	}
	b := make([]byte, sr.Size())
	if _, err := io.ReadFull(sr, b); err != nil {
		return nil, fmt.Errorf("models: %s: reading tensor %q: %w", f.pathOr(), name, err)
	}
	return b, nil
}

func (f *File) pathOr() string {
	if f.Path == "" {
		return "GGUF"
	}
	return f.Path
}
