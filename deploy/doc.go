// Package deploy holds the deployment files of catqms — Kubernetes manifests,
// the nginx reverse proxy, the systemd unit — and, in its test, the checks
// that keep them consistent with each other, with the Dockerfile and
// docker-compose.yaml at the repository root, and with the flags of
// cmd/catqms. It has no code of its own.
package deploy
