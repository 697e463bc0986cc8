package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConvertLlama2cCLI(t *testing.T) {
	shared := sharedModels
	ckpt, tok := filepath.Join(shared, "stories260K.bin"), filepath.Join(shared, "tok512.bin")
	want, err := os.ReadFile(filepath.Join(shared, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "s.gguf")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"ok", []string{"convert", "llama2c", "--checkpoint", ckpt, "--tokenizer", tok, "-o", out}, ""},
		{"missing flag", []string{"convert", "llama2c", "--checkpoint", ckpt, "-o", out}, `required flag(s) "tokenizer" not set`},
		{"output is input", []string{"convert", "llama2c", "--checkpoint", ckpt, "--tokenizer", tok, "-o", ckpt}, "also an input"},
		{"swapped inputs", []string{"convert", "llama2c", "--checkpoint", tok, "--tokenizer", ckpt, "-o", out + "2"}, "llama2.c checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout, "5 layers") {
				t.Errorf("stdout %q", stdout)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, want) {
				t.Error("converted file differs from llama.cpp's stories260K.gguf")
			}
		})
	}
}
