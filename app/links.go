package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Links signs and checks run-page links: a link carries the run id and an
// expiry, MACed with a key derived from the app's secret, so a private
// repo's run page is readable only through a link specloop handed out.
type Links struct {
	PublicURL string
	TTL       time.Duration
	key       []byte
	now       func() time.Time
}

// NewLinks derives the link key from secret (the webhook secret); links
// live for ttl.
func NewLinks(publicURL, secret string, ttl time.Duration) *Links {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("specloop run links v1"))
	return &Links{PublicURL: strings.TrimSuffix(publicURL, "/"), TTL: ttl, key: mac.Sum(nil), now: time.Now}
}

// Token signs access to runID until now+TTL.
func (l *Links) Token(runID int64) string {
	exp := l.now().Add(l.TTL).Unix()
	return strconv.FormatInt(exp, 36) + "." + l.sign(runID, exp)
}

func (l *Links) sign(runID, exp int64) string {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(runID))
	binary.BigEndian.PutUint64(buf[8:], uint64(exp))
	mac := hmac.New(sha256.New, l.key)
	mac.Write(buf[:])
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// RunURL is the signed URL of a run's page.
func (l *Links) RunURL(runID int64) string {
	return fmt.Sprintf("%s/runs/%d?token=%s", l.PublicURL, runID, l.Token(runID))
}

// ErrLinkExpired and ErrLinkInvalid say why a token was refused.
var (
	ErrLinkExpired = errors.New("link expired: ask for a new one with /loop status")
	ErrLinkInvalid = errors.New("link is not valid for this run")
)

// Verify checks a token for runID.
func (l *Links) Verify(runID int64, token string) error {
	expS, sig, ok := strings.Cut(token, ".")
	if !ok {
		return ErrLinkInvalid
	}
	exp, err := strconv.ParseInt(expS, 36, 64)
	if err != nil {
		return ErrLinkInvalid
	}
	if !hmac.Equal([]byte(sig), []byte(l.sign(runID, exp))) {
		return ErrLinkInvalid
	}
	if l.now().Unix() > exp {
		return ErrLinkExpired
	}
	return nil
}
