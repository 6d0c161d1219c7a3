package agent

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces every secret Redact finds.
const Redacted = "[REDACTED]"

// minSecretLen is the shortest literal secret Redact masks: masking a one-
// or two-letter "secret" everywhere would make every log unreadable while
// protecting nothing a guesser could not find anyway.
const minSecretLen = 4

// secretPatterns match secrets by their shape. Where a pattern has a group
// named "keep", that part of the match is kept and the rest masked, so the
// log still shows which header or URL carried a secret.
var secretPatterns = []*regexp.Regexp{
	// Private keys in PEM, also when a cap cut off their end.
	regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`),
	// The tail of a PEM key whose BEGIN line was cut off.
	regexp.MustCompile(`(?m)(?:^[A-Za-z0-9+/=]{16,}\r?\n)+-----END [A-Z0-9 ]*PRIVATE KEY-----`),
	// GitHub tokens: installation (ghs_), personal (ghp_, github_pat_),
	// OAuth (gho_), user-to-server (ghu_), refresh (ghr_).
	regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,})`),
	// OpenAI and Anthropic API keys: sk-..., sk-proj-..., sk-ant-....
	regexp.MustCompile(`\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{15,}`),
	// Authorization headers, whatever the scheme.
	regexp.MustCompile(`(?i)(?P<keep>\bauthorization\s*[:=]\s*"?(?:bearer|token|basic)\s+)[^\s"',;]+`),
	// Bearer tokens outside a header.
	regexp.MustCompile(`(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9\-._~+/]{8,}=*`),
	// Passwords in URLs: https://x-access-token:TOKEN@github.com,
	// postgres://user:PASSWORD@host/db.
	regexp.MustCompile(`(?i)(?P<keep>\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@`),
	// password=... in key/value connection strings (libpq DSNs).
	regexp.MustCompile(`(?i)(?P<keep>\bpassword\s*=\s*)(?:'[^']*'|[^\s'"]+)`),
}

// Redactor masks secrets in text before it is stored or shown: GitHub
// tokens, API keys, private keys, authorization headers, URL passwords, and
// the literal secrets it was built with. It is safe for concurrent use.
type Redactor struct {
	literals [][]byte
}

// NewRedactor returns a Redactor that also masks each of secrets literally,
// such as the app's webhook secret, private key and database URL. Empty and
// very short secrets are ignored.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) < minSecretLen || seen[s] {
			return
		}
		seen[s] = true
		r.literals = append(r.literals, []byte(s))
	}
	for _, s := range secrets {
		// A PEM key read from a file ends in a newline that a log line may
		// not have, so the trimmed secret is the one to look for; each line
		// of a multi-line secret is a secret on its own too.
		add(strings.TrimSpace(s))
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				line = strings.TrimSpace(line)
				if strings.HasPrefix(line, "-----") {
					continue // PEM armour, not secret, and everywhere in logs
				}
				add(line)
			}
		}
	}
	// Longest first, so a secret that contains another is masked whole.
	slices.SortStableFunc(r.literals, func(a, b []byte) int { return len(b) - len(a) })
	return r
}

// Redact returns b with every secret replaced by Redacted. It returns a new
// slice; b is not modified.
func (r *Redactor) Redact(b []byte) []byte {
	out := slices.Clone(b)
	if r != nil {
		for _, lit := range r.literals {
			out = bytes.ReplaceAll(out, lit, []byte(Redacted))
		}
	}
	for _, re := range secretPatterns {
		keep := re.SubexpIndex("keep")
		out = re.ReplaceAllFunc(out, func(m []byte) []byte {
			if keep < 0 {
				return []byte(Redacted)
			}
			sub := re.FindSubmatchIndex(m)
			prefix := m[sub[2*keep]:sub[2*keep+1]]
			suffix := []byte{}
			if bytes.HasSuffix(m, []byte("@")) {
				suffix = []byte("@") // keep the URL's shape
			}
			return slices.Concat(prefix, []byte(Redacted), suffix)
		})
	}
	return out
}

// RedactString is Redact for strings.
func (r *Redactor) RedactString(s string) string {
	return string(r.Redact([]byte(s)))
}
