package main

import "context"

func cmdReplay(ctx context.Context, args []string, io stdio) int {
	return notBuilt(io, "replay")
}
