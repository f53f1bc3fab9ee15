//go:build !linux

package collector

import (
	"errors"
	"net/netip"
)

// On other systems routewatch does not know how to verify the kernel
// honours the key, so it refuses (fail closed).
func probeMD5(netip.Addr, string) error {
	return errors.New("TCP MD5 is only supported on Linux")
}

func probeTTL(netip.Addr, int) error {
	return errors.New("TTL security is only supported on Linux")
}
