package emulator

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"
)

// Options configure a Server.
type Options struct {
	// AppID is the GitHub App's id: the "iss" its JWTs must carry.
	AppID int64
	// AppPublicKey checks the app's JWT signatures.
	AppPublicKey *rsa.PublicKey
	// AppSlug names the app, e.g. "specloop"; its bot user is "<slug>[bot]".
	AppSlug string
	// WebhookURL receives deliveries. Empty means deliveries are recorded
	// as failed, ready for Redeliver once SetWebhookURL is called.
	WebhookURL string
	// WebhookSecret signs deliveries (X-Hub-Signature-256).
	WebhookSecret string
	// Dir holds the bare git repositories. Empty means a temporary
	// directory that Close removes.
	Dir string
	// Logger receives the emulator's own diagnostics; nil discards them.
	Logger *slog.Logger
	// Now is the clock for token expiry and JWT checks; nil means time.Now.
	// A Clock's Now lets a test move time forward.
	Now func() time.Time
	// Events are the webhook events the app subscribes to (app.yml's
	// default_events; see ManifestEvents). Others are not delivered, as on
	// GitHub; installation events always are. Nil delivers every event (for
	// tests of one webhook); the stack and `specloop emulator` pass the
	// manifest's.
	Events []string
	// DefaultPlan is the plan of owners SetPlan did not name; "" means
	// PlanFree, GitHub's default.
	DefaultPlan Plan
	// SecondaryLimits, when set, replaces GitHub's secondary rate limits
	// on content-creating requests (80 a minute, 500 an hour).
	SecondaryLimits *SecondaryLimits
}

// Server is a running GitHub emulator. It implements http.Handler; Start
// serves it on a loopback port.
type Server struct {
	opts   Options
	now    func() time.Time
	log    *slog.Logger
	dir    string
	ownDir bool
	router *mux.Router
	hooks  *hookQueue
	faults *faultSet

	mu            sync.Mutex
	url           string
	nextID        int64
	users         map[string]*user // by lower-case login
	tokens        map[string]*token
	repos         map[string]*repo // by lower-case "owner/name"
	installations map[int64]*installation
	manifestCodes map[string]*github.AppConfig
	rate          map[string]*rateBucket
	creates       map[string][]time.Time // content-creating requests by credential, for the secondary limit
	plans         map[string]Plan        // by lower-case owner
	headCommits   map[string]*commitInfo // by SHA, read for check_suite payloads
	bot           *user
	// served counts REST requests by "METHOD path", for tests and
	// benchmarks that hold a client to a request budget.
	served map[string]int

	httpServer *http.Server
	browser    *browser
}

// New returns a Server ready to serve; it creates Options.Dir if needed.
func New(opts Options) (*Server, error) {
	if opts.AppSlug == "" {
		opts.AppSlug = "specloop"
	}
	if opts.AppID == 0 {
		opts.AppID = 1
	}
	s := &Server{
		opts:          opts,
		now:           opts.Now,
		log:           opts.Logger,
		dir:           opts.Dir,
		nextID:        1000,
		users:         map[string]*user{},
		tokens:        map[string]*token{},
		repos:         map[string]*repo{},
		installations: map[int64]*installation{},
		manifestCodes: map[string]*github.AppConfig{},
		rate:          map[string]*rateBucket{},
		creates:       map[string][]time.Time{},
		plans:         map[string]Plan{},
		headCommits:   map[string]*commitInfo{},
		served:        map[string]int{},
		faults:        &faultSet{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "specloop-emulator-")
		if err != nil {
			return nil, fmt.Errorf("emulator: make repo dir: %w", err)
		}
		s.dir, s.ownDir = d, true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("emulator: make repo dir: %w", err)
	}
	s.bot = &user{id: s.newID(), login: opts.AppSlug + "[bot]", typ: "Bot"}
	s.hooks = newHookQueue(s)
	s.routes()
	s.browser = newBrowser(s)
	return s, nil
}

// Start serves the emulator on a free loopback port and returns its URL.
func (s *Server) Start() (string, error) { return s.StartOn("127.0.0.1:0") }

// StartOn serves the emulator on addr ("host:port"; port 0 picks one) and
// returns its URL.
func (s *Server) StartOn(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: listen: %w", err)
	}
	u := "http://" + ln.Addr().String()
	s.mu.Lock()
	s.url = u
	s.httpServer = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	srv := s.httpServer
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("emulator: serve", "err", err)
		}
	}()
	return u, nil
}

