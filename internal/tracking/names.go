package tracking

import (
	"fmt"
	"math/rand/v2"
)

// Word lists for generated run names. MLflow names unnamed runs
// "<adjective>-<noun>-<0..999>", at most 20 characters; these lists are ours.
var (
	nameAdjectives = []string{
		"amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "curious", "daring",
		"eager", "fancy", "fast", "fierce", "gentle", "glad", "golden", "grand", "happy", "hidden",
		"honest", "humble", "icy", "jolly", "keen", "kind", "lively", "loyal", "lucky", "merry",
		"mighty", "misty", "noble", "odd", "polite", "proud", "quick", "quiet", "rapid", "rare",
		"rusty", "shiny", "silent", "silver", "sleepy", "smooth", "snowy", "solar", "spry", "steady",
		"stormy", "sunny", "swift", "tidy", "tiny", "vivid", "warm", "wild", "wise", "witty",
	}
	nameNouns = []string{
		"badger", "bat", "bear", "bee", "bison", "boar", "carp", "cat", "crab", "crane",
		"crow", "deer", "dove", "duck", "eagle", "eel", "elk", "falcon", "finch", "fox",
		"frog", "gecko", "goat", "goose", "hare", "hawk", "heron", "ibis", "koala", "lark",
		"lemur", "lion", "lynx", "mole", "moose", "moth", "newt", "otter", "owl", "panda",
		"pike", "puma", "quail", "raven", "robin", "seal", "shrew", "sloth", "snail", "squid",
		"stork", "swan", "tapir", "tiger", "toad", "trout", "vole", "wasp", "whale", "wolf",
	}
)

const maxGeneratedNameLength = 20

// GenerateRunName returns a random "<adjective>-<noun>-<n>" name of at most
// 20 characters, n in 0..999. r may be nil for the global source.
func GenerateRunName(r *rand.Rand) string {
	intn := rand.IntN
	if r != nil {
		intn = r.IntN
	}
	name := ""
	for range 10 {
		name = fmt.Sprintf("%s-%s-%d", nameAdjectives[intn(len(nameAdjectives))],
			nameNouns[intn(len(nameNouns))], intn(1000))
		if len(name) <= maxGeneratedNameLength {
			return name
		}
	}
	return name[:maxGeneratedNameLength]
}
