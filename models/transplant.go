package models

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/spectrumkit/spectrum/internal/outfile"
)

// Names of the tensors whose rows a transplant copies.
const (
	TensorTokenEmbd = "token_embd.weight"
	TensorOutput    = "output.weight"
)

// TransplantOptions tune Transplant.
type TransplantOptions struct {
	// Tokens are the texts of the tokens whose rows are copied; empty means
	// the turn tokens of the donor's detected chat family.
	Tokens []string
}

// TransplantTensor reports how the rows of one base tensor were replaced.
type TransplantTensor struct {
	Name   string   // base tensor written
	Source string   // donor tensor the rows came from (token_embd.weight for a tied donor output)
	Type   GGMLType // the base tensor's type, kept
	// Requantized: the donor's type differs, so each row was decoded and
	// re-encoded in Type (otherwise raw bytes were copied).
	Requantized bool
	DonorType   GGMLType
}

// TransplantResult describes a finished transplant.
type TransplantResult struct {
	Family  Family   // the donor's detected chat family
	Tokens  []string // the tokens whose rows were copied
	IDs     []int    // their ids (equal in both vocabularies)
	Tensors []TransplantTensor
	// Notes are things the caller should know (e.g. a tied base output).
	Notes []string
}

// Transplant writes to outPath a copy of the base model whose token-embedding
// and output rows for the given tokens are the donor's, as the Spectrum
// reference's weight transfer does (base embed_tokens[id] := instruct
// embed_tokens[id], base lm_head[id] := instruct lm_head[id]): the format
// tokens keep the instruct model's learned meaning while every other weight
// stays pretrained. The base's metadata (and so its tokenizer) is kept.
//
// Both models must have the same architecture, the same token-embedding
// shape, and the same id and text for every token. A donor whose output is
// tied to its embedding gives its embedding rows to an untied base output; a
// tied base gets only the embedding rows (its output is the embedding).
// Quantized rows are whole blocks (ggml stores a row as whole blocks), so
// same-type rows are copied byte for byte; across types a row is decoded and
// re-encoded (see CanDequantize and CanQuantize). outPath may not be an input.
func Transplant(basePath, donorPath, outPath string, opts TransplantOptions) (*TransplantResult, error) {
	for _, in := range []string{basePath, donorPath} {
		if outfile.SameFile(in, outPath) {
			return nil, fmt.Errorf("models: output %s is an input file; choose another path", outPath)
		}
	}
	base, err := Open(basePath)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	donor, err := Open(donorPath)
	if err != nil {
		return nil, err
	}
	defer donor.Close()
	w, res, err := transplantWriter(base, donor, opts)
	if err != nil {
		return nil, err
	}
	w.Protect(basePath, donorPath)
	if err := w.WriteFile(outPath); err != nil {
		return nil, err
	}
	return res, nil
}

// rowPatch replaces bytes [off, off+len(data)) of a tensor.
type rowPatch struct {
	off  int64
	data []byte
}

