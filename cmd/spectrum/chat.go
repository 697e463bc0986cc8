package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/chat"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/llama"
)

func init() { register(newChatCmd) }

type chatFlags struct {
	model, system string
	lora          []string
	n             int
	sp            llama.SamplerParams
	seed          uint32
	nctx          int
}

const chatHelp = `commands: /reset (forget the conversation), /system TEXT (set the system message
and reset), /description TEXT, /example TEXT, /sample N (draw N outputs of the
distribution they define, in the Spectrum format, and show their counts),
/clear (forget description and examples), /help, /quit`

func newChatCmd(g *globalOptions) *cobra.Command {
	o := &chatFlags{}
	cmd := &cobra.Command{
		Use:   "chat MODEL.gguf",
		Short: "Talk with an instruct model, or steer a distribution interactively",
		Long: `chat holds a conversation with an instruct model through its own chat
template (llama.cpp's built-in renderer for the template in the GGUF), with
replies streamed as they are generated. A base model without a chat template
is refused: use generate (text) or sample (distributions) for it.

Beside the conversation it keeps a steerable distribution: /description TEXT
and /example TEXT build it up, /sample N draws N outputs in the Spectrum
format (the colon format without turn tokens) at temperature 1 and prints
how often each distinct output came, with the entropy.

` + chatHelp + `

On a terminal it prompts with "> "; otherwise it reads one message (or
command) per line from stdin and writes each reply on its own line, so it
can be scripted.`,
		Example: `  spectrum chat SmolLM2-135M-Instruct.Q4_1.gguf
  printf 'What is the capital of France?\n' | spectrum chat -m model.gguf --temp 0
  printf '/description A US state\n/example Ohio\n/sample 50\n' | spectrum chat model.gguf`,
		Args: modelArgs(1, "MODEL.gguf (or -m)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runChat(cmd, g, o, withModel(o.model, args)[0])
		},
	}
	f := cmd.Flags()
	addModelFlag(cmd, &o.model)
	f.StringVar(&o.system, "system", "", "system message")
	f.StringArrayVar(&o.lora, "lora", nil, "LoRA adapter FILE[:SCALE] (repeatable)")
	f.IntVarP(&o.n, "n", "n", 512, "most tokens per reply (alias --n-predict)")
	f.Float32Var(&o.sp.Temp, "temp", 0.8, "temperature of replies (0: greedy); /sample always draws at 1")
	f.IntVar(&o.sp.TopK, "top-k", 0, "keep the k most likely tokens (0: off)")
	f.Float32Var(&o.sp.TopP, "top-p", 1, "nucleus sampling mass (1: off)")
	f.Float32Var(&o.sp.MinP, "min-p", 0, "drop tokens below this fraction of the top probability (0: off)")
	f.Float32Var(&o.sp.RepeatPenalty, "repeat-penalty", 1, "penalize repeated tokens (1: off)")
	f.Uint32VarP(&o.seed, "seed", "s", 1, "random seed")
	f.IntVarP(&o.nctx, "ctx", "c", 0, "context size (0: the model's, at most 4096; alias --ctx-size)")
	setAliases(cmd, map[string]string{"n-predict": "n", "ctx-size": "ctx"})
	return cmd
}

