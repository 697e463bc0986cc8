package models

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds pure-Go decoders and encoders for the ggml tensor types the
// weight-editing commands (transplant, merge) need. They follow ggml's
// reference implementations (ggml-quants.c: dequantize_row_*,
// quantize_row_*_ref) so that an encoded row is byte-identical to what
// llama.cpp's quantizer writes for the same float input.

// CanDequantize reports whether DequantizeRow supports typ.
func CanDequantize(typ GGMLType) bool {
	switch typ {
	case TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ4_K, TypeQ5_K, TypeQ6_K:
		return true
	}
	return false
}

// CanQuantize reports whether QuantizeRow supports typ.
func CanQuantize(typ GGMLType) bool {
	switch typ {
	case TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0:
		return true
	}
	return false
}

// RowBytes returns the bytes of n consecutive elements of type typ, or an
// error when n is not a whole number of the type's blocks.
func RowBytes(typ GGMLType, n int) (int, error) {
	if !typ.Valid() {
		return 0, fmt.Errorf("models: unknown tensor type %v", typ)
	}
	bs := int(typ.BlockSize())
	if n%bs != 0 {
		return 0, fmt.Errorf("models: %d elements are not a whole number of %v blocks of %d", n, typ, bs)
	}
	return n / bs * int(typ.TypeSize()), nil
}

func checkRow(typ GGMLType, src []byte, n int) error {
	rb, err := RowBytes(typ, n)
	if err != nil {
		return err
	}
	if len(src) != rb {
		return fmt.Errorf("models: %d elements of %v take %d bytes, got %d", n, typ, rb, len(src))
	}
	return nil
}

