package lora

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/spectrumkit/spectrum/models"
)

// ExportAdapter writes the adapter as a GGUF in llama.cpp's LoRA format
// (general.type=adapter, adapter.type=lora, adapter.lora.alpha, tensors
// <base>.lora_a [n_in, r] and <base>.lora_b [r, n_out], F32), which
// llama_adapter_lora_init loads; at scale 1 llama.cpp applies alpha/r as
// the training graph does.
func (t *Trainer) ExportAdapter(path string) error {
	if t.be == nil {
		return errors.New("lora: trainer is closed")
	}
	w := models.NewWriter()
	for _, kv := range []models.KV{
		{Key: "general.architecture", Value: t.hp.arch},
		{Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"},
		{Key: "adapter.lora.alpha", Value: float32(t.cfg.Alpha)},
	} {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("lora: %v", err)
		}
	}
	for _, p := range t.pairs {
		if err := w.AddF32(p.base+".lora_a", []uint64{uint64(p.nIn), uint64(p.rank)}, getF32(p.a)); err != nil {
			return fmt.Errorf("lora: %v", err)
		}
		if err := w.AddF32(p.base+".lora_b", []uint64{uint64(p.rank), uint64(p.nOut)}, getF32(p.b)); err != nil {
			return fmt.Errorf("lora: %v", err)
		}
	}
	if err := t.writeTokenRows(w); err != nil {
		return fmt.Errorf("lora: %v", err)
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("lora: writing adapter: %v", err)
	}
	return nil
}

const (
	checkpointType    = "spectrum-lora-checkpoint"
	checkpointVersion = 1
	ckpt              = "spectrum.lora."
)

// SaveCheckpoint writes the adapter, the AdamW moments, the step count, the
// data cursor and the state of Rand to one GGUF file (atomically).
// LoadCheckpoint on a Trainer made with the same base model and LoRA
// configuration continues bit-identically.
func (t *Trainer) SaveCheckpoint(path string) error {
	return t.SaveCheckpointWith(path, nil)
}

// RunKeyPrefix prefixes the caller's run record in a checkpoint (see
// SaveCheckpointWith and CheckpointRun).
const RunKeyPrefix = "spectrum.run."

// SaveCheckpointWith is SaveCheckpoint with a record of the caller's run
// settings (base hash, data hash, hyper-parameters) stored as
// spectrum.run.KEY strings, so that a resume can check that it continues
// the same run (CheckpointRun reads them back).
func (t *Trainer) SaveCheckpointWith(path string, run map[string]string) error {
	if t.be == nil {
		return errors.New("lora: trainer is closed")
	}
	rngState, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("lora: %v", err)
	}
	w := models.NewWriter()
	kvs := []models.KV{
		{Key: "general.architecture", Value: t.hp.arch},
		{Key: "general.type", Value: checkpointType},
		{Key: ckpt + "version", Value: uint32(checkpointVersion)},
		{Key: ckpt + "alpha", Value: t.cfg.Alpha},
		{Key: ckpt + "targets", Value: t.cfg.Targets},
		{Key: ckpt + "step", Value: uint64(t.step)},
		{Key: ckpt + "cursor", Value: uint64(t.cursor)},
		{Key: ckpt + "rng", Value: rngState},
		{Key: ckpt + "base.n_layer", Value: uint32(t.hp.nLayer)},
		{Key: ckpt + "base.n_embd", Value: uint32(t.hp.nEmbd)},
		{Key: ckpt + "base.n_vocab", Value: uint32(t.hp.nVocab)},
		{Key: ckpt + "lr", Value: t.cfg.LR},
		{Key: ckpt + "schedule", Value: t.cfg.Schedule},
	}
	keys := make([]string, 0, len(run))
	for k := range run {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kvs = append(kvs, models.KV{Key: RunKeyPrefix + k, Value: run[k]})
	}
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("lora: %v", err)
		}
	}
	if t.rows != nil {
		if err := w.Set(models.KeyTokenRowIDs, slices.Clone(t.rows.ids)); err != nil {
			return fmt.Errorf("lora: %v", err)
		}
	}
	for _, ts := range t.stateTensors() {
		if err := w.AddF32(ts.name, ts.shape, getF32(ts.t)); err != nil {
			return fmt.Errorf("lora: %v", err)
		}
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("lora: writing checkpoint: %v", err)
	}
	return nil
}

