package llamacheck_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spectrumkit/spectrum/models"
)

// TestQuantizeMatchesLlamaCpp: our Q8_0 and Q4_0 encoders give exactly the
// bytes llama.cpp's quantizer writes, and every decoder reproduces the F32
// weights within the type's quantization error (a wrong block layout gives
// errors of the order of the weights themselves).
func TestQuantizeMatchesLlamaCpp(t *testing.T) {
	dir := t.TempDir()
	cfg := synthConfig(5)
	cfg.NEmbd, cfg.NFF, cfg.NLayer = 256, 512, 1
	f32 := writeSynth(t, dir, "m.gguf", cfg)
	src := openGGUF(t, f32)
	for _, tc := range []struct {
		typ    string
		exact  bool
		maxRel float64 // RMS error / RMS weight
	}{
		{"q8_0", true, 0.01}, {"q4_0", true, 0.15}, {"q4_k", false, 0.12}, {"q6_k", false, 0.04},
		{"q4_1", false, 0.12}, {"q5_0", false, 0.07}, {"q5_1", false, 0.06}, {"q5_k", false, 0.06},
		{"f16", true, 0.001}, {"bf16", true, 0.01},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			q := openGGUF(t, quantize(t, f32, tc.typ))
			n := 0
			for _, qt := range q.Tensors {
				if len(qt.Shape) != 2 {
					continue
				}
				want, err := src.TensorFloats(qt.Name)
				if err != nil {
					t.Fatal(err)
				}
				raw := tensorData(t, q, qt.Name)
				got := make([]float32, len(want))
				if err := models.DequantizeRow(qt.Type, raw, got); err != nil {
					t.Fatal(err)
				}
				var se, sw float64
				for i := range want {
					d := float64(got[i] - want[i])
					se += d * d
					sw += float64(want[i]) * float64(want[i])
				}
				if rel := math.Sqrt(se / sw); rel > tc.maxRel || rel == 0 && qt.Type != models.TypeF32 {
					t.Errorf("%s (%v): decoded RMS error %.4g of the weights, want ≤ %g", qt.Name, qt.Type, rel, tc.maxRel)
				}
				if tc.exact {
					enc := make([]byte, len(raw))
					if err := models.QuantizeRow(qt.Type, want, enc); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(enc, raw) {
						t.Errorf("%s (%v): our encoding differs from llama.cpp's", qt.Name, qt.Type)
					}
				}
				n++
			}
			if n == 0 {
				t.Fatal("no 2-D tensors")
			}
		})
	}
}

func TestQuantizeRowEdgeCases(t *testing.T) {
	// Zeros (and what the type represents exactly) survive a round trip.
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 96)
	for i := 32; i < 64; i++ {
		x[i] = 0.5
	}
	for i := 64; i < 96; i++ {
		x[i] = float32(rng.NormFloat64())
	}
	for _, typ := range []models.GGMLType{models.TypeQ8_0, models.TypeQ4_0, models.TypeF16, models.TypeBF16, models.TypeF32} {
		rb, err := models.RowBytes(typ, len(x))
		if err != nil {
			t.Fatal(err)
		}
		enc := make([]byte, rb)
		if err := models.QuantizeRow(typ, x, enc); err != nil {
			t.Fatal(err)
		}
		dec := make([]float32, len(x))
		if err := models.DequantizeRow(typ, enc, dec); err != nil {
			t.Fatal(err)
		}
		exact := 32 // zeros always
		switch typ {
		case models.TypeF32:
			exact = len(x)
		case models.TypeF16, models.TypeBF16, models.TypeQ4_0:
			exact = 64 // 0.5 is representable (Q4_0: d = -0.5/8, q = 0)
		}
		for i := 0; i < exact; i++ {
			if dec[i] != x[i] {
				t.Errorf("%v: element %d: %g → %g", typ, i, x[i], dec[i])
				break
			}
		}
	}
	if _, err := models.RowBytes(models.TypeQ8_0, 33); err == nil {
		t.Error("RowBytes(Q8_0, 33): no error")
	}
	if err := models.QuantizeRow(models.TypeQ4_K, make([]float32, 256), make([]byte, 144)); err == nil {
		t.Error("QuantizeRow(Q4_K): no error")
	}
	if err := models.DequantizeRow(models.TypeIQ4_XS, make([]byte, 136), make([]float32, 256)); err == nil {
		t.Error("DequantizeRow(IQ4_XS): no error")
	}
}
