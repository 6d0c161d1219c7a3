package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/specloop/specloop"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/stack"
)

// emulatorReport is what `specloop emulator` prints, one JSON line.
type emulatorReport struct {
	URL            string            `json:"url"`
	AppID          int64             `json:"app_id"`
	AppSlug        string            `json:"app_slug"`
	AppKey         string            `json:"app_key,omitempty"` // the private key file it wrote
	WebhookURL     string            `json:"webhook_url"`
	InstallationID int64             `json:"installation_id"`
	Installations  map[string]int64  `json:"installations"`
	Tokens         map[string]string `json:"tokens"`
	Repos          []string          `json:"repos"`
}

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("specloop emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "where to listen (port 0 picks a free one)")
	appID := fs.Int64("app-id", 1, "the GitHub App's id (the JWT's iss)")
	slug := fs.String("app-slug", "specloop", "the app's slug; its bot is <slug>[bot]")
	keyPath := fs.String("app-key", "", "PEM file with the app's public key (or its private key); without it a key is made")
	writeKey := fs.String("write-key", "emulator-app-key.pem", "where to write the private key made when -app-key is not given")
	hook := fs.String("webhook-url", "", "where to deliver webhooks")
	secret := fs.String("webhook-secret", "", "webhook secret to sign deliveries with")
	seedPath := fs.String("seed", "", "YAML or JSON seed file: users, repos (from directories), plans, installations (docs/emulator.md)")
	events := fs.String("events", "", "comma-separated events the app subscribes to (default: specloop's app.yml)")
	dir := fs.String("dir", "", "where the bare repositories live (default: a temporary directory)")
	var repos, users, perms, plans multi
	fs.Var(&repos, "repo", "owner/name=DIR: a repository seeded from a local directory (repeatable)")
	fs.Var(&users, "user", "a user to make, with a token (repeatable)")
	fs.Var(&perms, "perm", "login:owner/name=role, role admin|maintain|write|triage|read (repeatable)")
	fs.Var(&plans, "plan", "owner=plan, plan free|pro|team|enterprise (repeatable; default free)")
	private := fs.Bool("private", false, "make -repo repositories private")
	verbose := fs.Bool("v", false, "log the emulator's diagnostics to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "specloop emulator:", err)
		return 1
	}
	sd, err := emulatorSeed(*seedPath, repos, users, perms, plans, *private)
	if err != nil {
		return fail(err)
	}
	pub, wrote, err := appPublicKey(*keyPath, *writeKey)
	if err != nil {
		return fail(err)
	}
	subscribed, err := emulator.ManifestEvents(specloop.Manifest)
	if err != nil {
		return fail(err)
	}
	if *events != "" {
		subscribed = strings.Split(*events, ",")
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	em, err := emulator.New(emulator.Options{AppID: *appID, AppPublicKey: pub, AppSlug: *slug, WebhookURL: *hook,
		WebhookSecret: *secret, Dir: *dir, Logger: logger, Events: subscribed})
	if err != nil {
		return fail(err)
	}
	defer em.Close()
	u, err := em.StartOn(*addr)
	if err != nil {
		return fail(err)
	}
	seeded, err := em.Apply(sd)
	if err != nil {
		return fail(err)
	}
	rep := emulatorReport{URL: u, AppID: *appID, AppSlug: *slug, AppKey: wrote, WebhookURL: *hook,
		Installations: seeded.Installations, Tokens: seeded.Tokens, Repos: seeded.Repos}
	for _, r := range sd.Repos {
		// The installation of the first repository's owner, the usual one.
		owner, _, _ := strings.Cut(r.Name, "/")
		if id, ok := seeded.Installations[owner]; ok {
			rep.InstallationID = id
			break
		}
	}
	if err := json.NewEncoder(stdout).Encode(rep); err != nil {
		return fail(err)
	}
	<-ctx.Done()
	return 0
}

// emulatorSeed is the seed file's, with the flags' repos, users, roles and
// plans added; with none of them, the testdrive's sample: acme/widgets
// with a spec, maintainer (admin) and reader (read).
func emulatorSeed(path string, repos, users, perms, plans []string, private bool) (*emulator.Seed, error) {
	sd := &emulator.Seed{}
	if path != "" {
		var err error
		if sd, err = emulator.ReadSeed(path); err != nil {
			return nil, err
		}
	}
	for _, r := range repos {
		name, dir, ok := strings.Cut(r, "=")
		if !ok || !strings.Contains(name, "/") {
			return nil, fmt.Errorf("-repo %q: want owner/name=DIR", r)
		}
		sd.Repos = append(sd.Repos, emulator.SeedRepo{Name: name, Dir: dir, Private: private})
	}
	byLogin := map[string]int{}
	for i, u := range sd.Users {
		byLogin[u.Login] = i
	}
	user := func(login string) *emulator.SeedUser {
		if i, ok := byLogin[login]; ok {
			return &sd.Users[i]
		}
		sd.Users = append(sd.Users, emulator.SeedUser{Login: login, Perms: map[string]string{}})
		byLogin[login] = len(sd.Users) - 1
		return &sd.Users[len(sd.Users)-1]
	}
	for _, u := range users {
		user(u)
	}
	for _, p := range perms {
		login, rest, ok1 := strings.Cut(p, ":")
		repo, role, ok2 := strings.Cut(rest, "=")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("-perm %q: want login:owner/name=role", p)
		}
		u := user(login)
		if u.Perms == nil {
			u.Perms = map[string]string{}
		}
		u.Perms[repo] = role
	}
	for _, p := range plans {
		owner, plan, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("-plan %q: want owner=plan", p)
		}
		if sd.Plans == nil {
			sd.Plans = map[string]emulator.Plan{}
		}
		sd.Plans[owner] = emulator.Plan(plan)
	}
	if path == "" && len(repos) == 0 && len(users) == 0 {
		sd = sampleSeed()
	}
	return sd, nil
}

// sampleSeed is the testdrive's world, for `specloop emulator` with no
// seed: acme/widgets holding the sample spec, maintainer and reader.
func sampleSeed() *emulator.Seed {
	return &emulator.Seed{
		Repos: []emulator.SeedRepo{{Name: "acme/widgets", Private: true, Files: stack.SampleRepo("specloop")}},
		Users: []emulator.SeedUser{
			{Login: "maintainer", Perms: map[string]string{"acme/widgets": "admin"}},
			{Login: "reader", Perms: map[string]string{"acme/widgets": "read"}},
		},
		Plans: map[string]emulator.Plan{"acme": emulator.PlanPro},
	}
}

// appPublicKey reads the app's key (public, or private to take the public
// half), or makes a private key and writes it to writePath.
func appPublicKey(path, writePath string) (*rsa.PublicKey, string, error) {
	if path == "" {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, "", err
		}
		b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		if err := os.WriteFile(writePath, b, 0o600); err != nil {
			return nil, "", fmt.Errorf("write the app key: %w", err)
		}
		return &k.PublicKey, writePath, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read the app key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, "", errors.New("the app key is not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return &k.PublicKey, "", nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return &rk.PublicKey, "", nil
		}
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		if rk, ok := k.(*rsa.PublicKey); ok {
			return rk, "", nil
		}
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, "", nil
	}
	return nil, "", errors.New("the app key is no RSA key")
}
