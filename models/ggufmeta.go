package models

import (
	"fmt"
	"math"
)

// Value returns the raw value of a metadata key (see KV for the Go types).
func (f *File) Value(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.Metadata[i].Value, true
}

// Has reports whether the metadata holds key.
func (f *File) Has(key string) bool { _, ok := f.kvIndex[key]; return ok }

func (f *File) lookup(key string) (any, error) {
	v, ok := f.Value(key)
	if !ok {
		return nil, fmt.Errorf("models: %s: %w: %q", f.pathOr(), ErrKeyNotFound, key)
	}
	return v, nil
}

func (f *File) typeErr(key string, v any, want string) error {
	return fmt.Errorf("models: %s: %w: %q is %s, want %s", f.pathOr(), ErrKeyType, key, typeName(v), want)
}

// String returns a string value.
func (f *File) String(key string) (string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", f.typeErr(key, v, "string")
	}
	return s, nil
}

// Uint returns an integer value of any integer type, refusing negative values.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	if u, ok := asUint(v); ok {
		return u, nil
	}
	return 0, f.typeErr(key, v, "a non-negative integer")
}

// Int returns an integer value of any integer type that fits in an int64.
func (f *File) Int(key string) (int64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	if i, ok := asInt(v); ok {
		return i, nil
	}
	return 0, f.typeErr(key, v, "an integer")
}

// Float returns a float32 or float64 value.
func (f *File) Float(key string) (float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, f.typeErr(key, v, "a float")
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.lookup(key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, f.typeErr(key, v, "bool")
	}
	return b, nil
}

// Strings returns an array of strings. The slice is shared; do not modify it.
func (f *File) Strings(key string) ([]string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]string)
	if !ok {
		return nil, f.typeErr(key, v, "array of string")
	}
	return s, nil
}

// Ints returns an array of any integer type as int64 values.
func (f *File) Ints(key string) ([]int64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	out, ok := intSlice(v)
	if !ok {
		return nil, f.typeErr(key, v, "array of integers")
	}
	return out, nil
}

// Floats returns an array of float32 or float64 as float64 values.
func (f *File) Floats(key string) ([]float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []float32:
		out := make([]float64, len(x))
		for i, e := range x {
			out[i] = float64(e)
		}
		return out, nil
	case []float64:
		return append([]float64(nil), x...), nil
	}
	return nil, f.typeErr(key, v, "array of floats")
}

// ArrayLen returns the length of an array value.
func (f *File) ArrayLen(key string) (int, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	if n, ok := arrayLen(v); ok {
		return n, nil
	}
	return 0, f.typeErr(key, v, "an array")
}

func arrayLen(v any) (int, bool) {
	switch x := v.(type) {
	case []uint8:
		return len(x), true
	case []int8:
		return len(x), true
	case []uint16:
		return len(x), true
	case []int16:
		return len(x), true
	case []uint32:
		return len(x), true
	case []int32:
		return len(x), true
	case []float32:
		return len(x), true
	case []bool:
		return len(x), true
	case []string:
		return len(x), true
	case []uint64:
		return len(x), true
	case []int64:
		return len(x), true
	case []float64:
		return len(x), true
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func asUint(v any) (uint64, bool) {
	if x, ok := v.(uint64); ok {
		return x, true
	}
	i, ok := asInt(v)
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

func intSlice(v any) ([]int64, bool) {
	conv := func(n int, at func(int) int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = at(i)
		}
		return out
	}
	switch x := v.(type) {
	case []uint8:
		return conv(len(x), func(i int) int64 { return int64(x[i]) }), true
	case []int8:
		return conv(len(x), func(i int) int64 { return int64(x[i]) }), true
	case []uint16:
		return conv(len(x), func(i int) int64 { return int64(x[i]) }), true
	case []int16:
		return conv(len(x), func(i int) int64 { return int64(x[i]) }), true
	case []uint32:
		return conv(len(x), func(i int) int64 { return int64(x[i]) }), true
	case []int32:
		return conv(len(x), func(i int) int64 { return int64(x[i]) }), true
	case []int64:
		return append([]int64(nil), x...), true
	case []uint64:
		for _, e := range x {
			if e > math.MaxInt64 {
				return nil, false
			}
		}
		return conv(len(x), func(i int) int64 { return int64(x[i]) }), true
	}
	return nil, false
}
