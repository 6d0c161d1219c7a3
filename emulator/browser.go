// The browser view: HTML pages for repos, issues, pull requests and check
// runs, with forms that act as a chosen seeded user. Every form is replayed
// as the REST request a client would send, with that user's token, through
// ServeHTTP: the same handlers, limits and webhooks as the API.

package emulator

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"

	"github.com/specloop/specloop/internal/mdhtml"
	"github.com/specloop/specloop/internal/pagestyle"
)

//go:embed browser/*.html browser/*.css
var browserFiles embed.FS

// userCookie remembers whom the forms act as.
const userCookie = "emulator_user"

// reservedOwners are first path segments of the REST API, never owners in
// the browser view's URLs.
var reservedOwners = map[string]bool{"repos": true, "app": true, "apps": true, "installation": true, "users": true, "orgs": true,
	"app-manifests": true, "user": true, "rate_limit": true, "graphql": true, "settings": true}

type browser struct {
	s    *Server
	md   *mdhtml.Renderer
	tmpl *template.Template
	r    *mux.Router
}

func newBrowser(s *Server) *browser {
	b := &browser{s: s, md: mdhtml.New()}
	b.tmpl = template.Must(template.New("b").Funcs(template.FuncMap{
		"md": b.md.HTML,
		"css": func() template.CSS {
			c, _ := browserFiles.ReadFile("browser/style.css")
			return pagestyle.CSS(string(c))
		},
		"short": func(s string) string {
			if len(s) > 7 {
				return s[:7]
			}
			return s
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"forms": func(users []actor, ret, owner, repo string, checks []checkView) any {
			return struct {
				Users               []actor
				Return, Owner, Repo string
				Checks              []checkView
			}{users, ret, owner, repo, checks}
		},
	}).ParseFS(browserFiles, "browser/*.html"))
	r := mux.NewRouter()
	owner := func(r *http.Request, m *mux.RouteMatch) bool {
		seg := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
		return !reservedOwners[seg]
	}
	get := func(path string, f http.HandlerFunc) {
		r.HandleFunc(path, f).Methods(http.MethodGet).MatcherFunc(owner)
	}
	post := func(path string, f http.HandlerFunc) {
		r.HandleFunc(path, f).Methods(http.MethodPost).MatcherFunc(owner)
	}
	r.HandleFunc("/", b.index).Methods(http.MethodGet)
	get("/{owner}/{repo}", b.repoPage)
	get("/{owner}/{repo}/issues/{number:[0-9]+}", b.issuePage)
	get("/{owner}/{repo}/pull/{number:[0-9]+}", b.issuePage)
	get("/{owner}/{repo}/runs/{id:[0-9]+}", b.checkRunPage)
	post("/{owner}/{repo}/issues/new", b.newIssue)
	post("/{owner}/{repo}/issues/{number:[0-9]+}/comment", b.comment)
	post("/{owner}/{repo}/issues/{number:[0-9]+}/label", b.label)
	post("/{owner}/{repo}/issues/{number:[0-9]+}/unlabel", b.unlabel)
	post("/{owner}/{repo}/issues/{number:[0-9]+}/state", b.setState)
	post("/{owner}/{repo}/runs/{id:[0-9]+}/action", b.pressAction)
	post("/{owner}/{repo}/runs/{id:[0-9]+}/rerequest", b.rerequest)
	b.r = r
	return b
}

// match reports whether r is a browser page (or form) rather than the API.
func (b *browser) match(r *http.Request) bool {
	var m mux.RouteMatch
	return b.r.Match(r, &m) && m.MatchErr == nil
}

func (b *browser) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var buf bytes.Buffer
	if err := b.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		b.s.log.Error("emulator: render page", "page", name, "err", err)
		http.Error(w, "could not render the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(buf.Bytes())
}

// actor is a seeded user the forms can act as.
type actor struct {
	Login, Permission string
	Selected          bool
}

// pageBase is what every page shows: where it is and whom it acts as.
type pageBase struct {
	Title  string
	Owner  string
	Repo   string
	Users  []actor
	Flash  string
	Return string
}

func (b *browser) base(r *http.Request, rp *repo, title string) pageBase {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	chosen := ""
	if c, err := r.Cookie(userCookie); err == nil {
		chosen = c.Value
	}
	var users []actor
	for _, u := range s.users {
		if u.typ != "User" || u.token == "" {
			continue
		}
		perm := ""
		if rp != nil {
			perm = s.userPermissionLocked(u, rp)
		}
		users = append(users, actor{Login: u.login, Permission: perm})
	}
	// Most powerful first, so the default is someone who can drive the bot.
	slices.SortFunc(users, func(a, c actor) int {
		if d := permRank(c.Permission) - permRank(a.Permission); d != 0 {
			return d
		}
		return strings.Compare(a.Login, c.Login)
	})
	found := false
	for i := range users {
		if strings.EqualFold(users[i].Login, chosen) {
			users[i].Selected, found = true, true
		}
	}
	if !found && len(users) > 0 {
		users[0].Selected = true
	}
	pb := pageBase{Title: title, Users: users, Flash: r.URL.Query().Get("flash"), Return: r.URL.Path}
	if rp != nil {
		pb.Owner, pb.Repo = rp.owner, rp.name
	}
	return pb
}

func (b *browser) repoFromPath(w http.ResponseWriter, r *http.Request) *repo {
	v := mux.Vars(r)
	b.s.mu.Lock()
	rp := b.s.repoLocked(v["owner"], v["repo"])
	b.s.mu.Unlock()
	if rp == nil {
		b.notFound(w, r)
	}
	return rp
}

func (b *browser) notFound(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNotFound)
	b.render(w, "notfound.html", b.base(r, nil, "Not found"))
}