// DequantizeRow decodes len(dst) elements of type typ from src, which must be
// exactly their encoded size. Types other than F32, F16, BF16, Q8_0, Q4_0,
// Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K are an error.
func DequantizeRow(typ GGMLType, src []byte, dst []float32) error {
	if err := checkRow(typ, src, len(dst)); err != nil {
		return err
	}
	le := binary.LittleEndian
	switch typ {
	case TypeF32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case TypeF16:
		for i := range dst {
			dst[i] = F16ToF32(le.Uint16(src[2*i:]))
		}
	case TypeBF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
		}
	case TypeQ8_0: // {f16 d; int8 qs[32]}
		for b := 0; b < len(dst)/32; b++ {
			blk := src[b*34 : (b+1)*34]
			d := F16ToF32(le.Uint16(blk))
			for j := 0; j < 32; j++ {
				dst[b*32+j] = float32(int8(blk[2+j])) * d
			}
		}
	case TypeQ4_0: // {f16 d; uint8 qs[16]}: low nibbles are elements 0-15, high 16-31
		for b := 0; b < len(dst)/32; b++ {
			blk := src[b*18 : (b+1)*18]
			d := F16ToF32(le.Uint16(blk))
			y := dst[b*32 : (b+1)*32]
			for j := 0; j < 16; j++ {
				y[j] = float32(int(blk[2+j]&0xF)-8) * d
				y[j+16] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	case TypeQ4_1: // {f16 d; f16 m; uint8 qs[16]}
		for b := 0; b < len(dst)/32; b++ {
			blk := src[b*20 : (b+1)*20]
			d, m := F16ToF32(le.Uint16(blk)), F16ToF32(le.Uint16(blk[2:]))
			y := dst[b*32 : (b+1)*32]
			for j := 0; j < 16; j++ {
				y[j] = float32(blk[4+j]&0xF)*d + m
				y[j+16] = float32(blk[4+j]>>4)*d + m
			}
		}
	case TypeQ5_0, TypeQ5_1: // {f16 d; [f16 m;] uint8 qh[4]; uint8 qs[16]}: qh holds the fifth bits
		size, off := 22, 2
		if typ == TypeQ5_1 {
			size, off = 24, 4
		}
		for b := 0; b < len(dst)/32; b++ {
			blk := src[b*size : (b+1)*size]
			d := F16ToF32(le.Uint16(blk))
			qh := le.Uint32(blk[off:])
			qs := blk[off+4:]
			y := dst[b*32 : (b+1)*32]
			for j := 0; j < 16; j++ {
				x0 := int(qs[j]&0xF | byte(qh>>j<<4&0x10))
				x1 := int(qs[j]>>4 | byte(qh>>(j+12)&0x10))
				if typ == TypeQ5_0 {
					y[j], y[j+16] = float32(x0-16)*d, float32(x1-16)*d
				} else {
					m := F16ToF32(le.Uint16(blk[2:]))
					y[j], y[j+16] = float32(x0)*d+m, float32(x1)*d+m
				}
			}
		}
	case TypeQ5_K: // {f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]}
		for b := 0; b < len(dst)/256; b++ {
			blk := src[b*176 : (b+1)*176]
			d := F16ToF32(le.Uint16(blk))
			dmin := F16ToF32(le.Uint16(blk[2:]))
			scales, qh, q := blk[4:16], blk[16:48], blk[48:]
			y := dst[b*256 : (b+1)*256]
			is := 0
			u1, u2 := byte(1), byte(2)
			for j := 0; j < 256; j += 64 {
				d1, m1, d2, m2 := subBlockScalesK(is, scales, d, dmin)
				for l := 0; l < 32; l++ {
					h1, h2 := 0, 0
					if qh[l]&u1 != 0 {
						h1 = 16
					}
					if qh[l]&u2 != 0 {
						h2 = 16
					}
					y[j+l] = d1*float32(int(q[l]&0xF)+h1) - m1
					y[j+32+l] = d2*float32(int(q[l]>>4)+h2) - m2
				}
				q = q[32:]
				is += 2
				u1, u2 = u1<<2, u2<<2
			}
		}
	case TypeQ4_K: // {f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128]}
		for b := 0; b < len(dst)/256; b++ {
			blk := src[b*144 : (b+1)*144]
			d := F16ToF32(le.Uint16(blk))
			dmin := F16ToF32(le.Uint16(blk[2:]))
			scales := blk[4:16]
			q := blk[16:]
			y := dst[b*256 : (b+1)*256]
			is := 0
			for j := 0; j < 256; j += 64 {
				d1, m1, d2, m2 := subBlockScalesK(is, scales, d, dmin)
				for l := 0; l < 32; l++ {
					y[j+l] = d1*float32(q[l]&0xF) - m1
					y[j+32+l] = d2*float32(q[l]>>4) - m2
				}
				q = q[32:]
				is += 2
			}
		}
	case TypeQ6_K: // {uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d}
		for b := 0; b < len(dst)/256; b++ {
			blk := src[b*210 : (b+1)*210]
			ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
			d := F16ToF32(le.Uint16(blk[208:]))
			y := dst[b*256 : (b+1)*256]
			for n := 0; n < 256; n += 128 {
				for l := 0; l < 32; l++ {
					is := l / 16
					q1 := int(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
					q2 := int(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
					q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
					q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
					y[n+l] = d * float32(int8(sc[is])) * float32(q1)
					y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
					y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
					y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
				}
				ql, qh, sc = ql[64:], qh[32:], sc[8:]
			}
		}
	default:
		return fmt.Errorf("models: decoding %v tensors is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)", typ)
	}
	return nil
}

// subBlockScalesK returns the scales and mins of sub-blocks j and j+1 of a
// Q4_K/Q5_K block with super-block scale d and min dmin.
func subBlockScalesK(j int, scales []byte, d, dmin float32) (d1, m1, d2, m2 float32) {
	sc, m := scaleMinK4(j, scales)
	sc2, mn2 := scaleMinK4(j+1, scales)
	return d * float32(sc), dmin * float32(m), d * float32(sc2), dmin * float32(mn2)
}

// scaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j.
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// QuantizeRow encodes src as type typ into dst, which must be exactly the
// encoded size. F32, F16, BF16, Q8_0 and Q4_0 are supported; the quantized
// types use ggml's reference rounding (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref), which is what llama.cpp's quantizer uses without an
// importance matrix.
func QuantizeRow(typ GGMLType, src []float32, dst []byte) error {
	if err := checkRow(typ, dst, len(src)); err != nil {
		return err
	}
	le := binary.LittleEndian
	switch typ {
	case TypeF32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case TypeF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case TypeBF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], f32ToBF16(v))
		}
	case TypeQ8_0:
		for b := 0; b < len(src)/32; b++ {
			x := src[b*32 : (b+1)*32]
			blk := dst[b*34 : (b+1)*34]
			var amax float32
			for _, v := range x {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			var id float32
			if d != 0 {
				id = 1 / d
			}
			le.PutUint16(blk, F32ToF16(d))
			for j, v := range x {
				blk[2+j] = byte(int8(roundf(v * id)))
			}
		}
	case TypeQ4_0:
		for b := 0; b < len(src)/32; b++ {
			x := src[b*32 : (b+1)*32]
			blk := dst[b*18 : (b+1)*18]
			var amax, vmax float32
			for _, v := range x {
				if a := float32(math.Abs(float64(v))); amax < a {
					amax, vmax = a, v
				}
			}
			d := vmax / -8
			var id float32
			if d != 0 {
				id = 1 / d
			}
			le.PutUint16(blk, F32ToF16(d))
			for j := 0; j < 16; j++ {
				x0 := min(15, int8(float32(x[j]*id)+8.5))
				x1 := min(15, int8(float32(x[j+16]*id)+8.5))
				blk[2+j] = byte(x0) | byte(x1)<<4
			}
		}
	default:
		return fmt.Errorf("models: encoding %v tensors is not supported (supported: F32, F16, BF16, Q8_0, Q4_0)", typ)
	}
	return nil
}

// roundf rounds half away from zero, as C's roundf.
func roundf(v float32) float32 { return float32(math.Round(float64(v))) }

// f32ToBF16 is ggml_compute_fp32_to_bf16: round to nearest even, NaN kept quiet.
func f32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16 | 64)
	}
	return uint16((u + (0x7fff + (u >> 16 & 1))) >> 16)
}

// TensorFloats reads the named tensor and decodes it to float32 (see
// DequantizeRow for the supported types).
func (f *File) TensorFloats(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("models: %s: %w: %s", f.pathOr(), ErrTensorNotFound, name)
	}
	if !CanDequantize(t.Type) {
		return nil, fmt.Errorf("models: %s: tensor %s: decoding %v tensors is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)", f.pathOr(), name, t.Type)
	}
	raw, err := f.TensorData(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Elements())
	if err := DequantizeRow(t.Type, raw, out); err != nil {
		return nil, fmt.Errorf("models: %s: tensor %s: %w", f.pathOr(), name, err)
	}
	return out, nil
}
