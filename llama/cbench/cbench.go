// Package cbench holds decode loops written in C against llama.h. It is used
// only by benchmarks, as the baseline the Go code is compared with (same
// model, threads and work, run back to back in one process).
package cbench

/*
#include <stdlib.h>
#include <time.h>
#include <llama.h>

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// run decodes n_prompt tokens in one batch, then greedily generates n_gen
// tokens one at a time; it reports both durations in seconds. Returns 0 on
// success.
static int run(const char *path, int threads, int n_prompt, int n_gen, double *t_prompt, double *t_gen) {
	struct llama_model_params mp = llama_model_default_params();
	struct llama_model *model = llama_model_load_from_file(path, mp);
	if (!model) return 1;
	const struct llama_vocab *vocab = llama_model_get_vocab(model);
	int n_vocab = llama_vocab_n_tokens(vocab);
	struct llama_context_params cp = llama_context_default_params();
	cp.n_ctx = n_prompt + n_gen;
	cp.n_batch = n_prompt;
	cp.n_ubatch = n_prompt;
	cp.n_threads = threads;
	cp.n_threads_batch = threads;
	cp.no_perf = 1;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	if (!ctx) { llama_model_free(model); return 2; }
	struct llama_sampler *smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
	llama_sampler_chain_add(smpl, llama_sampler_init_greedy());

	struct llama_batch batch = llama_batch_init(n_prompt, 0, 1);
	for (int i = 0; i < n_prompt; i++) {
		batch.token[i] = 1 + (i * 7919) % (n_vocab - 1);
		batch.pos[i] = i;
		batch.n_seq_id[i] = 1;
		batch.seq_id[i][0] = 0;
		batch.logits[i] = i == n_prompt - 1;
	}
	batch.n_tokens = n_prompt;
	double t0 = now_s();
	int rc = llama_decode(ctx, batch);
	*t_prompt = now_s() - t0;
	if (rc == 0) {
		t0 = now_s();
		int idx = n_prompt - 1;
		for (int i = 0; i < n_gen && rc == 0; i++) {
			llama_token tok = llama_sampler_sample(smpl, ctx, idx);
			batch.token[0] = tok;
			batch.pos[0] = n_prompt + i;
			batch.n_seq_id[0] = 1;
			batch.seq_id[0][0] = 0;
			batch.logits[0] = 1;
			batch.n_tokens = 1;
			idx = 0;
			rc = llama_decode(ctx, batch);
		}
		*t_gen = now_s() - t0;
	}
	llama_batch_free(batch);
	llama_sampler_free(smpl);
	llama_free(ctx);
	llama_model_free(model);
	return rc == 0 ? 0 : 3;
}
// run_batched decodes an n_prompt-token prompt in sequence n_seq, shares it
// with sequences 0..n_seq-1 (unified KV: metadata only; split: a buffer copy
// per sequence, as the sample engine does), then runs n_gen steps that each decode
// one token for every sequence with logits, feeding fixed tokens, or, with
// sample, each sequence's own draw at temperature 1 from the whole
// vocabulary (llama.cpp's dist sampler, one chain per sequence, as its
// batched example does). Reports the whole duration.
static int run_batched(const char *path, int threads, int n_prompt, int n_seq, int n_gen, int unified, int sample, int flash, double *t_all) {
	struct llama_model_params mp = llama_model_default_params();
	struct llama_model *model = llama_model_load_from_file(path, mp);
	if (!model) return 1;
	int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
	struct llama_context_params cp = llama_context_default_params();
	cp.n_ctx = unified ? n_prompt + n_seq * (n_gen + 1) + 8 : (n_seq + 1) * ((n_prompt + n_gen + 1 + 255) / 256 * 256);
	cp.n_batch = n_prompt > n_seq ? n_prompt : n_seq;
	cp.n_ubatch = cp.n_batch < 512 ? cp.n_batch : 512;
	cp.n_seq_max = n_seq + 1;
	cp.n_threads = threads;
	cp.n_threads_batch = threads;
	cp.kv_unified = unified;
	cp.no_perf = 1;
	cp.flash_attn_type = flash ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	if (!ctx) { llama_model_free(model); return 2; }
	llama_memory_t mem = llama_get_memory(ctx);
	struct llama_batch batch = llama_batch_init(cp.n_batch, 0, 1);
	struct llama_sampler **smpl = calloc(n_seq, sizeof(*smpl));
	for (int s = 0; sample && s < n_seq; s++) {
		smpl[s] = llama_sampler_chain_init(llama_sampler_chain_default_params());
		llama_sampler_chain_add(smpl[s], llama_sampler_init_dist(1234 + s));
	}
	double t0 = now_s();
	for (int i = 0; i < n_prompt - 1; i++) {
		batch.token[i] = 1 + (i * 7919) % (n_vocab - 1);
		batch.pos[i] = i;
		batch.n_seq_id[i] = 1;
		batch.seq_id[i][0] = n_seq;
		batch.logits[i] = 0;
	}
	batch.n_tokens = n_prompt - 1;
	int rc = llama_decode(ctx, batch);
	for (int s = 0; s < n_seq && rc == 0; s++) llama_memory_seq_cp(mem, n_seq, s, -1, -1);
	for (int step = 0; step < n_gen && rc == 0; step++) {
		for (int s = 0; s < n_seq; s++) {
			batch.token[s] = sample && step > 0 ? llama_sampler_sample(smpl[s], ctx, s) : 1 + (step * 31 + s * 17) % (n_vocab - 1);
			batch.pos[s] = n_prompt - 1 + step;
			batch.n_seq_id[s] = 1;
			batch.seq_id[s][0] = s;
			batch.logits[s] = 1;
		}
		batch.n_tokens = n_seq;
		rc = llama_decode(ctx, batch);
	}
	*t_all = now_s() - t0;
	for (int s = 0; sample && s < n_seq; s++) llama_sampler_free(smpl[s]);
	free(smpl);
	llama_batch_free(batch);
	llama_free(ctx);
	llama_model_free(model);
	return rc == 0 ? 0 : 3;
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// Run loads the model at path and times one n-prompt-token batch decode and
// n-gen greedy single-token steps, all in C.
func Run(path string, threads, nPrompt, nGen int) (prompt, gen time.Duration, err error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var tp, tg C.double
	if rc := C.run(cpath, C.int(threads), C.int(nPrompt), C.int(nGen), &tp, &tg); rc != 0 {
		return 0, 0, fmt.Errorf("cbench: C decode loop failed (code %d)", int(rc))
	}
	return time.Duration(float64(tp) * 1e9), time.Duration(float64(tg) * 1e9), nil
}

// RunBatched times the shared-prompt batched decode of n-seq sequences for
// n-gen steps, in C; with sample each step's tokens are drawn at temperature
// 1 from the whole vocabulary (one llama.cpp sampler chain per sequence),
// else fixed tokens are fed. flash is "on" or "off" (llama.cpp's flash
// attention).
func RunBatched(path string, threads, nPrompt, nSeq, nGen int, unified, sample bool, flash string) (time.Duration, error) {
	u, smp, fa := 0, 0, 0
	if flash == "on" {
		fa = 1
	}
	if unified {
		u = 1
	}
	if sample {
		smp = 1
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var t C.double
	if rc := C.run_batched(cpath, C.int(threads), C.int(nPrompt), C.int(nSeq), C.int(nGen), C.int(u), C.int(smp), C.int(fa), &t); rc != 0 {
		return 0, fmt.Errorf("cbench: C batched loop failed (code %d)", int(rc))
	}
	return time.Duration(float64(t) * 1e9), nil
}
