// Package suite is the Spectrum Suite: the data model of Spectrum Tuning rows
// (one optional description followed by exchangeable input/output examples),
// JSONL import and export, the built-in offline task generators, the
// diversity/validity ("coverage") tasks with their validators, the offline
// distributional-alignment tasks, and the train/test split by task name.
//
// Everything follows the reference implementation (github.com/tsor13/spectrum,
// see docs/spectrum-reference.md §1, §5.2, §5.3 and §6):
//
//   - Message contents are formatted as Python would print them: str() of a
//     single value, json.dumps (", " / ": " separators, ensure_ascii, declared
//     key order) of several values, repr of floats, str() of dicts and lists.
//   - Random numbers come from math/rand/v2 (PCG) and gonum's distuv, not
//     NumPy's streams: generated rows follow the reference recipes as
//     distributions, they are not bit-identical to the reference's rows.
//   - A generated row is a pure function of (task, seed, row index), so a
//     smaller --rows gives a prefix of a larger one. Unlike the reference, the
//     rows are not shuffled after generation (training shuffles anyway).
//   - The description is included with probability 0.6 (0.4 for normal), which
//     is what the reference code does: the 0.8 stated in the paper
//     (include_prior_prob=0.8) is never read by the reference code. Pass
//     PaperDescriptionProb to Task.GenerateWith to follow the paper instead.
//
// The package is pure Go (no cgo).
package suite
