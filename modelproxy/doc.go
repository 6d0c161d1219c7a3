// Package modelproxy is specloop's model API proxy: the only way out of a
// sandbox whose agent has network: model.
//
// Each agent run gets a [Session]: a Unix socket the sandbox is given (a
// bridge inside, [Bridge], turns it into a loopback port the CLI's base URL
// names), a per-run placeholder key the CLI is given instead of the real
// credential, and one upstream, the preset's API base. The session
//
//   - refuses anything but a request for a path under that API (no other
//     host, no CONNECT, no absolute URLs) and any request that does not
//     carry the placeholder key;
//   - swaps the placeholder for the real credential, held only here;
//   - streams the answer back as it arrives (Server-Sent Events are never
//     buffered), reading the usage the API reports on the way: OpenAI
//     Responses and Chat Completions, Anthropic Messages, Gemini;
//   - records each request (path, status, model, input, cached and output
//     tokens, cost from [Prices]) as an agent.ModelCall;
//   - refuses, in the API's own error shape so that the CLI prints it, once
//     a limit of the agent.Budget is spent.
//
// The package must not import the store, jobs, cycle, River or go-github.
package modelproxy