func runChat(cmd *cobra.Command, g *globalOptions, o *chatFlags, modelPath string) error {
	yieldCoresToGGML()
	if err := checkSampling(o.sp.Temp, o.sp.TopP, o.sp.MinP, o.sp.TopK); err != nil {
		return err
	}
	if err := cmp3(checkRange("n", float64(o.n), 1, math.Inf(1)), checkRange("ctx", float64(o.nctx), 0, math.Inf(1)),
		checkRange("repeat-penalty", float64(o.sp.RepeatPenalty), 0, math.Inf(1))); err != nil {
		return err
	}
	adapters, err := parseLoRA(o.lora)
	if err != nil {
		return err
	}
	m, err := g.loadModel(modelPath, false)
	if err != nil {
		return err
	}
	defer m.Close()
	sp := o.sp
	sp.Seed = o.seed
	s, err := chat.New(m, chat.Options{Threads: g.threads(m.NParams()), Adapters: adapters, MaxTokens: o.n, NCtx: o.nctx, Sampler: sp, System: o.system})
	if err != nil {
		return err
	}
	defer s.Close()

	in, out := cmd.InOrStdin(), cmd.OutOrStdout()
	term := progress.IsTerminal(out) && progress.IsTerminal(in)
	w := bufio.NewWriter(out)
	defer w.Flush()
	if term {
		fmt.Fprintf(w, "chat with %s (%s to list commands)\n", modelPath, "/help")
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	sampleSeed := uint64(o.seed)
	for {
		if term {
			fmt.Fprint(w, "> ")
		}
		w.Flush()
		if !sc.Scan() {
			break
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "/") {
			w.Flush() // what was said before goes out before /sample's progress
			quit, err := chatCommand(cmd, s, w, line, &sampleSeed, g.Quiet)
			if err != nil {
				fmt.Fprintln(w, "error:", err)
			}
			if quit {
				return nil
			}
			continue
		}
		_, err := s.Send(cmd.Context(), line, func(piece string) {
			w.WriteString(piece)
			if term {
				w.Flush()
			}
		})
		fmt.Fprintln(w)
		if err != nil {
			if cmd.Context().Err() != nil {
				return err
			}
			fmt.Fprintln(w, "error:", err)
		}
	}
	return sc.Err()
}

// chatCommand runs one /command; it reports whether to quit.
func chatCommand(cmd *cobra.Command, s *chat.Session, w io.Writer, line string, seed *uint64, quiet bool) (bool, error) {
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/quit", "/exit", "/bye":
		return true, nil
	case "/help":
		fmt.Fprintln(w, chatHelp)
	case "/reset":
		s.Reset()
		fmt.Fprintln(w, "(conversation reset)")
	case "/system":
		s.SetSystem(arg)
		fmt.Fprintln(w, "(system message set; conversation reset)")
	case "/description":
		if arg == "" {
			return false, fmt.Errorf("/description needs a text")
		}
		s.SetDescription(arg)
		fmt.Fprintln(w, "(description set)")
	case "/example":
		if arg == "" {
			return false, fmt.Errorf("/example needs a text")
		}
		s.AddExample(arg)
		_, ex := s.Steer()
		fmt.Fprintf(w, "(%d examples)\n", len(ex))
	case "/clear":
		s.ClearSteer()
		fmt.Fprintln(w, "(description and examples cleared)")
	case "/sample":
		n := 20
		if arg != "" {
			v, err := strconv.Atoi(arg)
			if err != nil || v < 1 {
				return false, fmt.Errorf("/sample N: want a number ≥ 1, got %q", arg)
			}
			n = v
		}
		bar := progress.New(cmd.ErrOrStderr(), n, "sampling", "outputs", quiet)
		d, err := s.Sample(cmd.Context(), n, *seed, func(done int) { bar.Set(done, "") })
		if err != nil {
			bar.Stop("stopped")
			return false, err
		}
		bar.Finish()
		*seed++ // the next /sample draws afresh
		for _, c := range d.Counts {
			fmt.Fprintf(w, "%6d  %5.1f%%  %-20s  %s\n", c.N, 100*c.Share, strings.Repeat("█", int(math.Round(20*c.Share))), strconv.Quote(c.Text))
		}
		fmt.Fprintf(w, "%d distinct of %d; entropy %.3f nats (%s)\n", len(d.Counts), d.N, d.Entropy, d.Format)
	default:
		return false, fmt.Errorf("unknown command %s (/help lists them)", name)
	}
	return false, nil
}

// cmp3 returns the first non-nil error.
func cmp3(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
