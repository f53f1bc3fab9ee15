package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"routewatch/internal/testenv"
)

// loopbackConfig is the default configuration with the API and the BGP
// collector on free loopback ports.
func loopbackConfig(t *testing.T) Config {
	t.Helper()
	cfg := Default()
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.Collector.Port = testenv.FreePort(t)
	cfg.Collector.ListenAddresses = []string{"127.0.0.1"}
	return cfg
}

// startService builds a service from cfg and runs it. stop cancels it and
// returns Run's error (failing the test if Run does not return within the
// shutdown timeout); the test's end stops it too.
func startService(t *testing.T, cfg Config) (svc *Service, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(svc.cfg.ShutdownTimeout + 5*time.Second):
				runErr = fmt.Errorf("the service did not stop within %s of the cancel", svc.cfg.ShutdownTimeout+5*time.Second)
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return svc, stop
}

// runService builds and runs a service from cfg until the test ends.
func runService(t *testing.T, cfg Config) *Service {
	t.Helper()
	svc, _ := startService(t, cfg)
	return svc
}
