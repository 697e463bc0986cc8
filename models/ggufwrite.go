package models

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/spectrumkit/spectrum/internal/outfile"
)

// Writer builds a GGUF v3 file: metadata key/values in insertion order, then
// tensors laid out in insertion order, each padded to the alignment (32 unless
// general.alignment is set). Tensor data may be given in memory or streamed
// from a function so that multi-gigabyte models never sit in memory at once.
type Writer struct {
	kvs       []KV
	kvIndex   map[string]int
	tensors   []wtensor
	tIndex    map[string]int
	protected []string
}

type wtensor struct {
	info  TensorInfo
	data  []byte
	write func(io.Writer) error
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{kvIndex: map[string]int{}, tIndex: map[string]int{}}
}

// Set sets a metadata key. A key set twice keeps its first position and the
// last value. Value must be one of the Go types listed for KV; slices are kept,
// not copied, so do not modify them before writing.
func (w *Writer) Set(key string, value any) error {
	if key == "" {
		return errors.New("models: metadata key must not be empty")
	}
	if len(key) >= maxKeyLen {
		return fmt.Errorf("models: metadata key %.40q... is %d bytes, over the limit of %d", key, len(key), maxKeyLen-1)
	}
	if _, _, ok := valueTypeOf(value); !ok {
		return fmt.Errorf("models: metadata key %q: unsupported value type %T", key, value)
	}
	if key == KeyAlignment {
		a, ok := value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("models: %s must be a uint32 power of two, got %v (%T)", KeyAlignment, value, value)
		}
	}
	if i, ok := w.kvIndex[key]; ok {
		w.kvs[i].Value = value
		return nil
	}
	w.kvIndex[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: key, Value: value})
	return nil
}

// Get returns the value set for key.
func (w *Writer) Get(key string) (any, bool) {
	i, ok := w.kvIndex[key]
	if !ok {
		return nil, false
	}
	return w.kvs[i].Value, true
}

// Delete removes a metadata key if present.
func (w *Writer) Delete(key string) {
	i, ok := w.kvIndex[key]
	if !ok {
		return
	}
	w.kvs = append(w.kvs[:i], w.kvs[i+1:]...)
	delete(w.kvIndex, key)
	for j := i; j < len(w.kvs); j++ {
		w.kvIndex[w.kvs[j].Key] = j
	}
}

// CopyMetadata copies every key of f whose name starts with prefix ("" for all),
// except general.alignment.
func (w *Writer) CopyMetadata(f *File, prefix string) error {
	for _, kv := range f.Metadata {
		if kv.Key == KeyAlignment || len(kv.Key) < len(prefix) || kv.Key[:len(prefix)] != prefix {
			continue
		}
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// CopyTensors adds every tensor of f for which keep returns true (nil keeps
// all), with its type, shape and bytes unchanged.
func (w *Writer) CopyTensors(f *File, keep func(TensorInfo) bool) error {
	for _, ti := range f.Tensors {
		if keep != nil && !keep(ti) {
			continue
		}
		data, err := f.TensorData(ti.Name)
		if err != nil {
			return err
		}
		if err := w.AddRaw(ti.Name, ti.Type, ti.Shape, data); err != nil {
			return err
		}
	}
	return nil
}

// Protect names input files that WriteFile must never replace, so that a
// converter called with the same path for input and output fails instead of
// destroying its input.
func (w *Writer) Protect(paths ...string) { w.protected = append(w.protected, paths...) }

func (w *Writer) alignment() uint64 {
	if v, ok := w.Get(KeyAlignment); ok {
		return uint64(v.(uint32))
	}
	return DefaultAlignment
}

// addTensor validates a tensor's name, type and shape and returns its byte size.
func (w *Writer) checkTensor(name string, typ GGMLType, shape []uint64) (uint64, error) {
	switch {
	case name == "":
		return 0, errors.New("models: tensor name must not be empty")
	case len(name) > MaxTensorNameLen:
		return 0, fmt.Errorf("models: tensor name %q is %d bytes, ggml allows at most %d", name, len(name), MaxTensorNameLen)
	case len(shape) == 0 || len(shape) > MaxDims:
		return 0, fmt.Errorf("models: tensor %q has %d dimensions, want 1 to %d", name, len(shape), MaxDims)
	case !typ.Valid():
		return 0, fmt.Errorf("models: tensor %q: unknown ggml type %d", name, uint32(typ))
	}
	if _, dup := w.tIndex[name]; dup {
		return 0, fmt.Errorf("models: duplicate tensor name %q", name)
	}
	elems := uint64(1)
	for i, d := range shape {
		if d == 0 || d > math.MaxInt64 || elems > math.MaxInt64/d {
			return 0, fmt.Errorf("models: tensor %q: invalid dimension %d = %d in shape %v", name, i, d, shape)
		}
		elems *= d
	}
	size, err := tensorBytes(typ, shape)
	if err != nil {
		return 0, fmt.Errorf("models: tensor %q (%s, shape %v): %v", name, typ, shape, err)
	}
	return size, nil
}

func (w *Writer) add(t wtensor) {
	w.tIndex[t.info.Name] = len(w.tensors)
	w.tensors = append(w.tensors, t)
}

// AddRaw adds a tensor whose data is already encoded in typ (for example
// pre-quantized Q4_K blocks). len(data) must equal the type's size for shape.
// The slice is kept, not copied.
func (w *Writer) AddRaw(name string, typ GGMLType, shape []uint64, data []byte) error {
	size, err := w.checkTensor(name, typ, shape)
	if err != nil {
		return err
	}
	if uint64(len(data)) != size {
		return fmt.Errorf("models: tensor %q (%s, shape %v) needs %d bytes of data, got %d", name, typ, shape, size, len(data))
	}
	w.add(wtensor{info: TensorInfo{Name: name, Shape: append([]uint64(nil), shape...), Type: typ, Size: size}, data: data})
	return nil
}

// AddF32 adds an F32 tensor.
func (w *Writer) AddF32(name string, shape []uint64, data []float32) error {
	if err := w.checkCount(name, shape, len(data)); err != nil {
		return err
	}
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return w.AddRaw(name, TypeF32, shape, b)
}

// AddF16 adds an F16 tensor, converting data with round-to-nearest-even.
func (w *Writer) AddF16(name string, shape []uint64, data []float32) error {
	if err := w.checkCount(name, shape, len(data)); err != nil {
		return err
	}
	b := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(b[2*i:], F32ToF16(v))
	}
	return w.AddRaw(name, TypeF16, shape, b)
}

func (w *Writer) checkCount(name string, shape []uint64, n int) error {
	want := uint64(1)
	for _, d := range shape {
		want *= d // overflow is caught by checkTensor; this only gives the message
	}
	if len(shape) > 0 && want != uint64(n) {
		return fmt.Errorf("models: tensor %q with shape %v needs %d values, got %d", name, shape, want, n)
	}
	return nil
}

// AddFunc adds a tensor whose data write produces when the file is written.
// write must write exactly the tensor's byte size, or writing fails.
func (w *Writer) AddFunc(name string, typ GGMLType, shape []uint64, write func(io.Writer) error) error {
	size, err := w.checkTensor(name, typ, shape)
	if err != nil {
		return err
	}
	if write == nil {
		return fmt.Errorf("models: tensor %q: nil write function", name)
	}
	w.add(wtensor{info: TensorInfo{Name: name, Shape: append([]uint64(nil), shape...), Type: typ, Size: size}, write: write})
	return nil
}

// Tensors returns the infos of the tensors added so far, with their offsets.
func (w *Writer) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(w.tensors))
	var off uint64
	for i, t := range w.tensors {
		out[i] = t.info
		out[i].Offset = off
		off += alignUp(t.info.Size, w.alignment())
	}
	return out
}

