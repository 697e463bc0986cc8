// Command spectrum is the command-line interface of the spectrum toolkit:
// inspect, convert, quantize and run GGUF models, render Spectrum formats,
// generate Spectrum Suite tasks, sample, evaluate and tune.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/llama"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	Threads   int
	GPULayers int
	LogLevel  string
	Quiet     bool
}

// commandFactories is filled by each command file's init, so that adding a
// command never needs an edit here.
var commandFactories []func(*globalOptions) *cobra.Command

func register(f func(*globalOptions) *cobra.Command) {
	commandFactories = append(commandFactories, f)
}

func newRootCmd() (*cobra.Command, *globalOptions) {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "spectrum",
		Short:         "Spectrum Tuning toolkit for local GGUF language models",
		Long:          "spectrum runs, samples, evaluates and Spectrum-tunes GGUF language models with llama.cpp.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFiniteFlags(cmd); err != nil {
				return err
			}
			if err := g.checkThreads(cmd); err != nil {
				return err
			}
			return g.setup(cmd.ErrOrStderr())
		},
	}
	pf := root.PersistentFlags()
	pf.IntVarP(&g.Threads, "threads", "t", 0, "CPU threads (default: the physical cores this process may use; 1 for models under 20M parameters)")
	pf.Var((*gpuLayersFlag)(&g.GPULayers), "gpu-layers", "layers to offload to a GPU: a number or \"all\" (alias -ngl, --n-gpu-layers)")
	pf.StringVar(&g.LogLevel, "log-level", "warn", "log level: debug, info, warn, error")
	pf.BoolVarP(&g.Quiet, "quiet", "q", false, "print only results (no progress, no logs below error)")
	root.Flags().SortFlags = false
	root.SetFlagErrorFunc(flagError)
	root.Version = "(see the template)" // --version prints versionText
	cobra.AddTemplateFunc("spectrumVersion", versionText)
	root.SetVersionTemplate("{{spectrumVersion}}\n")

	var cmds []*cobra.Command
	for _, f := range commandFactories {
		cmds = append(cmds, f(g))
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	root.SetGlobalNormalizationFunc(normalizeFlag) // after AddCommand: it reaches every command
	return root, g
}

// gpuLayersFlag parses --gpu-layers: a count, or "all" (stored as -1).
type gpuLayersFlag int

func (f *gpuLayersFlag) String() string {
	if *f < 0 {
		return "all"
	}
	return strconv.Itoa(int(*f))
}

func (f *gpuLayersFlag) Set(s string) error {
	if s == "all" {
		*f = -1
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("want a number of layers ≥ 0 or \"all\", got %q", s)
	}
	*f = gpuLayersFlag(n)
	return nil
}

func (f *gpuLayersFlag) Type() string { return "N|all" }

// setup validates the global flags and configures logging.
func (g *globalOptions) setup(stderr io.Writer) error {
	if g.Threads < 0 {
		return fmt.Errorf("--threads must be ≥ 1 (or 0 for the default), got %d", g.Threads)
	}
	lvl, err := log.ParseLevel(g.LogLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if g.Quiet {
		lvl = log.ErrorLevel
	}
	log.SetLevel(lvl)
	log.SetOutput(stderr)
	outfile.Logf = log.Warnf
	if g.Threads > 0 {
		if n := llama.AvailableCPUs(); g.Threads > n {
			log.Warnf("--threads %d is more than the %d CPUs this process may use; ggml's workers spin, so extra threads make every step slower", g.Threads, n)
		}
	}
	return nil
}

// yieldCoresToGGML limits Go to one scheduler thread (unless GOMAXPROCS is
// set) for commands whose work is llama.cpp/ggml compute: ggml's workers
// spin on every core, and the Go runtime's extra threads competing with them
// cost 4 % of single-stream generation speed on 2 cores (measured by
// BenchmarkBindingVsC: 0.96× the C loop with GOMAXPROCS=2, 1.01× with 1).
func yieldCoresToGGML() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// threads returns the thread count to use for a model with nParams parameters.
func (g *globalOptions) threads(nParams uint64) int {
	if g.Threads > 0 {
		return g.Threads
	}
	return llama.AutoThreads(nParams)
}

func main() {
	root, _ := newRootCmd()
	root.SetArgs(rewriteLlamaArgs(os.Args[1:]))
	ctx, caught := notifySignals()
	err := root.ExecuteContext(ctx)
	outfile.RemoveTemps()
	if err == nil {
		return
	}
	if sig := caught(); sig != 0 {
		// Interrupted: the command has stopped and cleaned up (tune has
		// saved a checkpoint). The usual shell convention: 128 + signal.
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "spectrum: interrupted (%s)\n", signalName(sig))
		} else {
			fmt.Fprintf(os.Stderr, "spectrum: interrupted (%s): %v\n", signalName(sig), err)
		}
		os.Exit(128 + int(sig))
	}
	fmt.Fprintln(os.Stderr, "spectrum:", err)
	os.Exit(1)
}

// notifySignals returns a context that SIGINT (Ctrl-C) and SIGTERM (kill,
// timeout, docker stop, SLURM preemption) cancel, so every long command
// stops cleanly: its temporary files are removed and tune saves a
// checkpoint. A second signal stops at once, removing temporary files.
// caught reports the first signal (0 if none).
func notifySignals() (ctx context.Context, caught func() syscall.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var first atomic.Int32
	go func() {
		for s := range ch {
			sig := s.(syscall.Signal)
			if first.CompareAndSwap(0, int32(sig)) {
				cancel()
				continue
			}
			outfile.RemoveTemps()
			fmt.Fprintf(os.Stderr, "spectrum: second signal (%s): stopping now\n", signalName(sig))
			os.Exit(128 + int(first.Load()))
		}
	}()
	return ctx, func() syscall.Signal { return syscall.Signal(first.Load()) }
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// logf writes an informational line to stderr unless --quiet.
func (g *globalOptions) logf(format string, args ...any) {
	if !g.Quiet {
		log.Infof(format, args...)
	}
}

// versionText is what --version prints: this build (module version, git
// commit), the llama.cpp it was built from, and the compute backends.
func versionText() string {
	version, commit, llamaFrom := "(devel)", "unknown", "github.com/ollama/ollama (unknown version)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
		if rev != "" {
			commit = rev[:min(12, len(rev))] + modified
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/ollama/ollama" {
				llamaFrom = d.Path + " " + d.Version
			}
		}
	}
	var backends []string
	for _, d := range llama.Devices() {
		backends = append(backends, d.Name)
	}
	return fmt.Sprintf("spectrum %s, commit %s\nllama.cpp and ggml: from %s\nbackends: %s\nblas: %s\nsystem: %s",
		version, commit, llamaFrom, strings.Join(backends, ", "), blasLine(), llama.SystemInfo())
}

// blasLine names the BLAS library in use, or why there is none.
func blasLine() string {
	lib, err := llama.BLAS()
	if lib != "" {
		return lib
	}
	return fmt.Sprintf("none (%v)", err)
}
