package emulator

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Seed is what `specloop emulator` starts with: users, repositories (from
// local directories) and their permissions, plans, installations. It reads
// from YAML or JSON (a seed file) or is built from flags.
type Seed struct {
	// Users get personal tokens; Perms give them roles on repos
	// ("owner/name" → role).
	Users []SeedUser `yaml:"users" json:"users"`
	// Repos are created with the files of Dir (relative to the seed file),
	// or empty but for a README.
	Repos []SeedRepo `yaml:"repos" json:"repos"`
	// Plans put owners on plans (free, pro, team, enterprise).
	Plans map[string]Plan `yaml:"plans" json:"plans"`
	// Install lists the owners the app is installed on; nil means every
	// repository owner.
	Install []string `yaml:"install" json:"install"`
}

// SeedUser is a user and their roles.
type SeedUser struct {
	Login string            `yaml:"login" json:"login"`
	Perms map[string]string `yaml:"perms" json:"perms"`
}

// SeedRepo is a repository to create.
type SeedRepo struct {
	Name          string `yaml:"name" json:"name"` // "owner/name"
	Dir           string `yaml:"dir" json:"dir"`
	Private       bool   `yaml:"private" json:"private"`
	DefaultBranch string `yaml:"default_branch" json:"default_branch"`
	Description   string `yaml:"description" json:"description"`
	// Files are added to Dir's (path → content), for a seed that carries
	// its repository inline.
	Files map[string]string `yaml:"files" json:"files"`
}

// Seeded is what seeding made, as `specloop emulator` prints it.
type Seeded struct {
	Tokens        map[string]string `json:"tokens"`        // login → personal token
	Installations map[string]int64  `json:"installations"` // owner → installation id
	Repos         []string          `json:"repos"`
}

// ReadSeed parses a seed file (YAML, of which JSON is a subset); relative
// repo directories are resolved against the file's directory.
func ReadSeed(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("emulator: read seed: %w", err)
	}
	var sd Seed
	if err := yaml.Unmarshal(b, &sd); err != nil {
		return nil, fmt.Errorf("emulator: seed %s: %w", path, err)
	}
	for i, r := range sd.Repos {
		if r.Dir != "" && !filepath.IsAbs(r.Dir) {
			sd.Repos[i].Dir = filepath.Join(filepath.Dir(path), r.Dir)
		}
	}
	return &sd, nil
}

// ReadDir reads a directory's files (not .git) for RepoOptions.Files.
func ReadDir(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("emulator: read %s: %w", dir, err)
	}
	return files, nil
}

// Apply seeds the server: repos first, then users and their roles, plans,
// and installations last, so the installation webhooks list the repos.
func (s *Server) Apply(sd *Seed) (*Seeded, error) {
	out := &Seeded{Tokens: map[string]string{}, Installations: map[string]int64{}}
	var owners []string
	for _, r := range sd.Repos {
		owner, name, ok := strings.Cut(r.Name, "/")
		if !ok {
			return nil, fmt.Errorf("emulator: seed repo %q: want owner/name", r.Name)
		}
		files := map[string]string{}
		if r.Dir != "" {
			var err error
			if files, err = ReadDir(r.Dir); err != nil {
				return nil, err
			}
		}
		for p, c := range r.Files {
			files[p] = c
		}
		if len(files) == 0 {
			files["README.md"] = "# " + name + "\n"
		}
		if _, err := s.CreateRepo(owner, name, RepoOptions{Private: r.Private, DefaultBranch: r.DefaultBranch, Description: r.Description, Files: files}); err != nil {
			return nil, err
		}
		out.Repos = append(out.Repos, r.Name)
		if !slices.Contains(owners, owner) {
			owners = append(owners, owner)
		}
	}
	for _, u := range sd.Users {
		out.Tokens[u.Login] = s.AddUser(u.Login)
		for repo, perm := range u.Perms {
			owner, name, ok := strings.Cut(repo, "/")
			if !ok || s.repoOf(owner, name) == nil {
				return nil, fmt.Errorf("emulator: seed user %s: no repo %q", u.Login, repo)
			}
			s.SetPermission(owner, name, u.Login, perm)
		}
	}
	for owner, p := range sd.Plans {
		s.SetPlan(owner, p)
	}
	install := sd.Install
	if install == nil {
		install = owners
	}
	for _, owner := range install {
		out.Installations[owner] = s.Install(owner)
	}
	return out, nil
}

func (s *Server) repoOf(owner, name string) *repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repoLocked(owner, name)
}
