package main

import "context"

func cmdServe(ctx context.Context, args []string, io stdio) int {
	return notBuilt(io, "serve")
}
