// Package store is specloop's Postgres access: the pool, the versioned
// migrations (specloop's own and River's), and the queries the handlers and
// jobs run. Every function takes the executor it runs on, so callers can put
// several writes in one transaction.
//
// It must not import the jobs, the handlers, the engine or go-github: rows
// in, rows out, in the shared vocabulary of package state.
package store