// CheckpointRun reads a checkpoint's run record (SaveCheckpointWith) and
// its step, without a Trainer: a resume compares the record with its own
// settings before loading any model. A checkpoint saved without a record
// gives an empty map.
func CheckpointRun(path string) (run map[string]string, step int, err error) {
	f, err := models.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("lora: checkpoint %s: %v", path, err)
	}
	defer f.Close()
	if typ, _ := f.String("general.type"); typ != checkpointType {
		return nil, 0, fmt.Errorf("lora: checkpoint %s: general.type is %q, not a spectrum LoRA checkpoint", path, typ)
	}
	st, err := f.Uint(ckpt + "step")
	if err != nil {
		return nil, 0, fmt.Errorf("lora: checkpoint %s: no step", path)
	}
	run = map[string]string{}
	for _, kv := range f.Metadata {
		if k, ok := strings.CutPrefix(kv.Key, RunKeyPrefix); ok {
			if v, ok := kv.Value.(string); ok {
				run[k] = v
			}
		}
	}
	return run, int(st), nil
}

type namedTensor struct {
	name  string
	shape []uint64
	t     tensor
}

// stateTensors lists every checkpointed tensor: the pairs', then the token
// rows'.
func (t *Trainer) stateTensors() []namedTensor {
	var ts []namedTensor
	for _, p := range t.pairs {
		ts = append(ts, p.stateTensors()...)
	}
	if t.rows != nil {
		ts = append(ts, t.rows.stateTensors(t.hp.nEmbd)...)
	}
	return ts
}

// stateTensors lists the pair's checkpointed tensors.
func (p *pair) stateTensors() []namedTensor {
	sa := []uint64{uint64(p.nIn), uint64(p.rank)}
	sb := []uint64{uint64(p.rank), uint64(p.nOut)}
	a, b := p.base+".lora_a", p.base+".lora_b"
	return []namedTensor{
		{a, sa, p.a}, {b, sb, p.b},
		{a + ".adam_m", sa, p.ma}, {a + ".adam_v", sa, p.va},
		{b + ".adam_m", sb, p.mb}, {b + ".adam_v", sb, p.vb},
	}
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint. The
// Trainer must have been made for the same base model with the same
// targets, ranks and alpha; otherwise, or if the file is damaged, it
// returns an error and leaves the Trainer unchanged.
func (t *Trainer) LoadCheckpoint(path string) error {
	if t.be == nil {
		return errors.New("lora: trainer is closed")
	}
	f, err := models.Open(path)
	if err != nil {
		return fmt.Errorf("lora: checkpoint %s: %v", path, err)
	}
	defer f.Close()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("lora: checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	if typ, _ := f.String("general.type"); typ != checkpointType {
		return bad("general.type is %q, not a spectrum LoRA checkpoint", typ)
	}
	if v, err := f.Uint(ckpt + "version"); err != nil || v != checkpointVersion {
		return bad("unsupported version (%v)", err)
	}
	if arch, _ := f.String("general.architecture"); arch != t.hp.arch {
		return bad("architecture %q, base model is %q", arch, t.hp.arch)
	}
	for _, d := range []struct {
		key  string
		want int
	}{{"base.n_layer", t.hp.nLayer}, {"base.n_embd", t.hp.nEmbd}, {"base.n_vocab", t.hp.nVocab}} {
		if v, err := f.Uint(ckpt + d.key); err != nil || int(v) != d.want {
			return bad("%s does not match the base model (%d)", d.key, d.want)
		}
	}
	if a, err := f.Float(ckpt + "alpha"); err != nil || a != t.cfg.Alpha {
		return bad("alpha %v differs from the trainer's %v", a, t.cfg.Alpha)
	}
	targets, err := f.Strings(ckpt + "targets")
	if err != nil || !slices.Equal(targets, t.cfg.Targets) {
		return bad("targets %v differ from the trainer's %v", targets, t.cfg.Targets)
	}
	step, err1 := f.Uint(ckpt + "step")
	cursor, err2 := f.Uint(ckpt + "cursor")
	if err := errors.Join(err1, err2); err != nil || step > math.MaxInt32 || cursor > math.MaxInt64 {
		return bad("bad step or cursor")
	}
	rv, ok := f.Value(ckpt + "rng")
	rngState, isBytes := rv.([]uint8)
	if !ok || !isBytes {
		return bad("missing RNG state")
	}
	// Read and check every tensor before touching the trainer.
	type load struct {
		t    tensor
		data []float32
	}
	var loads []load
	want := 0
	v, _ := f.Value(models.KeyTokenRowIDs)
	ids, _ := v.([]int32)
	var mine []int32
	if t.rows != nil {
		mine = t.rows.ids
	}
	if !slices.Equal(ids, mine) {
		return bad("trained token rows %v, the trainer's are %v (another --train-tokens?)", ids, mine)
	}
	{
		for _, ts := range t.stateTensors() {
			want++
			ti, ok := f.Tensor(ts.name)
			if !ok {
				return bad("missing tensor %s (made with other targets or another base model?)", ts.name)
			}
			if ti.Type != models.TypeF32 || !sameShape(ti.Shape, ts.shape) {
				return bad("tensor %s is %s %v, want F32 %v (different rank?)", ts.name, ti.Type, ti.Shape, ts.shape)
			}
			raw, err := f.TensorData(ts.name)
			if err != nil {
				return bad("%v", err)
			}
			data := make([]float32, len(raw)/4)
			for i := range data {
				v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return bad("tensor %s holds a non-finite value", ts.name)
				}
				data[i] = v
			}
			loads = append(loads, load{ts.t, data})
		}
	}
	if len(f.Tensors) != want {
		var extra []string
		for _, ti := range f.Tensors {
			if _, ok := t.findState(ti.Name); !ok {
				extra = append(extra, ti.Name)
			}
		}
		return bad("unexpected tensors %s", strings.Join(extra, ", "))
	}
	// The PCG state is validated by unmarshalling into a scratch copy.
	scratch := *t.pcg
	if err := scratch.UnmarshalBinary(rngState); err != nil {
		return bad("RNG state: %v", err)
	}
	for _, l := range loads {
		setF32(l.t, l.data)
	}
	*t.pcg = scratch
	t.step = int(step)
	t.cursor = int64(cursor)
	return nil
}

