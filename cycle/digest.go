package cycle

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// recordSpec notes the spec file's hashes as checked out, before any step
// can change the working copy: the signed statement names the spec as it
// was at the start commit.
func (p *pass) recordSpec() {
	sp := p.in.Spec
	if sp.Path == "" || IsIssueSpec(sp) {
		return
	}
	p.res.SpecPath = sp.Path
	src, err := p.wd.ReadFile(sp.Path)
	if err != nil {
		p.e.Logger.Warn("read the spec to hash it", "spec", sp.Path, "err", err)
		return
	}
	p.res.SpecSHA256, p.res.SpecGitBlob = digests(src)
}

// digests are a file's sha256 and its git blob id (sha1 of "blob <size>\0"
// and the bytes), which `git rev-parse COMMIT:PATH` prints.
func digests(b []byte) (sha256Hex, gitBlob string) {
	s := sha256.Sum256(b)
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(s[:]), hex.EncodeToString(h.Sum(nil))
}
