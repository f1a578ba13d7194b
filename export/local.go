package export

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// localNames are the names of this machine and its user that no export may
// hold even where the patterns of unsafeText miss them: the host name (and
// its first label), the user's login and display names, the home directory's
// last element, and every address and hardware address of the machine's
// network interfaces.
var localNames = sync.OnceValue(func() []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= 2 && s != "localhost" {
			out = append(out, s)
		}
	}
	if h, err := os.Hostname(); err == nil {
		add(h)
		short, _, _ := strings.Cut(h, ".")
		add(short)
	}
	if u, err := user.Current(); err == nil {
		add(u.Username)
		add(u.Name)
		add(filepath.Base(u.HomeDir))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Base(home))
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if mac := i.HardwareAddr.String(); mac != "" && strings.Trim(mac, "0:") != "" {
			add(mac)
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				add(n.IP.String())
			}
		}
	}
	return out
})

// holdsLocal says whether s holds one of names as a whole word, in any case.
func holdsLocal(s string, names []string) bool {
	if s == "" {
		return false
	}
	for _, n := range names {
		re := `(?i)(?:^|[^A-Za-z0-9])` + regexp.QuoteMeta(n) + `(?:$|[^A-Za-z0-9])`
		if regexp.MustCompile(re).MatchString(s) {
			return true
		}
	}
	return false
}

// dropLocal empties every string of r that holds one of names.
func (r *Run) dropLocal(names []string) {
	for _, p := range []*string{&r.Mode, &r.Status, &r.TyphonVersion, &r.Server.Kind, &r.Server.Version,
		&r.Model.Name, &r.Model.Quantization, &r.Hardware.OSFamily, &r.Hardware.CPUModel} {
		if holdsLocal(*p, names) {
			*p = ""
		}
	}
	for i := range r.Hardware.GPUs {
		if holdsLocal(r.Hardware.GPUs[i].Model, names) {
			r.Hardware.GPUs[i].Model = ""
		}
	}
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if holdsLocal(b.TestID, names) {
			b.TestID = ""
		}
		kinds := b.ErrorKinds[:0]
		for _, k := range b.ErrorKinds {
			if !holdsLocal(k, names) {
				kinds = append(kinds, k)
			}
		}
		if b.ErrorKinds = kinds; len(kinds) == 0 {
			b.ErrorKinds = nil
		}
	}
}