func (t *Trainer) findState(name string) (tensor, bool) {
	for _, ts := range t.stateTensors() {
		if ts.name == name {
			return ts.t, true
		}
	}
	return nil, false
}

// LoadAdapter sets the LoRA factors from an adapter GGUF (llama.cpp's
// format, e.g. one written by ExportAdapter or converted from PEFT by
// models.ImportPEFT): to start training from it, or to compare gradients
// with another trainer on the same initialisation. The adapter must hold
// exactly this trainer's pairs, with their shapes, and the same alpha; the
// optimizer state and step count are unchanged. On error the Trainer is
// unchanged.
func (t *Trainer) LoadAdapter(path string) error {
	if t.be == nil {
		return errors.New("lora: trainer is closed")
	}
	f, err := models.Open(path)
	if err != nil {
		return fmt.Errorf("lora: adapter %s: %v", path, err)
	}
	defer f.Close()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("lora: adapter %s: %s", path, fmt.Sprintf(format, args...))
	}
	if typ, _ := f.String("general.type"); typ != "adapter" {
		return bad("general.type is %q, not an adapter", typ)
	}
	if arch, _ := f.String("general.architecture"); arch != t.hp.arch {
		return bad("architecture %q, base model is %q", arch, t.hp.arch)
	}
	if a, err := f.Float("adapter.lora.alpha"); err != nil || math.Abs(a-t.cfg.Alpha) > 1e-6*t.cfg.Alpha {
		return bad("alpha %v differs from the trainer's %v", a, t.cfg.Alpha)
	}
	want := map[string]bool{}
	vals := map[tensor][]float32{}
	for _, p := range t.pairs {
		for _, nt := range p.stateTensors()[:2] {
			want[nt.name] = true
			ti, ok := f.Tensor(nt.name)
			if !ok {
				return bad("no %s (the trainer adapts %s with rank %d)", nt.name, p.base, p.rank)
			}
			if !slices.Equal(ti.Shape, nt.shape) {
				return bad("%s has shape %v, the trainer's is %v", nt.name, ti.Shape, nt.shape)
			}
			v, err := f.TensorFloats(nt.name)
			if err != nil {
				return bad("%v", err)
			}
			vals[nt.t] = v
		}
	}
	rows, names, err := t.readTokenRows(f)
	if err != nil {
		return bad("%v", err)
	}
	for _, n := range names {
		want[n] = true
	}
	for tt, v := range rows {
		vals[tt] = v
	}
	for _, ti := range f.Tensors {
		if !want[ti.Name] {
			return bad("%s is not one of the trainer's factors (its targets: %s)", ti.Name, strings.Join(t.cfg.Targets, ","))
		}
	}
	for tt, v := range vals {
		setF32(tt, v)
	}
	return nil
}
