//go:build !unix

package redisline

import (
	"fmt"
	"os"
)

// lockDir makes dir. Where there is no flock, nothing stops two processes
// from sharing a directory: run one per --data-dir.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: data directory: %w", err)
	}
	return func() {}, nil
}
