package emulator

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault makes matching requests fail the way GitHub sometimes does, so
// tests can prove a client retries, backs off or gives up.
type Fault struct {
	// Method matches the request method; "" matches any.
	Method string
	// Path matches the URL path. "{name}" stands for one path segment
	// (or part of one, as in "{repo}.git") and "{name...}" for the rest of
	// the path: "/repos/{owner}/{repo}/check-runs".
	Path string
	// Count is how many matching requests fail; 0 means all of them until
	// the fault is removed.
	Count int
	// Status is the response: 500, 502, 503, or 403 / 429, which are sent
	// as GitHub's secondary rate limit with Retry-After.
	Status int
	// RetryAfter sets Retry-After on 403 and 429; zero means 60 seconds.
	RetryAfter time.Duration
	// Hang, instead of answering, blocks until the client gives up, the
	// server closes, or HangFor (if non-zero) passes, then answers Status
	// (or 504 when Status is zero).
	Hang    bool
	HangFor time.Duration
}

type activeFault struct {
	Fault
	re   *regexp.Regexp
	left int // remaining when Count > 0
}

type faultSet struct {
	mu     sync.Mutex
	list   []*activeFault
	closed chan struct{}
	once   sync.Once
}

func (fs *faultSet) done() chan struct{} {
	fs.once.Do(func() { fs.closed = make(chan struct{}) })
	return fs.closed
}

func (fs *faultSet) close() {
	ch := fs.done()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

var placeholderRE = regexp.MustCompile(`\{[^/{}]*\}`)

// compilePath turns a Fault.Path pattern into an anchored regexp.
func compilePath(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range placeholderRE.FindAllStringIndex(p, -1) {
		b.WriteString(regexp.QuoteMeta(p[last:m[0]]))
		if strings.HasSuffix(p[m[0]:m[1]], "...}") {
			b.WriteString(".*")
		} else {
			b.WriteString("[^/]+?")
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(p[last:]))
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Inject adds a fault and returns a function that removes it.
func (s *Server) Inject(f Fault) (remove func(), err error) {
	re, err := compilePath(f.Path)
	if err != nil {
		return nil, fmt.Errorf("emulator: inject fault %q: %w", f.Path, err)
	}
	af := &activeFault{Fault: f, re: re, left: f.Count}
	fs := s.faults
	fs.mu.Lock()
	fs.list = append(fs.list, af)
	fs.mu.Unlock()
	return func() {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		for i, x := range fs.list {
			if x == af {
				fs.list = append(fs.list[:i], fs.list[i+1:]...)
				return
			}
		}
	}, nil
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = nil
}

// take finds the first fault matching r and uses up one of its count.
func (fs *faultSet) take(r *http.Request) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, af := range fs.list {
		if af.Method != "" && !strings.EqualFold(af.Method, r.Method) {
			continue
		}
		if !af.re.MatchString(r.URL.Path) {
			continue
		}
		f := af.Fault
		if af.Count > 0 {
			af.left--
			if af.left <= 0 {
				fs.list = append(fs.list[:i], fs.list[i+1:]...)
			}
		}
		return &f
	}
	return nil
}

// apply answers r with a matching fault, if any, and reports whether it did.
func (fs *faultSet) apply(w http.ResponseWriter, r *http.Request) bool {
	f := fs.take(r)
	if f == nil {
		return false
	}
	status := f.Status
	if f.Hang {
		var timeout <-chan time.Time
		if f.HangFor > 0 {
			t := time.NewTimer(f.HangFor)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-r.Context().Done():
			return true // the client gave up; nobody is listening
		case <-fs.done():
		case <-timeout:
		}
		if status == 0 {
			status = http.StatusGatewayTimeout
		}
	}
	switch status {
	case http.StatusForbidden, http.StatusTooManyRequests:
		after := f.RetryAfter
		if after <= 0 {
			after = time.Minute
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((after+time.Second-1)/time.Second)))
		writeJSON(w, status, errorBody{
			Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
			Status:           strconv.Itoa(status),
		})
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		// GitHub's edge answers these with HTML, not JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
	default:
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeError(w, status, http.StatusText(status))
	}
	return true
}
