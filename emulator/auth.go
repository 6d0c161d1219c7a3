package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"
)

// tokenLifetime is how long an installation token lives on GitHub.
const tokenLifetime = time.Hour

type user struct {
	id    int64
	login string
	typ   string // "User" or "Bot"
	token string
}

type installation struct {
	id        int64
	account   *user
	repos     []string // lower-case "owner/name"; nil means every repo of the account
	createdAt time.Time
}

type token struct {
	value     string
	user      *user         // the person, or the app's bot for installation tokens
	inst      *installation // nil for personal tokens
	repos     []string      // narrows inst's repos when the token was scoped
	expiresAt time.Time     // zero: never
}

// caller is who a request acts as.
type caller struct {
	user *user
	tok  *token
}

func (c *caller) isApp() bool { return c.tok.inst != nil }

func randomToken(prefix string) string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return prefix + hex.EncodeToString(b)
}

// AddUser creates a user (or returns the existing one's token) and returns
// a personal access token "ghp_…" that never expires.
func (s *Server) AddUser(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(login).token
}

func (s *Server) addUserLocked(login string) *user {
	if u := s.users[strings.ToLower(login)]; u != nil {
		if u.token == "" {
			u.token = randomToken("ghp_")
			s.tokens[u.token] = &token{value: u.token, user: u}
		}
		return u
	}
	u := &user{id: s.newID(), login: login, typ: "User", token: randomToken("ghp_")}
	s.users[strings.ToLower(login)] = u
	s.tokens[u.token] = &token{value: u.token, user: u}
	return u
}

// accountLocked returns the user an owner name stands for, creating it
// without a token: repositories need an owner even if nobody logs in as it.
func (s *Server) accountLocked(login string) *user {
	if u := s.users[strings.ToLower(login)]; u != nil {
		return u
	}
	u := &user{id: s.newID(), login: login, typ: "User"}
	s.users[strings.ToLower(login)] = u
	return u
}

// Install installs the app on an owner's account, for the named repos or,
// with none named, for all of the owner's repos (present and future), and
// fires the "installation" created webhook.
func (s *Server) Install(owner string, repos ...string) int64 {
	s.mu.Lock()
	inst := &installation{id: s.newID(), account: s.accountLocked(owner), createdAt: s.now()}
	for _, r := range repos {
		inst.repos = append(inst.repos, strings.ToLower(owner+"/"+r))
	}
	s.installations[inst.id] = inst
	ev := &github.InstallationEvent{
		Action:       github.String("created"),
		Installation: s.installationJSON(inst),
		Sender:       s.userJSON(inst.account),
	}
	for _, rp := range s.installationReposLocked(inst, nil) {
		ev.Repositories = append(ev.Repositories, &github.Repository{
			ID: github.Int64(rp.id), NodeID: github.String(nodeID("Repository", rp.id)),
			Name: github.String(rp.name), FullName: github.String(rp.fullName()), Private: github.Bool(rp.private),
		})
	}
	s.mu.Unlock()
	s.hooks.send("installation", "", ev)
	return inst.id
}

// installationReposLocked lists the repos an installation (and optionally
// a token's narrower scope) may touch, sorted by name.
func (s *Server) installationReposLocked(inst *installation, scope []string) []*repo {
	var out []*repo
	for key, rp := range s.repos {
		if !inst.covers(rp) {
			continue
		}
		if scope != nil && !slices.Contains(scope, key) {
			continue
		}
		out = append(out, rp)
	}
	slices.SortFunc(out, func(a, b *repo) int { return strings.Compare(a.fullName(), b.fullName()) })
	return out
}

func (inst *installation) covers(rp *repo) bool {
	if !strings.EqualFold(rp.owner, inst.account.login) {
		return false
	}
	return inst.repos == nil || slices.Contains(inst.repos, rp.key())
}

// installationFor finds the installation covering a repo, if any.
func (s *Server) installationForLocked(rp *repo) *installation {
	var found *installation
	for _, inst := range s.installations {
		if inst.covers(rp) && (found == nil || inst.id < found.id) {
			found = inst
		}
	}
	return found
}

