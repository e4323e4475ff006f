// Package netaddr answers questions about "host:port" addresses that the
// gate's and the hub's configs both ask: whether plain TCP or an open
// dashboard is confined to the box itself.
package netaddr

import "net"

// IsLoopback reports whether hostPort ("host:port") names this box only: a
// loopback IP address or "localhost". A malformed address is not loopback.
func IsLoopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