func transplantWriter(base, donor *File, opts TransplantOptions) (*Writer, *TransplantResult, error) {
	bi, di := InfoOf(base), InfoOf(donor)
	if bi.Architecture != di.Architecture {
		return nil, nil, fmt.Errorf("models: base %s is %q but donor %s is %q: a transplant needs the same architecture",
			base.pathOr(), bi.Architecture, donor.pathOr(), di.Architecture)
	}
	res := &TransplantResult{Family: di.Family}

	tokens := opts.Tokens
	if len(tokens) == 0 {
		tokens = di.Family.TurnTokens()
		if len(tokens) == 0 {
			return nil, nil, fmt.Errorf("models: donor %s has no known chat family (no turn tokens detected); name the tokens to copy", donor.pathOr())
		}
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		if tok == "" {
			return nil, nil, errors.New("models: empty token text")
		}
		if seen[tok] {
			continue
		}
		seen[tok] = true
		did, ok := di.TokenID(tok)
		if !ok {
			return nil, nil, fmt.Errorf("models: token %q is not in the donor's vocabulary (%s)", tok, donor.pathOr())
		}
		bid, ok := bi.TokenID(tok)
		if !ok {
			return nil, nil, fmt.Errorf("models: token %q is not in the base's vocabulary (%s): the vocabularies differ", tok, base.pathOr())
		}
		if bid != did {
			return nil, nil, fmt.Errorf("models: token %q is id %d in the base but id %d in the donor: the vocabularies differ", tok, bid, did)
		}
		res.Tokens = append(res.Tokens, tok)
		res.IDs = append(res.IDs, bid)
	}

	// Pair each base tensor to patch with its donor source.
	type pair struct{ dst, src string }
	pairs := []pair{{TensorTokenEmbd, TensorTokenEmbd}}
	_, baseOut := base.Tensor(TensorOutput)
	_, donorOut := donor.Tensor(TensorOutput)
	switch {
	case baseOut && donorOut:
		pairs = append(pairs, pair{TensorOutput, TensorOutput})
	case baseOut:
		pairs = append(pairs, pair{TensorOutput, TensorTokenEmbd})
		res.Notes = append(res.Notes, "the donor ties its output to its embedding: its embedding rows were copied into the base's output too")
	case donorOut:
		res.Notes = append(res.Notes, "the base ties its output to its embedding: only the embedding rows were copied (the donor's separate output rows are not used)")
	}

	patches := map[string][]rowPatch{}
	for _, p := range pairs {
		bt, ok := base.Tensor(p.dst)
		if !ok {
			return nil, nil, fmt.Errorf("models: base %s has no tensor %s", base.pathOr(), p.dst)
		}
		dt, ok := donor.Tensor(p.src)
		if !ok {
			return nil, nil, fmt.Errorf("models: donor %s has no tensor %s", donor.pathOr(), p.src)
		}
		if len(bt.Shape) != 2 || !equalShape(bt.Shape, dt.Shape) {
			return nil, nil, fmt.Errorf("models: shape mismatch: base %s is %v but donor %s is %v", p.dst, bt.Shape, p.src, dt.Shape)
		}
		nEmbd, nRows := int(bt.Shape[0]), bt.Shape[1]
		brow, err := RowBytes(bt.Type, nEmbd)
		if err != nil {
			return nil, nil, fmt.Errorf("models: base %s: %w", p.dst, err)
		}
		drow, err := RowBytes(dt.Type, nEmbd)
		if err != nil {
			return nil, nil, fmt.Errorf("models: donor %s: %w", p.src, err)
		}
		tt := TransplantTensor{Name: p.dst, Source: p.src, Type: bt.Type, DonorType: dt.Type, Requantized: bt.Type != dt.Type}
		if tt.Requantized {
			if !CanDequantize(dt.Type) {
				return nil, nil, fmt.Errorf("models: donor %s is %v and base %s is %v: decoding %v rows is not supported (convert one model to the other's type first)", p.src, dt.Type, p.dst, bt.Type, dt.Type)
			}
			if !CanQuantize(bt.Type) {
				return nil, nil, fmt.Errorf("models: donor %s is %v and base %s is %v: encoding %v rows is not supported (supported: F32, F16, BF16, Q8_0, Q4_0; or use a donor of the same type)", p.src, dt.Type, p.dst, bt.Type, bt.Type)
			}
		}
		sec, err := donor.TensorSection(p.src)
		if err != nil {
			return nil, nil, err
		}
		fl := make([]float32, nEmbd)
		for i, id := range res.IDs {
			if uint64(id) >= nRows {
				return nil, nil, fmt.Errorf("models: token %q (id %d) has no row in %s (%d rows)", res.Tokens[i], id, p.dst, nRows)
			}
			raw := make([]byte, drow)
			if _, err := sec.ReadAt(raw, int64(id)*int64(drow)); err != nil {
				return nil, nil, fmt.Errorf("models: %s: reading row %d of %s: %w", donor.pathOr(), id, p.src, err)
			}
			if tt.Requantized {
				if err := DequantizeRow(dt.Type, raw, fl); err != nil {
					return nil, nil, err
				}
				raw = make([]byte, brow)
				if err := QuantizeRow(bt.Type, fl, raw); err != nil {
					return nil, nil, err
				}
			}
			patches[p.dst] = append(patches[p.dst], rowPatch{off: int64(id) * int64(brow), data: raw})
		}
		sort.Slice(patches[p.dst], func(i, j int) bool { return patches[p.dst][i].off < patches[p.dst][j].off })
		res.Tensors = append(res.Tensors, tt)
	}

	w := NewWriter()
	if err := w.CopyMetadata(base, ""); err != nil {
		return nil, nil, err
	}
	if a, err := base.Uint(KeyAlignment); err == nil {
		if err := w.Set(KeyAlignment, uint32(a)); err != nil {
			return nil, nil, err
		}
	}
	donorName := di.Name
	if donorName == "" {
		donorName = filepath.Base(donor.pathOr())
	}
	if err := w.Set("spectrum.transplant.donor", donorName); err != nil {
		return nil, nil, err
	}
	if err := w.Set("spectrum.transplant.tokens", append([]string(nil), res.Tokens...)); err != nil {
		return nil, nil, err
	}
	for i := range base.Tensors {
		t := base.Tensors[i]
		sec, err := base.TensorSection(t.Name)
		if err != nil {
			return nil, nil, err
		}
		ps := patches[t.Name]
		if err := w.AddFunc(t.Name, t.Type, t.Shape, func(out io.Writer) error {
			return copyPatched(out, sec, ps)
		}); err != nil {
			return nil, nil, err
		}
	}
	return w, res, nil
}

// copyPatched streams sec to out, replacing the patched byte ranges (sorted,
// non-overlapping).
func copyPatched(out io.Writer, sec *io.SectionReader, ps []rowPatch) error {
	var pos int64
	for _, p := range ps {
		if _, err := io.Copy(out, io.NewSectionReader(sec, pos, p.off-pos)); err != nil {
			return err
		}
		if _, err := out.Write(p.data); err != nil {
			return err
		}
		pos = p.off + int64(len(p.data))
	}
	_, err := io.Copy(out, io.NewSectionReader(sec, pos, sec.Size()-pos))
	return err
}

func equalShape(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