// appPermissions are what the emulated app was granted on install.
func appPermissions() *github.InstallationPermissions {
	return &github.InstallationPermissions{
		Contents:     github.String("write"),
		Issues:       github.String("write"),
		PullRequests: github.String("write"),
		Checks:       github.String("write"),
		Metadata:     github.String("read"),
	}
}

func (s *Server) installationJSON(inst *installation) *github.Installation {
	sel := "all"
	if inst.repos != nil {
		sel = "selected"
	}
	t := github.Timestamp{Time: inst.createdAt}
	return &github.Installation{
		ID:                  github.Int64(inst.id),
		AppID:               github.Int64(s.opts.AppID),
		AppSlug:             github.String(s.opts.AppSlug),
		TargetID:            github.Int64(inst.account.id),
		TargetType:          github.String("User"),
		Account:             s.userJSON(inst.account),
		AccessTokensURL:     github.String(fmt.Sprintf("%s/app/installations/%d/access_tokens", s.url, inst.id)),
		RepositoriesURL:     github.String(s.url + "/installation/repositories"),
		HTMLURL:             github.String(fmt.Sprintf("%s/settings/installations/%d", s.url, inst.id)),
		RepositorySelection: github.String(sel),
		Permissions:         appPermissions(),
		Events:              s.events(),
		CreatedAt:           &t,
		UpdatedAt:           &t,
	}
}

// hookInstallation is the short form webhook payloads carry.
func hookInstallation(inst *installation) *github.Installation {
	if inst == nil {
		return nil
	}
	return &github.Installation{ID: github.Int64(inst.id), NodeID: github.String(nodeID("Installation", inst.id))}
}

func (s *Server) userJSON(u *user) *github.User {
	if u == nil {
		return nil
	}
	return &github.User{
		Login:     github.String(u.login),
		ID:        github.Int64(u.id),
		NodeID:    github.String(nodeID(u.typ, u.id)),
		AvatarURL: github.String(fmt.Sprintf("%s/avatars/u/%d", s.url, u.id)),
		URL:       github.String(s.url + "/users/" + u.login),
		HTMLURL:   github.String(s.url + "/" + u.login),
		Type:      github.String(u.typ),
		SiteAdmin: github.Bool(false),
	}
}

// appOwner is the organization that owns the app, named for it.
func (s *Server) appOwner() *user {
	return &user{id: s.opts.AppID*10 + 1, login: s.opts.AppSlug, typ: "Organization"}
}

func (s *Server) appJSON() *github.App {
	t := github.Timestamp{Time: time.Unix(1700000000, 0).UTC()}
	return &github.App{
		ID:          github.Int64(s.opts.AppID),
		Slug:        github.String(s.opts.AppSlug),
		NodeID:      github.String(nodeID("App", s.opts.AppID)),
		Name:        github.String(s.opts.AppSlug),
		Owner:       s.userJSON(s.appOwner()),
		HTMLURL:     github.String(s.url + "/apps/" + s.opts.AppSlug),
		ExternalURL: github.String(s.url),
		Permissions: appPermissions(),
		Events:      s.events(),
		CreatedAt:   &t,
		UpdatedAt:   &t,
	}
}

// credentials pulls the secret out of Authorization: "token X", "Bearer X"
// or Basic with the token as password (what git sends).
func credentials(r *http.Request) (secret, basicUser string, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "token", "bearer":
		return strings.TrimSpace(rest), "", true
	case "basic":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return "", "", false
		}
		u, p, _ := strings.Cut(string(b), ":")
		return p, u, true
	}
	return "", "", false
}

// callerLocked resolves a token to who it acts as, or says why not.
func (s *Server) callerLocked(secret string) (*caller, bool) {
	t := s.tokens[secret]
	if t == nil {
		return nil, false
	}
	if !t.expiresAt.IsZero() && !s.now().Before(t.expiresAt) {
		return nil, false
	}
	return &caller{user: t.user, tok: t}, true
}

// authenticate answers 401 itself when the request carries no usable token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*caller, bool) {
	secret, _, ok := credentials(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Requires authentication")
		return nil, false
	}
	s.mu.Lock()
	c, ok := s.callerLocked(secret)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return nil, false
	}
	return c, true
}

