// Package eval implements the three evaluations of Spectrum Tuning exactly as
// the reference defines them (docs/spectrum-reference.md §5):
//
//   - in-context steerability (Scorer, PrepareSteer, EvalSteer,
//     AggregateSteer): each row scored in one forward pass, logits requested
//     only at positions that predict a labelled token, several rows packed
//     into one decode as separate sequences (each with its own KV stream);
//     per-output summed NLL in nats (end token included), first-token, token
//     and all-token accuracy; k chosen as the reference's get_example_k but
//     with the evaluated model's own tokenizer and format (the reference
//     always used google/gemma-3-1b-it's tokenizer in the spectrum format);
//   - valid-output coverage (EvalCoverage, Coverage, AggregateCoverage):
//     samples through package sample with the first-line protocol;
//   - distributional alignment (EvalDist, CompareDistributions): candidate
//     probabilities scored exactly with the prompt decoded once and shared by
//     the candidates (ScoreContinuations), no end token unless Complete.
//
// Report is the stable results JSON of `spectrum eval`.
package eval
