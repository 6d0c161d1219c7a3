package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v62/github"
	"gopkg.in/yaml.v3"
)

// SetupOptions configures the app-registration pages (GitHub's
// app-manifest flow).
type SetupOptions struct {
	// Manifest is app.yml, the GitHub App manifest (specloop.Manifest).
	Manifest []byte
	// PublicURL is where GitHub reaches this server: the manifest's webhook
	// URL becomes PublicURL/webhooks and its redirect URL
	// PublicURL/setup/callback.
	PublicURL string
	// GitHubURL is GitHub's web host; default https://github.com. Set it to
	// a GitHub Enterprise Server host (https://ghe.example.com).
	GitHubURL string
	// APIURL is GitHub's REST API; default https://api.github.com/ for
	// github.com, else GitHubURL/api/v3/.
	APIURL string
	// Org registers the app under this organization instead of the
	// signed-in user. GET /setup?org=NAME overrides it.
	Org string
	// EnvFile is where the callback writes the app's credentials, KEY=VALUE
	// lines with mode 0600. It refuses to overwrite a non-empty file.
	EnvFile string
	// Configured disables both routes: an app is already configured.
	Configured bool
	// HTTPClient talks to GitHub's API; nil means a client with a timeout.
	HTTPClient *http.Client
	// Logger receives what happened, never a secret; nil discards.
	Logger *slog.Logger
}

// setupStateTTL is how long a /setup page's state stays good: time enough
// to name the app on GitHub.
const setupStateTTL = time.Hour

const setupStateCookie = "specloop_setup_state"

// Setup serves GitHub's app-manifest flow: GET /setup posts app.yml's
// manifest to GitHub, which creates the app and redirects to
// GET /setup/callback; the callback exchanges the one-time code for the app's
// id, private key and webhook secret and writes them to opts.EnvFile. Once an
// app is configured (opts.Configured, or a callback succeeded) both routes
// answer 410 Gone.
func Setup(opts SetupOptions) http.Handler {
	s := &setupFlow{opts: opts, states: map[string]time.Time{}, now: time.Now}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.opts.HTTPClient == nil {
		s.opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	s.opts.PublicURL = strings.TrimSuffix(s.opts.PublicURL, "/")
	if s.opts.GitHubURL == "" {
		s.opts.GitHubURL = "https://github.com"
	}
	s.opts.GitHubURL = strings.TrimSuffix(s.opts.GitHubURL, "/")
	if s.opts.APIURL == "" {
		if s.opts.GitHubURL == "https://github.com" {
			s.opts.APIURL = "https://api.github.com/"
		} else {
			s.opts.APIURL = s.opts.GitHubURL + "/api/v3/"
		}
	}
	s.opts.APIURL = strings.TrimSuffix(s.opts.APIURL, "/") + "/"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /setup", s.page)
	mux.HandleFunc("GET /setup/callback", s.callback)
	return mux
}

type setupFlow struct {
	opts SetupOptions
	now  func() time.Time

	mu     sync.Mutex
	states map[string]time.Time // state → expiry
	done   bool                 // a callback wrote the env file
}

var orgName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)

func (s *setupFlow) disabled(w http.ResponseWriter) bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	switch {
	case s.opts.Configured:
		s.render(w, http.StatusGone, "Setup is disabled",
			"setup is disabled: an app is already configured (APP_ID is set). To register a new app, remove the current configuration and restart specloop.", nil)
		return true
	case done:
		s.render(w, http.StatusGone, "Setup is done",
			"setup is disabled: an app was just registered. Restart specloop with --env-file "+s.opts.EnvFile+".", nil)
		return true
	}
	return false
}

// page renders the form that posts the manifest to GitHub.
func (s *setupFlow) page(w http.ResponseWriter, r *http.Request) {
	if s.disabled(w) {
		return
	}
	manifest, err := s.manifest()
	if err != nil {
		s.opts.Logger.Error("setup: app.yml is not a usable manifest", "error", err)
		s.render(w, http.StatusInternalServerError, "Setup failed", "app.yml is not a usable manifest: "+err.Error(), nil)
		return
	}
	org := s.opts.Org
	if v := r.URL.Query().Get("org"); v != "" {
		org = v
	}
	if org != "" && !orgName.MatchString(org) {
		s.render(w, http.StatusBadRequest, "Setup failed", fmt.Sprintf("%q is not an organization name", org), nil)
		return
	}
	state, err := s.newState()
	if err != nil {
		s.render(w, http.StatusInternalServerError, "Setup failed", "no randomness for the state: "+err.Error(), nil)
		return
	}
	action := s.opts.GitHubURL + "/settings/apps/new"
	if org != "" {
		action = s.opts.GitHubURL + "/organizations/" + url.PathEscape(org) + "/settings/apps/new"
	}
	action += "?state=" + url.QueryEscape(state)
	http.SetCookie(w, &http.Cookie{
		Name:     setupStateCookie,
		Value:    state,
		Path:     "/setup",
		MaxAge:   int(setupStateTTL / time.Second),
		HttpOnly: true,
		Secure:   strings.HasPrefix(s.opts.PublicURL, "https://"),
		SameSite: http.SameSiteLaxMode,
	})
	owner := "your personal account"
	if org != "" {
		owner = "the organization " + org
	}
	s.render(w, http.StatusOK, "Register specloop on GitHub", "", &setupForm{
		Action:   action,
		Manifest: string(manifest),
		Owner:    owner,
		Webhook:  s.opts.PublicURL + "/webhooks",
		EnvFile:  s.opts.EnvFile,
	})
}