// Close stops serving, abandons pending webhook deliveries and removes the
// repository directory if New created it.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.httpServer
	s.mu.Unlock()
	var err error
	if srv != nil {
		// Close rather than Shutdown: a request hanging on an injected
		// fault must not hold the test up.
		err = srv.Close()
	}
	s.faults.close()
	s.hooks.close()
	if s.ownDir {
		if rerr := os.RemoveAll(s.dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// URL is the emulator's base URL: API at the root, git at /{owner}/{repo}.git.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Dir is where the bare repositories live, as <owner>/<repo>.git.
func (s *Server) Dir() string { return s.dir }

// newID hands out ids for every kind of object, as GitHub's are unique
// enough that tests never see two objects share one.
func (s *Server) newID() int64 {
	s.nextID++
	return s.nextID
}

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s:%d", kind, id))
}

// ServeHTTP serves the REST API and git's smart HTTP protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	owner, name, rest, isGit := gitPath(r.URL.Path)
	s.mu.Lock()
	if s.url == "" {
		// Served through httptest or another listener: learn the URL
		// from the first request so links in payloads still work.
		s.url = "http://" + r.Host
	}
	s.mu.Unlock()
	// The browser view's pages are no API requests: not counted, limited
	// or faulted (its forms replay API requests that are).
	if !isGit && s.browser.match(r) {
		s.browser.r.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	if !isGit {
		s.served[r.Method+" "+r.URL.Path]++
	}
	s.mu.Unlock()
	// GitHub's Date is GitHub's clock: the injected one.
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	key, ok := s.rateLimit(w, r)
	if !ok {
		return
	}
	if s.faults.apply(w, r, s.requestLogin(r)) {
		return
	}
	if isGit {
		s.serveGit(w, r, owner, name, rest)
		return
	}
	if !s.secondaryLimit(w, r) {
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.serveConditional(w, r, key)
		return
	}
	s.router.ServeHTTP(w, r)
}

// Served returns how many REST API requests (git traffic aside) the
// emulator has answered, by "METHOD path", faults and rate limits included.
func (s *Server) Served() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.served))
	for k, v := range s.served {
		out[k] = v
	}
	return out
}

