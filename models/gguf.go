// Package models reads, writes, inspects and converts GGUF model files in pure Go.
//
// The GGUF reader is our own rather than github.com/gpustack/gguf-parser-go for two
// reasons. First, it validates every structural field (counts, string lengths,
// types, shapes, byte sizes, offsets) against the real file size before anything
// else sees the file: llama.cpp aborts the whole process on some malformed files
// (a zero dimension divides by zero, a non-u32 general.alignment trips an assert,
// a huge length makes it try to allocate it), and a toolkit that loads
// user-supplied files must turn those into errors. Second, we need a GGUF writer
// (for conversion, synthetic models and adapters) that round-trips exactly with the
// reader, and gguf-parser-go is read-only and pulls in a large dependency tree.
//
// Tensor shapes are given in ggml order: Shape[0] is the innermost (contiguous)
// dimension, so a weight matrix with n_out rows of n_in values has Shape
// [n_in, n_out].
package models

import (
	"errors"
	"fmt"
)

// GGUF file constants.
const (
	// ggufMagic is "GGUF" read as a little-endian uint32.
	ggufMagic = 0x46554747
	// DefaultAlignment is the data alignment used when general.alignment is absent.
	DefaultAlignment = 32
	// MaxTensorNameLen is the longest tensor name ggml accepts (GGML_MAX_NAME-1).
	MaxTensorNameLen = 63
	// MaxDims is the most dimensions a ggml tensor has (GGML_MAX_DIMS).
	MaxDims = 4
	// KeyAlignment is the metadata key that sets the data alignment.
	KeyAlignment = "general.alignment"
)

// Limits that keep a malicious header from making us allocate or loop for long.
// They are far above anything a real model needs.
const (
	maxKeyLen      = 1 << 16 // the GGUF spec limits keys to 65535 bytes
	maxStringLen   = 1 << 26 // 64 MiB: chat templates are kilobytes
	maxArrayLen    = 1 << 26 // vocabularies and merges are < 1M entries
	maxTensorCount = 1 << 20
	maxKVCount     = 1 << 20
)

// ValueType is the type of a GGUF metadata value (gguf_type in ggml).
type ValueType uint32