func (b *browser) index(w http.ResponseWriter, r *http.Request) {
	s := b.s
	type repoRow struct{ FullName, Description string }
	s.mu.Lock()
	var rows []repoRow
	for _, rp := range s.repos {
		rows = append(rows, repoRow{rp.fullName(), rp.description})
	}
	s.mu.Unlock()
	slices.SortFunc(rows, func(a, c repoRow) int { return strings.Compare(a.FullName, c.FullName) })
	b.render(w, "index.html", struct {
		pageBase
		Repos []repoRow
	}{b.base(r, nil, "GitHub emulator"), rows})
}

type issueRow struct {
	Number int
	Title  string
	State  string
	IsPull bool
	Draft  bool
	Labels []string
	User   string
}

func (b *browser) repoPage(w http.ResponseWriter, r *http.Request) {
	rp := b.repoFromPath(w, r)
	if rp == nil {
		return
	}
	s := b.s
	s.mu.Lock()
	var issues, pulls []issueRow
	for _, is := range rp.issues {
		row := issueRow{Number: is.number, Title: is.title, State: is.state, IsPull: is.pull != nil, Labels: slices.Clone(is.labels), User: is.user.login}
		if is.pull != nil {
			row.Draft = is.pull.draft
			pulls = append(pulls, row)
		} else {
			issues = append(issues, row)
		}
	}
	labels := s.labelNamesLocked(rp)
	desc, def := rp.description, rp.defaultBranch
	s.mu.Unlock()
	byNumber := func(a, c issueRow) int { return c.Number - a.Number }
	slices.SortFunc(issues, byNumber)
	slices.SortFunc(pulls, byNumber)
	files, _ := runGit(nil, rp.gitDir, nil, "ls-tree", "-r", "--name-only", def)
	readme, _ := runGit(nil, rp.gitDir, nil, "show", def+":README.md")
	b.render(w, "repo.html", struct {
		pageBase
		Description, DefaultBranch, Readme string
		Files                              []string
		Issues, Pulls                      []issueRow
		Labels                             []string
	}{b.base(r, rp, rp.fullName()), desc, def, readme, strings.Fields(files), issues, pulls, labels})
}

func (s *Server) labelNamesLocked(rp *repo) []string {
	var out []string
	for _, l := range rp.labels {
		out = append(out, l.name)
	}
	slices.Sort(out)
	return out
}

type commentView struct {
	ID      int64
	User    string
	Bot     bool
	Body    string
	Created time.Time
	Edited  bool
}

type checkView struct {
	ID                     int64
	Name, Status           string
	Conclusion             string
	Title, Summary, Text   string
	DetailsURL, ExternalID string
	Started, Completed     time.Time
	Annotations            []github.CheckRunAnnotation
	Actions                []github.CheckRunAction
}

type commitView struct {
	SHA, Subject, Author string
	Checks               []checkView
}

func checkViewOf(cr *checkRun) checkView {
	return checkView{ID: cr.id, Name: cr.name, Status: cr.status, Conclusion: cr.conclusion, Title: cr.title, Summary: cr.summary,
		Text: cr.text, DetailsURL: cr.detailsURL, ExternalID: cr.externalID, Started: cr.startedAt, Completed: cr.completedAt,
		Annotations: slices.Clone(cr.annotations), Actions: slices.Clone(cr.actions)}
}

