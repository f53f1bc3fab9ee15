package main

import "context"

func cmdRanges(ctx context.Context, args []string, io stdio) int {
	return notBuilt(io, "ranges")
}