// GGUF metadata value types.
const (
	ValueTypeUint8   ValueType = 0
	ValueTypeInt8    ValueType = 1
	ValueTypeUint16  ValueType = 2
	ValueTypeInt16   ValueType = 3
	ValueTypeUint32  ValueType = 4
	ValueTypeInt32   ValueType = 5
	ValueTypeFloat32 ValueType = 6
	ValueTypeBool    ValueType = 7
	ValueTypeString  ValueType = 8
	ValueTypeArray   ValueType = 9
	ValueTypeUint64  ValueType = 10
	ValueTypeInt64   ValueType = 11
	ValueTypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// size returns the encoded size of a fixed-size scalar, or the minimum encoded
// size (the length prefix) for a string; 0 for arrays and unknown types.
func (t ValueType) size() int64 {
	switch t {
	case ValueTypeUint8, ValueTypeInt8, ValueTypeBool:
		return 1
	case ValueTypeUint16, ValueTypeInt16:
		return 2
	case ValueTypeUint32, ValueTypeInt32, ValueTypeFloat32:
		return 4
	case ValueTypeUint64, ValueTypeInt64, ValueTypeFloat64, ValueTypeString:
		return 8
	}
	return 0
}

// GGMLType is a tensor element type (enum ggml_type).
type GGMLType uint32

// ggml tensor types. Gaps are types that ggml removed; files using them are rejected.
const (
	TypeF32     GGMLType = 0
	TypeF16     GGMLType = 1
	TypeQ4_0    GGMLType = 2
	TypeQ4_1    GGMLType = 3
	TypeQ5_0    GGMLType = 6
	TypeQ5_1    GGMLType = 7
	TypeQ8_0    GGMLType = 8
	TypeQ8_1    GGMLType = 9
	TypeQ2_K    GGMLType = 10
	TypeQ3_K    GGMLType = 11
	TypeQ4_K    GGMLType = 12
	TypeQ5_K    GGMLType = 13
	TypeQ6_K    GGMLType = 14
	TypeQ8_K    GGMLType = 15
	TypeIQ2_XXS GGMLType = 16
	TypeIQ2_XS  GGMLType = 17
	TypeIQ3_XXS GGMLType = 18
	TypeIQ1_S   GGMLType = 19
	TypeIQ4_NL  GGMLType = 20
	TypeIQ3_S   GGMLType = 21
	TypeIQ2_S   GGMLType = 22
	TypeIQ4_XS  GGMLType = 23
	TypeI8      GGMLType = 24
	TypeI16     GGMLType = 25
	TypeI32     GGMLType = 26
	TypeI64     GGMLType = 27
	TypeF64     GGMLType = 28
	TypeIQ1_M   GGMLType = 29
	TypeBF16    GGMLType = 30
	TypeTQ1_0   GGMLType = 34
	TypeTQ2_0   GGMLType = 35
	TypeMXFP4   GGMLType = 39
)

// typeTraits holds a type's name, elements per block and bytes per block, as in
// ggml.c's type_traits table (block sizes measured from ggml-common.h).
type typeTraits struct {
	name      string
	blockSize uint64
	typeSize  uint64
}

var ggmlTypes = map[GGMLType]typeTraits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 18},
	TypeQ4_1:    {"Q4_1", 32, 20},
	TypeQ5_0:    {"Q5_0", 32, 22},
	TypeQ5_1:    {"Q5_1", 32, 24},
	TypeQ8_0:    {"Q8_0", 32, 34},
	TypeQ8_1:    {"Q8_1", 32, 36},
	TypeQ2_K:    {"Q2_K", 256, 84},
	TypeQ3_K:    {"Q3_K", 256, 110},
	TypeQ4_K:    {"Q4_K", 256, 144},
	TypeQ5_K:    {"Q5_K", 256, 176},
	TypeQ6_K:    {"Q6_K", 256, 210},
	TypeQ8_K:    {"Q8_K", 256, 292},
	TypeIQ2_XXS: {"IQ2_XXS", 256, 66},
	TypeIQ2_XS:  {"IQ2_XS", 256, 74},
	TypeIQ3_XXS: {"IQ3_XXS", 256, 98},
	TypeIQ1_S:   {"IQ1_S", 256, 50},
	TypeIQ4_NL:  {"IQ4_NL", 32, 18},
	TypeIQ3_S:   {"IQ3_S", 256, 110},
	TypeIQ2_S:   {"IQ2_S", 256, 82},
	TypeIQ4_XS:  {"IQ4_XS", 256, 136},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", 256, 56},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", 256, 54},
	TypeTQ2_0:   {"TQ2_0", 256, 66},
	TypeMXFP4:   {"MXFP4", 32, 17},
}

// Valid reports whether t is a tensor type current ggml can load.
func (t GGMLType) Valid() bool { _, ok := ggmlTypes[t]; return ok }