type diffLine struct{ Class, Text string }

func (b *browser) issuePage(w http.ResponseWriter, r *http.Request) {
	rp := b.repoFromPath(w, r)
	if rp == nil {
		return
	}
	s := b.s
	n, _ := strconv.Atoi(mux.Vars(r)["number"])
	s.mu.Lock()
	is := rp.issues[n]
	if is == nil {
		s.mu.Unlock()
		b.notFound(w, r)
		return
	}
	isPull := is.pull != nil
	if wantPull := strings.Contains(r.URL.Path, "/pull/"); wantPull != isPull {
		s.mu.Unlock()
		kind := "issues"
		if isPull {
			kind = "pull"
		}
		http.Redirect(w, r, fmt.Sprintf("/%s/%d", rp.fullName()+"/"+kind, n), http.StatusFound)
		return
	}
	type view struct {
		pageBase
		Number             int
		Title, Body, State string
		Author             string
		Created            time.Time
		Labels, AllLabels  []string
		Comments           []commentView
		IsPull, Draft      bool
		HeadRef, BaseRef   string
		HeadSHA, BaseSHA   string
		Commits            []commitView
		Diff               []diffLine
		OrphanChecks       []checkView
		Kind               string
	}
	v := view{Number: n, Title: is.title, Body: is.body, State: is.state, Author: is.user.login, Created: is.createdAt,
		Labels: slices.Clone(is.labels), AllLabels: s.labelNamesLocked(rp), IsPull: isPull, Kind: "issues"}
	for _, c := range rp.comments {
		if c.issue == n {
			v.Comments = append(v.Comments, commentView{ID: c.id, User: c.user.login, Bot: c.user.typ == "Bot", Body: c.body,
				Created: c.createdAt, Edited: c.updatedAt.After(c.createdAt)})
		}
	}
	var checks []*checkRun
	if isPull {
		v.Kind = "pull"
		p := is.pull
		v.Draft, v.HeadRef, v.BaseRef = p.draft, p.headRef, p.baseRef
		for _, cr := range rp.checkRuns {
			checks = append(checks, cr)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(v.Comments, func(a, c commentView) int { return int(a.ID - c.ID) })
	if isPull {
		v.HeadSHA, _ = branchSHA(rp, v.HeadRef)
		v.BaseSHA, _ = branchSHA(rp, v.BaseRef)
		if v.HeadSHA != "" && v.BaseSHA != "" {
			v.Commits = b.commits(rp, v.BaseSHA, v.HeadSHA, checks)
			if d, err := runGit(nil, rp.gitDir, nil, "diff", v.BaseSHA+"..."+v.HeadSHA); err == nil {
				v.Diff = highlight(d)
			}
		}
	}
	title := fmt.Sprintf("%s #%d", v.Title, n)
	v.pageBase = b.base(r, rp, title)
	b.render(w, "issue.html", v)
}

// commits lists the PR's commits, newest first, each with its check runs.
func (b *browser) commits(rp *repo, base, head string, checks []*checkRun) []commitView {
	out, err := runGit(nil, rp.gitDir, nil, "log", "--format=%H%x00%an%x00%s", base+".."+head)
	if err != nil {
		return nil
	}
	var list []commitView
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, "\x00", 3)
		if len(f) != 3 {
			continue
		}
		cv := commitView{SHA: f[0], Author: f[1], Subject: f[2]}
		var mine []*checkRun
		for _, cr := range checks {
			if cr.headSHA == cv.SHA {
				mine = append(mine, cr)
			}
		}
		slices.SortFunc(mine, func(a, c *checkRun) int { return int(a.id - c.id) })
		b.s.mu.Lock()
		for _, cr := range mine {
			cv.Checks = append(cv.Checks, checkViewOf(cr))
		}
		b.s.mu.Unlock()
		list = append(list, cv)
	}
	return list
}

func highlight(patch string) []diffLine {
	var out []diffLine
	for _, l := range strings.Split(strings.TrimSuffix(patch, "\n"), "\n") {
		c := ""
		switch {
		case strings.HasPrefix(l, "diff --git"), strings.HasPrefix(l, "index "), strings.HasPrefix(l, "+++ "), strings.HasPrefix(l, "--- "):
			c = "file"
		case strings.HasPrefix(l, "@@"):
			c = "hunk"
		case strings.HasPrefix(l, "+"):
			c = "add"
		case strings.HasPrefix(l, "-"):
			c = "del"
		}
		out = append(out, diffLine{c, l})
	}
	return out
}

