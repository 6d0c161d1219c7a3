package app

import (
	"crypto/ed25519"
	"fmt"
	"regexp"
	"strings"

	"github.com/specloop/specloop/attest"
)

// loadEvidenceKeys reads EVIDENCE_KEY, the Ed25519 key that signs the
// statements of what ran, and EVIDENCE_KEY_PREVIOUS, earlier values of
// EVIDENCE_KEY (or PEM public keys; several separated by commas or as PEM
// blocks) whose statements still verify after a rotation. Without EVIDENCE_KEY statements are pushed unsigned,
// and the check runs say so.
func (c *Config) loadEvidenceKeys(key, previous string) []error {
	var errs []error
	c.EvidenceKeys = &attest.Keys{}
	c.evidenceKeyRaw = strings.TrimSpace(key)
	if c.evidenceKeyRaw != "" {
		k, err := attest.ParsePrivateKey(c.evidenceKeyRaw)
		if err != nil {
			errs = append(errs, fmt.Errorf("EVIDENCE_KEY: %v: set it to an Ed25519 key, base64 of its 32-byte seed (`openssl rand -base64 32`) or PEM (`openssl genpkey -algorithm ed25519`)", err))
		}
		c.EvidenceKeys.Current = k
	}
	c.evidencePreviousRaw = splitKeys(previous)
	for i, v := range c.evidencePreviousRaw {
		// A previous EVIDENCE_KEY value, as a rotation leaves it; a PEM
		// public key does as well.
		var pub ed25519.PublicKey
		k, err := attest.ParsePrivateKey(v)
		if err == nil {
			pub = k.Public().(ed25519.PublicKey)
		} else if strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN PUBLIC KEY") {
			pub, err = attest.ParsePublicKey(v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("EVIDENCE_KEY_PREVIOUS, key %d: %v", i+1, err))
			continue
		}
		c.EvidenceKeys.Previous = append(c.EvidenceKeys.Previous, pub)
	}
	return errs
}

var pemBlock = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----`)

// splitKeys splits a list of keys: PEM blocks, and base64 keys separated
// by commas or blanks.
func splitKeys(v string) []string {
	out := pemBlock.FindAllString(v, -1)
	rest := pemBlock.ReplaceAllString(v, ",")
	return append(strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }), out...)
}

// LoadEvidenceKeys reads EVIDENCE_KEY and EVIDENCE_KEY_PREVIOUS into c
// alone, for the commands that need nothing else (verify-evidence, a
// local cycle).
func LoadEvidenceKeys(c *Config, getenv Getenv) []error {
	return c.loadEvidenceKeys(getenv("EVIDENCE_KEY"), getenv("EVIDENCE_KEY_PREVIOUS"))
}

// EvidencePublicKeys are the keys that verify statements: EVIDENCE_KEY's
// public half first, then EVIDENCE_KEY_PREVIOUS.
func (c *Config) EvidencePublicKeys() []ed25519.PublicKey { return c.EvidenceKeys.Public() }
