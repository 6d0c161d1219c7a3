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
	// Login matches who the request authenticates as: a user's login, or
	// "<slug>[bot]" for an installation token; "" matches anyone,
	// unauthenticated requests included. It lets a test fail the app's
	// reply on a path a user also posts to.
	Login string
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
	re    *regexp.Regexp
	left  int // remaining when Count > 0
	fired int // requests answered with this fault so far
}

// Injection is an injected fault: Remove takes it out, Fired says how many
// requests it has failed so far, so a test can prove its fault hit.
type Injection struct {
	fs *faultSet
	af *activeFault
}

// Remove takes the fault out; requests after it go through. Removing a
// fault that was used up or already removed does nothing.
func (in *Injection) Remove() {
	fs := in.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, x := range fs.list {
		if x == in.af {
			fs.list = append(fs.list[:i], fs.list[i+1:]...)
			return
		}
	}
}

// Fired is how many requests the fault has answered, including hangs whose
// client gave up.
func (in *Injection) Fired() int {
	in.fs.mu.Lock()
	defer in.fs.mu.Unlock()
	return in.af.fired
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

// Inject adds a fault.
func (s *Server) Inject(f Fault) (*Injection, error) {
	re, err := compilePath(f.Path)
	if err != nil {
		return nil, fmt.Errorf("emulator: inject fault %q: %w", f.Path, err)
	}
	af := &activeFault{Fault: f, re: re, left: f.Count}
	fs := s.faults
	fs.mu.Lock()
	fs.list = append(fs.list, af)
	fs.mu.Unlock()
	return &Injection{fs: fs, af: af}, nil
}

// requestLogin is who r authenticates as by token ("" if no one).
func (s *Server) requestLogin(r *http.Request) string {
	secret, _, ok := credentials(r)
	if !ok {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.callerLocked(secret)
	if !ok || c.user == nil {
		return ""
	}
	return c.user.login
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = nil
}

// take finds the first fault matching r (made by login) and uses up one of
// its count.
func (fs *faultSet) take(r *http.Request, login string) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, af := range fs.list {
		if af.Method != "" && !strings.EqualFold(af.Method, r.Method) {
			continue
		}
		if af.Login != "" && !strings.EqualFold(af.Login, login) {
			continue
		}
		if !af.re.MatchString(r.URL.Path) {
			continue
		}
		af.fired++
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

// apply answers r (made by login) with a matching fault, if any, and
// reports whether it did.
func (fs *faultSet) apply(w http.ResponseWriter, r *http.Request, login string) bool {
	f := fs.take(r, login)
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
