package llama

/*
#include <llama.h>
extern void spectrumGoLog(int level, char *text);
static void spectrum_log_cb(enum ggml_log_level level, const char *text, void *ud) {
	(void)ud;
	spectrumGoLog((int)level, (char *)text);
}
static void spectrum_install_log(void) { llama_log_set(spectrum_log_cb, NULL); }
*/
import "C"

import (
	"strings"
	"sync"
	"unsafe"

	"github.com/charmbracelet/log"
)

// Logger receives llama.cpp and ggml log lines; nil means the standard
// charmbracelet logger (log.Default()), with a "llama.cpp" prefix. llama.cpp is
// chatty: its errors are logged at Warn and everything else at Debug, so a
// logger at the usual Info or Warn level shows only what went wrong. Errors that
// matter to the caller are also returned as Go errors.
var Logger *log.Logger

var (
	logMu   sync.Mutex
	logBuf  strings.Builder
	logLast C.int
)

func installLogger() { C.spectrum_install_log() }

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

//export spectrumGoLog
func spectrumGoLog(level C.int, text *C.char) {
	s := C.GoString(text)
	logMu.Lock()
	defer logMu.Unlock()
	if level != C.GGML_LOG_LEVEL_CONT {
		logLast = level
	}
	logBuf.WriteString(s)
	if !strings.HasSuffix(s, "\n") {
		return // llama.cpp builds some lines piece by piece
	}
	line := strings.TrimRight(logBuf.String(), "\n")
	logBuf.Reset()
	if line == "" || line == "." {
		return
	}
	l := Logger
	if l == nil {
		l = log.Default()
	}
	switch logLast {
	case C.GGML_LOG_LEVEL_ERROR:
		l.Warn("llama.cpp: " + line)
	default:
		l.Debug("llama.cpp: " + line)
	}
}
