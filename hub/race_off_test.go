//go:build !race

package hub_test

// raceEnabled: the race detector is on, and it enlarges stack frames.
const raceEnabled = false
