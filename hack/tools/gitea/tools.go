//go:build tools

// Package tools pins Gitea for hack/build-gitea.
package tools

import _ "code.gitea.io/gitea"