func (b *browser) checkRunPage(w http.ResponseWriter, r *http.Request) {
	rp := b.repoFromPath(w, r)
	if rp == nil {
		return
	}
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	b.s.mu.Lock()
	cr := rp.checkRuns[id]
	var cv checkView
	if cr != nil {
		cv = checkViewOf(cr)
	}
	b.s.mu.Unlock()
	if cr == nil {
		b.notFound(w, r)
		return
	}
	b.render(w, "checkrun.html", struct {
		pageBase
		Check checkView
	}{b.base(r, rp, cv.Name), cv})
}

// act replays a form as the REST request, with the chosen user's token,
// and sends the browser back to the page it came from.
func (b *browser) act(w http.ResponseWriter, r *http.Request, method, path string, body any) {
	login := r.FormValue("as")
	s := b.s
	s.mu.Lock()
	u := s.users[strings.ToLower(login)]
	token := ""
	if u != nil && u.typ == "User" {
		token = u.token
	}
	s.mu.Unlock()
	back := r.FormValue("return")
	if back == "" || !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		back = "/"
	}
	if token == "" {
		http.Redirect(w, r, back+"?flash="+url.QueryEscape("No seeded user "+strconv.Quote(login)), http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: userCookie, Value: u.login, Path: "/", SameSite: http.SameSiteLaxMode})
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	req := httptest.NewRequestWithContext(r.Context(), method, path, bytes.NewReader(payload))
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr, req.Host = r.RemoteAddr, r.Host
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	flash := ""
	if rec.Code >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		flash = fmt.Sprintf("%s %s as %s answered %d: %s", method, path, u.login, rec.Code, e.Message)
	}
	if loc := rec.Header().Get("X-Browser-Location"); loc != "" {
		back = loc
	}
	if flash != "" {
		back += "?flash=" + url.QueryEscape(flash)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func apiPath(r *http.Request, rest string) string {
	v := mux.Vars(r)
	return "/repos/" + v["owner"] + "/" + v["repo"] + rest
}

func (b *browser) comment(w http.ResponseWriter, r *http.Request) {
	b.act(w, r, http.MethodPost, apiPath(r, "/issues/"+mux.Vars(r)["number"]+"/comments"), map[string]string{"body": r.FormValue("body")})
}

func (b *browser) label(w http.ResponseWriter, r *http.Request) {
	b.act(w, r, http.MethodPost, apiPath(r, "/issues/"+mux.Vars(r)["number"]+"/labels"), map[string][]string{"labels": {strings.TrimSpace(r.FormValue("label"))}})
}

func (b *browser) unlabel(w http.ResponseWriter, r *http.Request) {
	b.act(w, r, http.MethodDelete, apiPath(r, "/issues/"+mux.Vars(r)["number"]+"/labels/"+url.PathEscape(r.FormValue("label"))), nil)
}

// setState closes or reopens: a PR through PATCH pulls, an issue through
// PATCH issues, as a client would.
func (b *browser) setState(w http.ResponseWriter, r *http.Request) {
	n := mux.Vars(r)["number"]
	kind := "/issues/"
	if r.FormValue("pull") == "1" {
		kind = "/pulls/"
	}
	b.act(w, r, http.MethodPatch, apiPath(r, kind+n), map[string]string{"state": r.FormValue("state")})
}

func (b *browser) newIssue(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"title": r.FormValue("title"), "body": r.FormValue("body")}
	if l := strings.TrimSpace(r.FormValue("label")); l != "" {
		body["labels"] = []string{l}
	}
	b.act(w, r, http.MethodPost, apiPath(r, "/issues"), body)
}

func (b *browser) rerequest(w http.ResponseWriter, r *http.Request) {
	b.act(w, r, http.MethodPost, apiPath(r, "/check-runs/"+mux.Vars(r)["id"]+"/rerequest"), nil)
}

// pressAction clicks a check run's button. GitHub has no REST endpoint for
// it (only its web UI fires requested_action), so it goes through
// RequestAction, as the tests' clicks do.
func (b *browser) pressAction(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	id, _ := strconv.ParseInt(v["id"], 10, 64)
	back := r.FormValue("return")
	if back == "" || !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		back = "/"
	}
	login := r.FormValue("as")
	if err := b.s.RequestAction(v["owner"], v["repo"], id, r.FormValue("identifier"), login); err != nil {
		http.Redirect(w, r, back+"?flash="+url.QueryEscape(err.Error()), http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: userCookie, Value: login, Path: "/", SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
