// Command steer measures a model's in-context steerability with the spectrum
// library: what `spectrum eval steer MODEL --tasks negative_binomial
// --n-rows 8` prints, in 15 lines of Go.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/spectrumkit/spectrum/eval"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: steer MODEL.gguf")
	}
	if err := run(context.Background(), os.Args[1], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, model string, w io.Writer) error {
	res, err := eval.Run(ctx, eval.Config{
		Mode:   "steer",
		Models: []eval.ModelSpec{{Path: model}},
		Tasks:  []string{"negative_binomial"},
		NRows:  8,
	})
	if err != nil {
		return err
	}
	st := res.Models[0].Steer["negative_binomial"]
	_, err = fmt.Fprintf(w, "k=%d loss_geq_1=%.3f all_acc_geq_1=%.3f\n", st.K, st.LossGeq1, st.AllAccGeq1)
	return err
}