// Permission levels, lowest first, as GitHub orders repository roles.
var permLevels = []string{"none", "read", "triage", "write", "maintain", "admin"}

func permRank(p string) int { return max(slices.Index(permLevels, p), 0) }

// permissionLocked is a caller's effective role on a repo.
func (s *Server) permissionLocked(c *caller, rp *repo) string {
	if c.isApp() {
		if !c.tok.inst.covers(rp) || (c.tok.repos != nil && !slices.Contains(c.tok.repos, rp.key())) {
			return "none"
		}
		return "write"
	}
	return s.userPermissionLocked(c.user, rp)
}

func (s *Server) userPermissionLocked(u *user, rp *repo) string {
	if strings.EqualFold(u.login, rp.owner) {
		return "admin"
	}
	if p, ok := rp.perms[strings.ToLower(u.login)]; ok {
		return p
	}
	if rp.private {
		return "none"
	}
	return "read"
}

// repoAccess authenticates the request, finds {owner}/{repo} and checks the
// caller holds at least need on it. A repo the caller cannot see is 404, as
// on GitHub; one it sees but may not change is 403.
func (s *Server) repoAccess(w http.ResponseWriter, r *http.Request, need string) (*repo, *caller, bool) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return nil, nil, false
	}
	v := mux.Vars(r)
	s.mu.Lock()
	rp := s.repos[strings.ToLower(v["owner"]+"/"+v["repo"])]
	perm := "none"
	if rp != nil {
		perm = s.permissionLocked(c, rp)
	}
	s.mu.Unlock()
	if rp == nil || perm == "none" {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, nil, false
	}
	if permRank(perm) < permRank(need) {
		msg := "Must have push access to repository"
		if c.isApp() {
			msg = "Resource not accessible by integration"
		}
		writeError(w, http.StatusForbidden, msg)
		return nil, nil, false
	}
	return rp, c, true
}

// accessBody starts a handler that takes a JSON body: repoAccess at need,
// then the body into req. Access is checked first, as on GitHub, so a
// caller who may not see the repo gets 404 whatever it sent; it answers
// every failure itself.
func (s *Server) accessBody(w http.ResponseWriter, r *http.Request, need string, req any) (*repo, *caller, bool) {
	rp, c, ok := s.repoAccess(w, r, need)
	if !ok || !decodeBody(w, r, req) {
		return nil, nil, false
	}
	return rp, c, true
}

// jwtApp checks the app JWT on /app endpoints; GitHub answers 401 with a
// message naming the broken claim.
func (s *Server) jwtApp(w http.ResponseWriter, r *http.Request) bool {
	secret, _, ok := credentials(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return false
	}
	if msg := s.checkJWT(secret); msg != "" {
		writeError(w, http.StatusUnauthorized, msg)
		return false
	}
	return true
}

// checkJWT returns "" for a JWT GitHub would accept, else GitHub's message.
func (s *Server) checkJWT(raw string) string {
	const undecodable = "A JSON web token could not be decoded"
	if s.opts.AppPublicKey == nil {
		return undecodable
	}
	claims := jwt.MapClaims{}
	// Time claims are checked below against the injected clock, with
	// GitHub's own rules, so the library's checks are off.
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return s.opts.AppPublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return undecodable
	}
	var iss string
	switch v := claims["iss"].(type) {
	case string:
		iss = v
	case float64:
		iss = strconv.FormatInt(int64(v), 10)
	}
	if iss != strconv.FormatInt(s.opts.AppID, 10) {
		return "'Issuer' claim ('iss') must be an Integer"
	}
	iat, ok1 := claims["iat"].(float64)
	exp, ok2 := claims["exp"].(float64)
	if !ok1 {
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	if !ok2 {
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	now := float64(s.now().Unix())
	switch {
	case iat > now+60:
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	case exp <= now:
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case exp-iat > 600:
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	return ""
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.appJSON())
}

func (s *Server) listInstallations(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*github.Installation{}
	for _, inst := range s.installations {
		out = append(out, s.installationJSON(inst))
	}
	slices.SortFunc(out, func(a, b *github.Installation) int { return int(a.GetID() - b.GetID()) })
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

func (s *Server) getInstallation(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := fromPath(w, r, "id", s.installations)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.installationJSON(inst))
}

func (s *Server) getRepoInstallation(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	v := mux.Vars(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(v["owner"]+"/"+v["repo"])]
	var inst *installation
	if rp != nil {
		inst = s.installationForLocked(rp)
	}
	if inst == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.installationJSON(inst))
}

