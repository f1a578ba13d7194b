package detect

import (
	"context"
	"net"
	"net/url"
	"slices"

	gnet "github.com/shirou/gopsutil/v3/net"
)

// ListenerPIDs returns the processes listening on a loopback server's port, so
// that GPU windows can report the memory the server itself holds. It returns nil
// for a remote server, an unknown port, or when the sockets cannot be listed.
func ListenerPIDs(ctx context.Context, s Server) []int {
	u, err := url.Parse(s.BaseURL)
	if err != nil || s.Port == 0 {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil
	}
	conns, err := gnet.ConnectionsWithContext(ctx, "tcp")
	if err != nil {
		return nil
	}
	var pids []int
	for _, c := range conns {
		if c.Status == "LISTEN" && int(c.Laddr.Port) == s.Port && c.Pid > 0 && !slices.Contains(pids, int(c.Pid)) {
			pids = append(pids, int(c.Pid))
		}
	}
	return pids
}
