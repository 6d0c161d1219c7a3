package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Verdicts an auditor may give.
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
)

// Severities of a finding, as GitHub's check run annotation levels.
const (
	SeverityFailure = "failure"
	SeverityWarning = "warning"
	SeverityNotice  = "notice"
)

// maxVerdictSize bounds the verdict file specloop reads; an auditor that
// writes more is not writing a verdict.
const maxVerdictSize = 1 << 20

// Verdict is what the auditor wrote to its audit file:
//
//	{"verdict": "pass"|"fail", "summary": "...",
//	 "findings": [{"file": "a.go", "line": 12, "message": "...",
//	               "severity": "failure"|"warning"|"notice"}]}
type Verdict struct {
	Verdict  string    `json:"verdict"`
	Summary  string    `json:"summary"`
	Findings []Finding `json:"findings"`
}

// Finding is one remark of the auditor, shown as an annotation.
type Finding struct {
	// File is relative to the working copy, with forward slashes.
	File string `json:"file"`
	// Line is 1-based; 0 means the whole file.
	Line     int    `json:"line,omitempty"`
	Message  string `json:"message"`
	Severity string `json:"severity"`
}

// Passed reports whether the auditor passed the change.
func (v *Verdict) Passed() bool { return v != nil && v.Verdict == VerdictPass }

// ReadVerdict reads the verdict the auditor wrote to auditFile, a path
// relative to the working copy dir, and checks it. The error says what was
// wrong in words fit for the audit check run; the caller counts any error as
// a failed audit.
func ReadVerdict(dir, auditFile string) (*Verdict, error) {
	if auditFile == "" {
		auditFile = DefaultAuditFile
	}
	clean := path.Clean(filepath.ToSlash(auditFile))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("audit file %s is outside the working copy", auditFile)
	}
	name := filepath.Join(dir, filepath.FromSlash(clean))

	// Lstat, not Stat: the auditor ran untrusted and could have left a
	// symlink to a file of the host's.
	fi, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auditor wrote no verdict to %s", auditFile)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the auditor's verdict: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("auditor's verdict %s is not a regular file", auditFile)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading the auditor's verdict: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxVerdictSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the auditor's verdict: %w", err)
	}
	if len(data) > maxVerdictSize {
		return nil, fmt.Errorf("auditor's verdict in %s is larger than %d bytes", auditFile, maxVerdictSize)
	}
	return ParseVerdict(data, auditFile)
}

// ParseVerdict checks the verdict JSON in data; name is the audit file it
// came from, for the error text. It normalises what it can: verdict and
// severity case, "./" in file names, a missing severity (failure on a fail
// verdict, notice on a pass).
func ParseVerdict(data []byte, name string) (*Verdict, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, fmt.Errorf("auditor wrote an empty verdict to %s", name)
	}
	var v Verdict
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("auditor's verdict in %s is not valid JSON: %w", name, err)
	}
	v.Verdict = strings.ToLower(strings.TrimSpace(v.Verdict))
	switch v.Verdict {
	case VerdictPass, VerdictFail:
	case "":
		return nil, fmt.Errorf("auditor's verdict in %s: no verdict field (want pass or fail)", name)
	default:
		return nil, fmt.Errorf("auditor's verdict in %s: verdict %q is not pass or fail", name, v.Verdict)
	}
	v.Summary = strings.TrimSpace(v.Summary)
	for i := range v.Findings {
		f := &v.Findings[i]
		n := i + 1
		f.File = strings.TrimSpace(f.File)
		f.Message = strings.TrimSpace(f.Message)
		if f.File == "" {
			return nil, fmt.Errorf("auditor's verdict in %s: finding %d has no file", name, n)
		}
		if f.Message == "" {
			return nil, fmt.Errorf("auditor's verdict in %s: finding %d (%s) has no message", name, n, f.File)
		}
		file := path.Clean(filepath.ToSlash(f.File))
		if path.IsAbs(file) || file == ".." || strings.HasPrefix(file, "../") {
			return nil, fmt.Errorf("auditor's verdict in %s: finding %d: file %q is not a path inside the repository", name, n, f.File)
		}
		f.File = file
		if f.Line < 0 {
			return nil, fmt.Errorf("auditor's verdict in %s: finding %d (%s): line %d is negative", name, n, f.File, f.Line)
		}
		f.Severity = strings.ToLower(strings.TrimSpace(f.Severity))
		switch f.Severity {
		case SeverityFailure, SeverityWarning, SeverityNotice:
		case "":
			f.Severity = SeverityNotice
			if v.Verdict == VerdictFail {
				f.Severity = SeverityFailure
			}
		default:
			return nil, fmt.Errorf("auditor's verdict in %s: finding %d (%s): severity %q is not failure, warning or notice", name, n, f.File, f.Severity)
		}
	}
	return &v, nil
}
