//go:build race

package main

// raceEnabled: under the race detector every request is several times
// slower, so the long-running trials run fewer rounds (scripts/test.sh
// also runs them in full without it).
const raceEnabled = true
