// Package llamacheck holds the tests that check files written by package
// models (merged and transplanted models) by running them in llama.cpp.
// They live apart from package models so that models' own test binary, which
// the fuzzer rebuilds with coverage instrumentation, does not link llama.cpp.
package llamacheck
