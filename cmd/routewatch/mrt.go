package main

import "context"

func cmdMRTDump(ctx context.Context, args []string, io stdio) int {
	return notBuilt(io, "mrt dump")
}
