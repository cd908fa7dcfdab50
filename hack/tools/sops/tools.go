//go:build tools

// Package tools pins sops for hack/build-tools.
package tools

import (
	_ "github.com/getsops/sops/v3/cmd/sops"
)
