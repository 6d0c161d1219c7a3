package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// bufferedWriter holds a response so its ETag can be computed first.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// serveConditional answers a read with an ETag, and "304 Not Modified"
// (no body, and no cost against the rate limit) when If-None-Match names
// the current one, as GitHub does.
func (s *Server) serveConditional(w http.ResponseWriter, r *http.Request, rateKey string) {
	bw := &bufferedWriter{header: w.Header()}
	s.router.ServeHTTP(bw, r)
	if bw.status == 0 {
		bw.status = http.StatusOK
	}
	if bw.status != http.StatusOK {
		w.WriteHeader(bw.status)
		_, _ = w.Write(bw.body.Bytes())
		return
	}
	sum := sha256.Sum256(bw.body.Bytes())
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Add("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
	if matchETag(r.Header.Get("If-None-Match"), etag) {
		s.refund(h, rateKey)
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(bw.body.Bytes())
	}
}

// matchETag compares weakly, as If-None-Match does.
func matchETag(header, etag string) bool {
	if header == "" {
		return false
	}
	weak := func(t string) string { return strings.TrimPrefix(strings.TrimSpace(t), "W/") }
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == "*" || weak(t) == weak(etag) {
			return true
		}
	}
	return false
}

// Pagination, as GitHub's REST lists do it: per_page (default 30, at most
// 100) and page (from 1), with a Link header naming the next, last, first
// and prev pages.
const (
	defaultPerPage = 30
	maxPerPage     = 100
)

// paginate returns the page of list the request asks for and sets Link.
func paginate[T any](w http.ResponseWriter, r *http.Request, list []T) []T {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = defaultPerPage
	}
	per = min(per, maxPerPage)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max((len(list)+per-1)/per, 1)
	var links []string
	link := func(rel string, n int) {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("per_page", strconv.Itoa(per))
		v.Set("page", strconv.Itoa(n))
		u.RawQuery = v.Encode()
		links = append(links, fmt.Sprintf("<%s>; rel=%q", u.String(), rel))
	}
	if page > 1 {
		link("prev", page-1)
	}
	if page < last {
		link("next", page+1)
		link("last", last)
	}
	if page > 1 {
		link("first", 1)
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := (page - 1) * per
	if start >= len(list) {
		return list[:0]
	}
	return list[start:min(start+per, len(list))]
}
