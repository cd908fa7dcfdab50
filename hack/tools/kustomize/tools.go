//go:build tools

// Package tools pins kustomize for hack/build-tools.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
