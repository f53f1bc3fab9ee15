//go:build linux

package collector

import (
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probeMD5 checks that the kernel accepts a TCP MD5 key for addr on a
// throw-away socket. GoBGP only logs a warning when setting the key fails
// and then accepts unauthenticated sessions, so routewatch asks the kernel
// itself before starting.
func probeMD5(addr netip.Addr, key string) error {
	if len(key) > len(unix.TCPMD5Sig{}.Key) {
		return fmt.Errorf("md5 key of %d bytes: longer than the kernel's %d", len(key), len(unix.TCPMD5Sig{}.Key))
	}
	fd, err := socketFor(addr)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var sig unix.TCPMD5Sig
	if addr.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET
		sa.Addr = addr.As4()
	} else {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET6
		sa.Addr = addr.As16()
	}
	sig.Keylen = uint16(len(key))
	copy(sig.Key[:], key)
	if err := unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig); err != nil {
		return fmt.Errorf("setsockopt TCP_MD5SIG: %w", err)
	}
	return nil
}

// probeTTL checks that the kernel accepts a minimum TTL (RFC 5082).
func probeTTL(addr netip.Addr, ttlMin int) error {
	fd, err := socketFor(addr)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if addr.Is4() {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MINTTL, ttlMin)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MINHOPCOUNT, ttlMin)
	}
	if err != nil {
		return fmt.Errorf("setsockopt min TTL: %w", err)
	}
	return nil
}

func socketFor(addr netip.Addr) (int, error) {
	family := unix.AF_INET6
	if addr.Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("probe socket: %w", err)
	}
	return fd, nil
}
