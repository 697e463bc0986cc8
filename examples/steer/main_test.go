package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestExample runs the README's library example on stories260K, and checks
// that the README shows this very program.
func TestExample(t *testing.T) {
	var buf bytes.Buffer
	if err := run(context.Background(), filepath.Join("..", "..", "..", "shared", "models", "stories260K.gguf"), &buf); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^k=\d+ loss_geq_1=\d+\.\d{3} all_acc_geq_1=0\.\d{3}\n$`).MatchString(buf.String()) || strings.HasPrefix(buf.String(), "k=0 ") {
		t.Errorf("output %q", buf.String())
	}
	src, _ := os.ReadFile("main.go")
	readme, _ := os.ReadFile(filepath.Join("..", "..", "README.md"))
	i := bytes.Index(src, []byte("func run("))
	if i < 0 || !bytes.Contains(readme, src[i:]) {
		t.Error("README.md does not show examples/steer/main.go's run function as it is")
	}
}
