package models

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// AdapterInfo describes a LoRA adapter GGUF on its own (no base model):
// what `spectrum info` shows for an adapter.
type AdapterInfo struct {
	Path         string            `json:"path"`
	Architecture string            `json:"architecture"`
	AdapterType  string            `json:"adapter_type"` // adapter.type: "lora"
	Alpha        float64           `json:"alpha"`        // adapter.lora.alpha (0: none)
	Ranks        []int             `json:"ranks"`        // distinct ranks
	Targets      []string          `json:"targets"`      // adapted weights by kind: attn_q, ffn_down, token_embd, …
	Layers       int               `json:"layers"`       // blocks with at least one adapted weight
	Pairs        int               `json:"pairs"`        // adapted weights
	TokenRows    []int32           `json:"token_rows"`   // ids of trained token rows (spectrum.token_rows.ids), or none
	Params       uint64            `json:"params"`       // values in the adapter's tensors
	Provenance   map[string]string `json:"provenance"`   // spectrum.* metadata (base sha256, hyper-parameters, steps, …)
}

// IsAdapter reports whether f is an adapter (general.type "adapter").
func IsAdapter(f *File) bool {
	t, _ := f.String("general.type")
	return t == "adapter"
}

// DescribeAdapter summarizes an adapter file; it does not need the base
// model (InspectLoRA checks one against a base).
func DescribeAdapter(f *File) (*AdapterInfo, error) {
	if !IsAdapter(f) {
		return nil, fmt.Errorf("models: %s is not an adapter (general.type is not \"adapter\")", f.pathOr())
	}
	a := &AdapterInfo{Path: f.Path, Provenance: map[string]string{}}
	a.Architecture, _ = f.String("general.architecture")
	a.AdapterType, _ = f.String("adapter.type")
	a.Alpha, _ = f.Float("adapter.lora.alpha")
	targets, layers, ranks := map[string]bool{}, map[string]bool{}, map[int]bool{}
	for _, t := range f.Tensors {
		a.Params += t.Elements()
		base, ok := strings.CutSuffix(t.Name, loraSuffixB)
		if !ok {
			continue
		}
		a.Pairs++
		if len(t.Shape) > 0 {
			ranks[int(t.Shape[0])] = true
		}
		parts := strings.Split(strings.TrimSuffix(base, ".weight"), ".")
		if len(parts) >= 3 && parts[0] == "blk" {
			layers[parts[1]] = true
			targets[strings.Join(parts[2:], ".")] = true
		} else {
			targets[strings.Join(parts, ".")] = true
		}
	}
	for k := range targets {
		a.Targets = append(a.Targets, k)
	}
	slices.Sort(a.Targets)
	for r := range ranks {
		a.Ranks = append(a.Ranks, r)
	}
	slices.Sort(a.Ranks)
	a.Layers = len(layers)
	if v, ok := f.Value(KeyTokenRowIDs); ok {
		a.TokenRows, _ = v.([]int32)
	}
	for _, kv := range f.Metadata {
		if k, ok := strings.CutPrefix(kv.Key, "spectrum."); ok {
			a.Provenance[k] = fmt.Sprint(kv.Value)
		}
	}
	return a, nil
}

// FileSHA256 is the hex sha256 of a file's bytes (the identity of a base
// model in adapters and checkpoints).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
