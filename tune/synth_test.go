package tune

import (
	"path/filepath"

	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/models/synth"
)

func synthGemma() synth.Config {
	return synth.Config{Arch: "gemma3", NEmbd: 64, NFF: 128, NLayer: 1, NHead: 2, HeadDim: 32,
		VocabFrom:          filepath.Join("..", "..", "shared", "models", "stories260K.gguf"),
		ExtraSpecialTokens: models.FamilyGemma3.TurnTokens(), Seed: 1}
}

func writeSynth(path string, cfg synth.Config) error { return synth.Write(path, cfg) }