func (s *Server) routes() {
	r := mux.NewRouter()
	h := func(method, path string, f http.HandlerFunc) {
		r.HandleFunc(path, f).Methods(method)
	}
	// Apps.
	h("GET", "/app", s.getApp)
	h("GET", "/app/installations", s.listInstallations)
	h("GET", "/app/installations/{id}", s.getInstallation)
	h("POST", "/app/installations/{id}/access_tokens", s.createInstallationToken)
	h("GET", "/repos/{owner}/{repo}/installation", s.getRepoInstallation)
	h("GET", "/users/{owner}/installation", s.getOwnerInstallation)
	h("GET", "/orgs/{owner}/installation", s.getOwnerInstallation)
	h("GET", "/installation/repositories", s.listInstallationRepos)
	h("POST", "/app-manifests/{code}/conversions", s.convertManifest)
	h("GET", "/user", s.getAuthenticatedUser)
	h("GET", "/rate_limit", s.getRateLimit)
	h("GET", "/app/hook/deliveries", s.listHookDeliveries)
	h("GET", "/app/hook/deliveries/{id:[0-9]+}", s.getHookDelivery)
	h("POST", "/app/hook/deliveries/{id:[0-9]+}/attempts", s.redeliverHookDelivery)
	h("POST", "/graphql", s.graphql)

	// Repositories, contents and git data.
	h("GET", "/repos/{owner}/{repo}", s.getRepo)
	h("POST", "/repos/{owner}/{repo}/forks", s.createFork)
	h("GET", "/repos/{owner}/{repo}/contents", s.getContents)
	h("GET", "/repos/{owner}/{repo}/contents/{path:.*}", s.getContents)
	h("GET", "/repos/{owner}/{repo}/git/ref/{ref:.+}", s.getRef)
	h("GET", "/repos/{owner}/{repo}/git/refs", s.listRefs)
	h("GET", "/repos/{owner}/{repo}/git/refs/{ref:.+}", s.listRefs)
	h("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref:.*}", s.matchingRefs)
	h("GET", "/repos/{owner}/{repo}/branches/{branch:.+}", s.getBranch)
	h("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", s.listCheckRunsForRef)
	s.loopRoutes(h) // reviews.go, suites.go: before the commits catch-all
	h("GET", "/repos/{owner}/{repo}/commits/{ref:.+}", s.getCommit)
	h("GET", "/repos/{owner}/{repo}/collaborators/{user}/permission", s.getPermission)

	// Issues, labels, comments, reactions.
	h("POST", "/repos/{owner}/{repo}/issues", s.createIssue)
	h("GET", "/repos/{owner}/{repo}/issues", s.listIssues)
	h("GET", "/repos/{owner}/{repo}/issues/comments/{id:[0-9]+}", getOne(s, commentFromPath, s.commentJSON))
	h("PATCH", "/repos/{owner}/{repo}/issues/comments/{id:[0-9]+}", s.editComment)
	h("DELETE", "/repos/{owner}/{repo}/issues/comments/{id:[0-9]+}", s.deleteComment)
	h("GET", "/repos/{owner}/{repo}/issues/comments/{id:[0-9]+}/reactions", s.listReactions)
	h("POST", "/repos/{owner}/{repo}/issues/comments/{id:[0-9]+}/reactions", s.createReaction)
	h("GET", "/repos/{owner}/{repo}/issues/{number:[0-9]+}", getOne(s, issueFromPath, s.issueJSON))
	h("PATCH", "/repos/{owner}/{repo}/issues/{number:[0-9]+}", s.editIssue)
	h("GET", "/repos/{owner}/{repo}/issues/{number:[0-9]+}/labels", s.listIssueLabels)
	h("POST", "/repos/{owner}/{repo}/issues/{number:[0-9]+}/labels", s.addLabels)
	h("DELETE", "/repos/{owner}/{repo}/issues/{number:[0-9]+}/labels/{name}", s.removeLabel)
	h("GET", "/repos/{owner}/{repo}/issues/{number:[0-9]+}/comments", s.listComments)
	h("POST", "/repos/{owner}/{repo}/issues/{number:[0-9]+}/comments", s.createComment)

	// Pull requests.
	h("POST", "/repos/{owner}/{repo}/pulls", s.createPull)
	h("GET", "/repos/{owner}/{repo}/pulls", s.listPulls)
	h("GET", "/repos/{owner}/{repo}/pulls/{number:[0-9]+}", getOne(s, s.pullFromPath, s.pullJSON))
	h("PATCH", "/repos/{owner}/{repo}/pulls/{number:[0-9]+}", s.editPull)

	// Check runs.
	h("POST", "/repos/{owner}/{repo}/check-runs", s.createCheckRun)
	h("GET", "/repos/{owner}/{repo}/check-runs/{id:[0-9]+}", getOne(s, checkRunFromPath, s.checkRunJSON))
	h("PATCH", "/repos/{owner}/{repo}/check-runs/{id:[0-9]+}", s.updateCheckRun)
	h("GET", "/repos/{owner}/{repo}/check-runs/{id:[0-9]+}/annotations", s.listAnnotations)
	h("POST", "/repos/{owner}/{repo}/check-runs/{id:[0-9]+}/rerequest", s.rerequestCheckRun)
	h("POST", "/repos/{owner}/{repo}/check-suites/{id:[0-9]+}/rerequest", s.rerequestCheckSuite)

	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
	r.NotFoundHandler = notFound
	r.MethodNotAllowedHandler = notFound
	s.router = r
}

// docsURL is where GitHub's error bodies point.
const docsURL = "https://docs.github.com/rest"

// fieldError is one entry of a 422 "errors" array.
type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

type errorBody struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url"`
	Status           string       `json:"status"`
}

func writeError(w http.ResponseWriter, status int, msg string, errs ...fieldError) {
	writeJSON(w, status, errorBody{Message: msg, Errors: errs, DocumentationURL: docsURL, Status: fmt.Sprint(status)})
}

// validationFailed is GitHub's 422 with its errors array.
func validationFailed(w http.ResponseWriter, errs ...fieldError) {
	writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs...)
}

// writeJSON answers v in GitHub's shape (see shape).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	b, err := shape(v)
	if err != nil {
		b = []byte(`{"message":"emulator: encode response"}`)
	}
	_, _ = w.Write(b) // the client hung up: nothing left to tell it
}

// decodeBody reads a JSON request body; on failure it answers 400 as
// GitHub does ("Problems parsing JSON") and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return true
	}
	if err := json.Unmarshal(b, v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

func lower(s string) string { return strings.ToLower(s) }
