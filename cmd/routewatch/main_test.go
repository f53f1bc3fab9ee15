package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no args", nil, exitUsage},
		{"unknown", []string{"frobnicate"}, exitUsage},
		{"help", []string{"--help"}, exitOK},
		{"mrt without dump", []string{"mrt"}, exitUsage},
		{"config without check", []string{"config"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, _ := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	tests := []struct {
		name string
		url  string
		code int
	}{
		{"ready", ok.URL + "/readyz", exitOK},
		{"not ready", ok.URL + "/other", exitFail},
		{"nothing listening", "http://127.0.0.1:1/readyz", exitFail},
		{"bad url", "::", exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, errOut := runCLI(t, "healthcheck", "--url", tt.url); code != tt.code {
				t.Errorf("exit %d, want %d (%s)", code, tt.code, errOut)
			}
		})
	}
}
