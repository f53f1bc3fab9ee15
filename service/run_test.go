package service

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// runService builds and runs a service from cfg until the test ends, then
// cancels it and waits for Run to return.
func runService(t *testing.T, cfg Config) *Service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return svc
}
