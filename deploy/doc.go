// Package deploy holds specloop's deployment files: the container image
// (Dockerfile), docker compose (compose.yaml) and a Kubernetes kustomize
// base (kubernetes/). It has no Go code of its own; its tests check that
// the files agree with each other and with the binary.
package deploy