// manifest is app.yml as JSON, its URLs pointing at this server.
func (s *setupFlow) manifest() ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(s.opts.Manifest, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("empty manifest")
	}
	if s.opts.PublicURL == "" {
		return nil, errors.New("PUBLIC_URL is not set: GitHub must know where to send webhooks")
	}
	hook, _ := m["hook_attributes"].(map[string]any)
	if hook == nil {
		hook = map[string]any{}
	}
	hook["url"] = s.opts.PublicURL + "/webhooks"
	m["hook_attributes"] = hook
	m["redirect_url"] = s.opts.PublicURL + "/setup/callback"
	return json.Marshal(m)
}

func (s *setupFlow) newState() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	state := hex.EncodeToString(b)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.states {
		if now.After(exp) {
			delete(s.states, k)
		}
	}
	s.states[state] = now.Add(setupStateTTL)
	return state, nil
}

// takeState consumes state: it is good once, before it expires, and only
// in the browser that asked for it.
func (s *setupFlow) takeState(r *http.Request) bool {
	state := r.URL.Query().Get("state")
	if state == "" {
		return false
	}
	if c, err := r.Cookie(setupStateCookie); err != nil || c.Value != state {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.states[state]
	delete(s.states, state)
	return ok && s.now().Before(exp)
}

func (s *setupFlow) callback(w http.ResponseWriter, r *http.Request) {
	if s.disabled(w) {
		return
	}
	log := s.opts.Logger
	if !s.takeState(r) {
		log.Warn("setup: callback with an unknown, expired or used state")
		s.render(w, http.StatusBadRequest, "Setup failed",
			"the state is unknown, expired or already used: start again at "+s.opts.PublicURL+"/setup", nil)
		return
	}
	code := r.URL.Query().Get("code")
	if code == "" {
		s.render(w, http.StatusBadRequest, "Setup failed", "GitHub sent no code: start again at "+s.opts.PublicURL+"/setup", nil)
		return
	}
	// One callback at a time: two must not both write the env file.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		s.render(w, http.StatusGone, "Setup is done", "setup is disabled: an app was just registered", nil)
		return
	}
	// Check the files before the exchange: the code works once, and the
	// credentials it yields must not be lost.
	if err := s.checkFiles(); err != nil {
		log.Error("setup: cannot write the credentials", "env_file", s.opts.EnvFile, "error", err)
		s.render(w, http.StatusConflict, "Setup failed", err.Error(), nil)
		return
	}
	cfg, err := s.exchange(r.Context(), code)
	if err != nil {
		log.Error("setup: GitHub did not exchange the manifest code", "error", err)
		s.render(w, http.StatusBadGateway, "Setup failed",
			err.Error()+": the code works once and expires after an hour; start again at "+s.opts.PublicURL+"/setup", nil)
		return
	}
	if err := s.write(cfg); err != nil {
		// Say where the app is, so the operator can make a new key there.
		log.Error("setup: writing the credentials failed", "env_file", s.opts.EnvFile, "app_id", cfg.GetID(), "error", err)
		s.render(w, http.StatusInternalServerError, "Setup failed",
			fmt.Sprintf("app %s was created (%s) but its credentials could not be saved: %v. Generate a new private key in the app's settings.", cfg.GetSlug(), cfg.GetHTMLURL(), err), nil)
		return
	}
	s.done = true
	log.Info("setup: GitHub App created", "app_id", cfg.GetID(), "slug", cfg.GetSlug(), "env_file", s.opts.EnvFile, "key_file", s.keyFile())
	s.render(w, http.StatusOK, "App "+cfg.GetSlug()+" created", "", &setupDone{
		Slug:       cfg.GetSlug(),
		AppID:      cfg.GetID(),
		EnvFile:    s.opts.EnvFile,
		KeyFile:    s.keyFile(),
		InstallURL: strings.TrimSuffix(cfg.GetHTMLURL(), "/") + "/installations/new",
		NoSecret:   cfg.GetWebhookSecret() == "",
	})
}

// keyFile is where the private key is kept beside the env file.
func (s *setupFlow) keyFile() string {
	base := strings.TrimSuffix(filepath.Base(s.opts.EnvFile), filepath.Ext(s.opts.EnvFile))
	return filepath.Join(filepath.Dir(s.opts.EnvFile), base+".private-key.pem")
}

