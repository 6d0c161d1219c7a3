// Package specloop holds what the specloop binary embeds from the
// repository's root: the GitHub App manifest.
package specloop

import _ "embed"

// Manifest is app.yml, the GitHub App manifest: the permissions and events
// the app asks for. handlers.Setup posts it to GitHub's app-manifest flow.
//
//go:embed app.yml
var Manifest []byte