func (s *Server) getOwnerInstallation(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	owner := mux.Vars(r)["owner"]
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range s.installations {
		if strings.EqualFold(inst.account.login, owner) {
			writeJSON(w, http.StatusOK, s.installationJSON(inst))
			return
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	var opts github.InstallationTokenOptions
	if !decodeBody(w, r, &opts) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.installations[id]
	if inst == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	t := &token{value: randomToken("ghs_"), user: s.bot, inst: inst, expiresAt: s.now().Add(tokenLifetime)}
	if len(opts.Repositories) > 0 || len(opts.RepositoryIDs) > 0 {
		t.repos = []string{}
		for _, rp := range s.installationReposLocked(inst, nil) {
			if slices.Contains(opts.Repositories, rp.name) || slices.Contains(opts.RepositoryIDs, rp.id) {
				t.repos = append(t.repos, rp.key())
			}
		}
		if len(t.repos) != len(opts.Repositories)+len(opts.RepositoryIDs) {
			writeError(w, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			return
		}
	}
	s.tokens[t.value] = t
	out := &github.InstallationToken{
		Token:       github.String(t.value),
		ExpiresAt:   &github.Timestamp{Time: t.expiresAt.UTC().Truncate(time.Second)},
		Permissions: appPermissions(),
	}
	if t.repos != nil {
		for _, rp := range s.installationReposLocked(inst, t.repos) {
			out.Repositories = append(out.Repositories, s.repoJSON(rp))
		}
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listInstallationRepos(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if !c.isApp() {
		writeError(w, http.StatusForbidden, "You must authenticate with an installation access token in order to list repositories for an installation.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &github.ListRepositories{Repositories: []*github.Repository{}}
	for _, rp := range s.installationReposLocked(c.tok.inst, c.tok.repos) {
		out.Repositories = append(out.Repositories, s.repoJSON(rp))
	}
	out.TotalCount = github.Int(len(out.Repositories))
	out.Repositories = paginate(w, r, out.Repositories)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getAuthenticatedUser(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if c.isApp() {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.userJSON(c.user))
}

// AddManifestCode registers a code that POST /app-manifests/{code}/conversions
// will exchange for the emulator's own app credentials, as GitHub does at the
// end of the manifest flow. pem is returned verbatim as the app's key.
func (s *Server) AddManifestCode(code, pem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := github.Timestamp{Time: s.now().UTC()}
	s.manifestCodes[code] = &github.AppConfig{
		ID:            github.Int64(s.opts.AppID),
		Slug:          github.String(s.opts.AppSlug),
		NodeID:        github.String(nodeID("App", s.opts.AppID)),
		Name:          github.String(s.opts.AppSlug),
		Owner:         &github.User{Login: github.String(s.opts.AppSlug), Type: github.String("Organization")},
		HTMLURL:       github.String(s.url + "/apps/" + s.opts.AppSlug),
		ExternalURL:   github.String(s.url),
		CreatedAt:     &now,
		UpdatedAt:     &now,
		ClientID:      github.String("Iv1." + randomToken("")[:16]),
		ClientSecret:  github.String(randomToken("")),
		WebhookSecret: github.String(s.opts.WebhookSecret),
		PEM:           github.String(pem),
	}
}

func (s *Server) convertManifest(w http.ResponseWriter, r *http.Request) {
	code := mux.Vars(r)["code"]
	s.mu.Lock()
	cfg := s.manifestCodes[code]
	// A code is good for one conversion, as on GitHub.
	delete(s.manifestCodes, code)
	s.mu.Unlock()
	if cfg == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusCreated, cfg)
}
