// Package repoconfig owns `.github/specloop.yml`: parsing, defaults and
// validation with line numbers, and what the config implies (which files
// are specs, which are protected, a spec's branch).
//
// It must not import the store, River, go-github or the engine: a config
// is data, read by whoever holds the file.
package repoconfig