func (s *setupFlow) checkFiles() error {
	if s.opts.EnvFile == "" {
		return errors.New("no env file to write the credentials to: start specloop with --env-file PATH")
	}
	if fi, err := os.Stat(s.opts.EnvFile); err == nil && fi.Size() > 0 {
		return fmt.Errorf("%s exists and is not empty: specloop will not overwrite it; move it away or start with another --env-file", s.opts.EnvFile)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, err := os.Stat(s.keyFile()); err == nil {
		return fmt.Errorf("%s exists: specloop will not overwrite a private key; move it away", s.keyFile())
	}
	dir := filepath.Dir(s.opts.EnvFile)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("the env file's directory %s does not exist", dir)
	}
	return nil
}

func (s *setupFlow) exchange(ctx context.Context, code string) (*github.AppConfig, error) {
	base, err := url.Parse(s.opts.APIURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub API URL %q: %w", s.opts.APIURL, err)
	}
	gh := github.NewClient(s.opts.HTTPClient)
	gh.BaseURL = base
	cfg, resp, err := gh.Apps.CompleteAppManifest(ctx, code)
	if err != nil {
		// go-github's error names the URL, and the URL holds the code.
		if resp != nil {
			return nil, fmt.Errorf("GitHub answered %s to the code exchange", resp.Status)
		}
		return nil, errors.New("GitHub could not be reached for the code exchange")
	}
	switch {
	case cfg.GetID() == 0:
		return nil, errors.New("GitHub's answer has no app id")
	case cfg.GetPEM() == "":
		return nil, errors.New("GitHub's answer has no private key")
	}
	return cfg, nil
}

// write saves the credentials: the private key as a .pem beside the env
// file, and the env file with the key inline on one line ("\n" escaped),
// which docker --env-file, compose's env_file and
// kubectl create secret --from-env-file all read as it is.
func (s *setupFlow) write(cfg *github.AppConfig) error {
	pem := strings.TrimSpace(cfg.GetPEM()) + "\n"
	if err := writeSecretFile(s.keyFile(), []byte(pem), os.O_EXCL); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# GitHub App %s (%s), registered by specloop /setup on %s.\n",
		cfg.GetSlug(), cfg.GetHTMLURL(), s.now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# Secrets: keep this file private. The private key is also in %s.\n", s.keyFile())
	line := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	line("APP_ID", strconv.FormatInt(cfg.GetID(), 10))
	line("PRIVATE_KEY", strings.ReplaceAll(strings.TrimSpace(pem), "\n", `\n`))
	line("WEBHOOK_SECRET", cfg.GetWebhookSecret())
	line("GITHUB_CLIENT_ID", cfg.GetClientID())
	line("GITHUB_CLIENT_SECRET", cfg.GetClientSecret())
	line("PUBLIC_URL", s.opts.PublicURL)
	if s.opts.APIURL != "https://api.github.com/" {
		line("GITHUB_API_URL", s.opts.APIURL)
	}
	if err := writeSecretFile(s.opts.EnvFile, b.Bytes(), os.O_TRUNC); err != nil {
		os.Remove(s.keyFile())
		return err
	}
	return nil
}

// writeSecretFile writes b to path with mode 0600, whatever the umask or
// the mode of an existing (empty) file.
func writeSecretFile(path string, b []byte, flag int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type setupForm struct {
	Action, Manifest, Owner, Webhook, EnvFile string
}

type setupDone struct {
	Slug, EnvFile, KeyFile, InstallURL string
	AppID                              int64
	NoSecret                           bool
}

var setupPage = template.Must(template.New("setup").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}} · specloop</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}button{font-size:1rem;padding:.5em 1em}</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{with .Message}}<p>{{.}}</p>{{end}}
{{with .Form}}
<p>This creates a private GitHub App owned by {{.Owner}}, from specloop's <code>app.yml</code>.
GitHub will ask you to name it; webhooks will go to <code>{{.Webhook}}</code>.
Its id, private key and webhook secret will be written to <code>{{.EnvFile}}</code>.</p>
<form action="{{.Action}}" method="post">
<input type="hidden" name="manifest" value="{{.Manifest}}">
<button type="submit">Create the GitHub App</button>
</form>
{{end}}
{{with .Done}}
<p>App <strong>{{.Slug}}</strong> (id {{.AppID}}) created. Its credentials are in <code>{{.EnvFile}}</code>
and its private key in <code>{{.KeyFile}}</code>, both readable by you alone.</p>
{{if .NoSecret}}<p><strong>GitHub returned no webhook secret:</strong> set one in the app's settings and put it in WEBHOOK_SECRET.</p>{{end}}
<ol>
<li>Restart specloop with <code>--env-file {{.EnvFile}}</code>.</li>
<li>Install the app on your repositories: <a href="{{.InstallURL}}">{{.InstallURL}}</a></li>
</ol>
{{end}}
</body>
</html>
`))

func (s *setupFlow) render(w http.ResponseWriter, status int, title, message string, body any) {
	data := struct {
		Title, Message string
		Form           *setupForm
		Done           *setupDone
	}{Title: title, Message: message}
	switch b := body.(type) {
	case *setupForm:
		data.Form = b
	case *setupDone:
		data.Done = b
	}
	var buf bytes.Buffer
	if err := setupPage.Execute(&buf, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