// String returns ggml's name for the type ("Q4_K"), or "GGMLType(N)" if unknown.
func (t GGMLType) String() string {
	if tr, ok := ggmlTypes[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// BlockSize is the number of elements in one quantization block (1 for plain types).
func (t GGMLType) BlockSize() uint64 { return ggmlTypes[t].blockSize }

// TypeSize is the number of bytes of one block.
func (t GGMLType) TypeSize() uint64 { return ggmlTypes[t].typeSize }

// ParseGGMLType returns the type with ggml's name (case-insensitive, "q4_k" or "Q4_K").
func ParseGGMLType(name string) (GGMLType, error) {
	for t, tr := range ggmlTypes {
		if equalFold(tr.name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("models: unknown ggml type %q", name)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Errors that classify a FormatError; test with errors.Is.
var (
	// ErrNotGGUF: the file does not start with the GGUF magic.
	ErrNotGGUF = errors.New("not a GGUF file")
	// ErrTruncated: a structure or tensor's data runs past the end of the file.
	ErrTruncated = errors.New("truncated GGUF")
	// ErrInvalid: a field has an impossible or unsafe value.
	ErrInvalid = errors.New("invalid GGUF")
	// ErrUnsupported: a well-formed file we cannot read (GGUF v1, big-endian).
	ErrUnsupported = errors.New("unsupported GGUF")
	// ErrKeyNotFound: a metadata key is absent.
	ErrKeyNotFound = errors.New("metadata key not found")
	// ErrKeyType: a metadata key holds a value of another type than asked for.
	ErrKeyType = errors.New("metadata key has the wrong type")
	// ErrTensorNotFound: no tensor has the asked name.
	ErrTensorNotFound = errors.New("tensor not found")
)

// FormatError reports a malformed or unsupported GGUF file.
type FormatError struct {
	Path string // file path, empty when read from an io.ReaderAt
	Kind error  // ErrNotGGUF, ErrTruncated, ErrInvalid or ErrUnsupported
	Msg  string // what is wrong, naming the key or tensor and the byte offsets
}

func (e *FormatError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("models: %v: %s", e.Kind, e.Msg)
	}
	return fmt.Sprintf("models: %s: %v: %s", e.Path, e.Kind, e.Msg)
}

func (e *FormatError) Unwrap() error { return e.Kind }

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name   string
	Shape  []uint64 // ggml order: Shape[0] is the innermost dimension
	Type   GGMLType
	Offset uint64 // from the start of the data section; a multiple of the alignment
	Size   uint64 // bytes of data
}

// Elements returns the number of elements (the product of the shape).
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// KV is one metadata key/value pair. Value holds one of the Go types uint8,
// int8, uint16, int16, uint32, int32, float32, bool, string, uint64, int64,
// float64, or a slice of one of them for a GGUF array.
type KV struct {
	Key   string
	Value any
}

// Type returns the GGUF type of the value (ValueTypeArray for slices), and
// false if Value holds an unsupported Go type.
func (kv KV) Type() (ValueType, bool) {
	t, _, ok := valueTypeOf(kv.Value)
	return t, ok
}

// valueTypeOf maps a Go value to its GGUF type and, for arrays, element type.
func valueTypeOf(v any) (t, elem ValueType, ok bool) {
	switch v.(type) {
	case uint8:
		return ValueTypeUint8, 0, true
	case int8:
		return ValueTypeInt8, 0, true
	case uint16:
		return ValueTypeUint16, 0, true
	case int16:
		return ValueTypeInt16, 0, true
	case uint32:
		return ValueTypeUint32, 0, true
	case int32:
		return ValueTypeInt32, 0, true
	case float32:
		return ValueTypeFloat32, 0, true
	case bool:
		return ValueTypeBool, 0, true
	case string:
		return ValueTypeString, 0, true
	case uint64:
		return ValueTypeUint64, 0, true
	case int64:
		return ValueTypeInt64, 0, true
	case float64:
		return ValueTypeFloat64, 0, true
	case []uint8:
		return ValueTypeArray, ValueTypeUint8, true
	case []int8:
		return ValueTypeArray, ValueTypeInt8, true
	case []uint16:
		return ValueTypeArray, ValueTypeUint16, true
	case []int16:
		return ValueTypeArray, ValueTypeInt16, true
	case []uint32:
		return ValueTypeArray, ValueTypeUint32, true
	case []int32:
		return ValueTypeArray, ValueTypeInt32, true
	case []float32:
		return ValueTypeArray, ValueTypeFloat32, true
	case []bool:
		return ValueTypeArray, ValueTypeBool, true
	case []string:
		return ValueTypeArray, ValueTypeString, true
	case []uint64:
		return ValueTypeArray, ValueTypeUint64, true
	case []int64:
		return ValueTypeArray, ValueTypeInt64, true
	case []float64:
		return ValueTypeArray, ValueTypeFloat64, true
	}
	return 0, 0, false
}

// typeName describes a value's GGUF type for error messages ("array of string").
func typeName(v any) string {
	t, e, ok := valueTypeOf(v)
	switch {
	case !ok:
		return fmt.Sprintf("unsupported Go type %T", v)
	case t == ValueTypeArray:
		return "array of " + e.String()
	}
	return t.String()
}

// tensorBytes returns the byte size of a tensor, or an error naming the problem
// (a row that is not a whole number of blocks, or a size that overflows).
func tensorBytes(typ GGMLType, shape []uint64) (uint64, error) {
	tr, ok := ggmlTypes[typ]
	if !ok {
		return 0, fmt.Errorf("unknown ggml type %d", uint32(typ))
	}
	if len(shape) == 0 {
		if tr.blockSize != 1 {
			return 0, fmt.Errorf("a scalar cannot be of block type %s", tr.name)
		}
		return tr.typeSize, nil
	}
	if shape[0]%tr.blockSize != 0 {
		return 0, fmt.Errorf("rows of %d elements are not a multiple of the %s block size %d", shape[0], tr.name, tr.blockSize)
	}
	n := shape[0] / tr.blockSize * tr.typeSize
	for _, d := range shape[1:] {
		if d != 0 && n > (1<<63-1)/d {
			return 0, fmt.Errorf("byte size overflows int64")
		}
		n *= d
	}
	return n, nil
}