// countWriter counts bytes so that padding and streamed sizes can be checked.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteTo writes the whole GGUF file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(out, 1<<20)
	cw := &countWriter{w: bw}
	e := &encoder{w: cw}
	align := w.alignment()

	e.u32(ggufMagic)
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	for _, t := range w.Tensors() {
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
	}
	e.pad(cw.n, align)
	for _, t := range w.tensors {
		if e.err != nil {
			break
		}
		start := cw.n
		if t.write != nil {
			if err := t.write(cw); err != nil {
				return cw.n, fmt.Errorf("models: writing tensor %q: %w", t.info.Name, err)
			}
			if got := cw.n - start; got != int64(t.info.Size) {
				return cw.n, fmt.Errorf("models: tensor %q: the write function wrote %d bytes, want %d", t.info.Name, got, t.info.Size)
			}
		} else {
			e.bytes(t.data)
		}
		e.pad(cw.n, align)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return cw.n, fmt.Errorf("models: writing GGUF: %w", e.err)
	}
	return cw.n, nil
}

// WriteFile writes the file with the toolkit's output discipline
// (internal/outfile): to a temporary file in the same directory, synced,
// then renamed over path, so readers never see a partial model (a device
// such as /dev/null is written in place, never replaced). It refuses to
// replace any path given to Protect.
func (w *Writer) WriteFile(path string) error {
	f, err := outfile.Create(path, w.protected...)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	defer f.Abort()
	if _, err = w.WriteTo(f); err != nil {
		return err
	}
	return f.Commit()
}

// encoder writes little-endian GGUF fields, remembering the first error.
type encoder struct {
	w   io.Writer
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u8(v uint8)   { e.buf[0] = v; e.bytes(e.buf[:1]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.bytes(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.bytes(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.bytes(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.bytes([]byte(s)) }

var zeros [256]byte

func (e *encoder) pad(n int64, align uint64) {
	p := alignUp(uint64(n), align) - uint64(n)
	for p > 0 {
		k := min(p, uint64(len(zeros)))
		e.bytes(zeros[:k])
		p -= k
	}
}

func (e *encoder) value(v any) {
	t, elem, _ := valueTypeOf(v) // Set validated the type
	e.u32(uint32(t))
	if t != ValueTypeArray {
		e.scalar(v)
		return
	}
	e.u32(uint32(elem))
	n, _ := arrayLen(v)
	e.u64(uint64(n))
	switch x := v.(type) {
	case []uint8:
		e.bytes(x)
	case []int8:
		for _, s := range x {
			e.u8(uint8(s))
		}
	case []bool:
		for _, s := range x {
			e.scalar(s)
		}
	case []uint16:
		for _, s := range x {
			e.u16(s)
		}
	case []int16:
		for _, s := range x {
			e.u16(uint16(s))
		}
	case []uint32:
		for _, s := range x {
			e.u32(s)
		}
	case []int32:
		for _, s := range x {
			e.u32(uint32(s))
		}
	case []float32:
		for _, s := range x {
			e.u32(math.Float32bits(s))
		}
	case []string:
		for _, s := range x {
			e.str(s)
		}
	case []uint64:
		for _, s := range x {
			e.u64(s)
		}
	case []int64:
		for _, s := range x {
			e.u64(uint64(s))
		}
	case []float64:
		for _, s := range x {
			e.u64(math.Float64bits(s))
		}
	}
}

func (e *encoder) scalar(v any) {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	}
}
