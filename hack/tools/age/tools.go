//go:build tools

// Package tools pins age for hack/build-tools.
package tools

import (
	_ "filippo.io/age/cmd/age"
	_ "filippo.io/age/cmd/age-keygen"
)
