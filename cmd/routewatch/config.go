package main

import "context"

func cmdConfigCheck(ctx context.Context, args []string, io stdio) int {
	return notBuilt(io, "config check")
}
