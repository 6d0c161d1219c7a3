// Package app holds specloop's server configuration and its identity as a
// GitHub App: the private key, JWT auth, installation clients (counted by
// route and installation) and signed run links.
//
// It must not import the store, River, the jobs or the engine: it is what
// they are configured with.
package app
