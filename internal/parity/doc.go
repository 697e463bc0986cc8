// Package parity holds the tests that compare spectrum with the reference
// stack (Hugging Face transformers, PEFT; installed by `make pypeer`) on the
// real models of `make models`. Its Python halves sit beside the tests; each
// reads JSON on stdin and writes JSON on stdout. Outside CI the tests skip
// when the venv is missing; in CI they fail.
package parity
