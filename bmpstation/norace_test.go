//go:build !race

package bmpstation

// raceEnabled: this is a -race build.
const raceEnabled = false
