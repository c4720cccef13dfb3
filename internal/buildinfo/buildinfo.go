// Package buildinfo tells which Portero a binary is: the module version,
// the commit and its time, and the Go toolchain, as the Go linker recorded
// them (debug.ReadBuildInfo). Nothing is stamped by hand, so the answer
// cannot drift from the build.
package buildinfo

import (
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Info describes one build.
type Info struct {
	// Version is the module version (v1.2.3 when built with go install
	// module@version, "(devel)" from a checkout).
	Version string `json:"version"`
	// Commit is the VCS revision, "" when the build had no VCS stamp.
	Commit string `json:"commit,omitempty"`
	// CommitTime is the commit's time (RFC 3339), the closest thing to a
	// reproducible build date.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified: the work tree had uncommitted changes.
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go"`
}

// Read returns this binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one-line form `portero version` prints.
func (i Info) String() string {
	s := "portero " + i.Version
	if i.Commit != "" {
		s += fmt.Sprintf(" commit %s", i.Commit)
		if i.Modified {
			s += "+modified"
		}
	}
	if i.CommitTime != "" {
		s += " built from a commit of " + i.CommitTime
	}
	return s + " " + i.GoVersion
}

// Register adds the portero_build_info gauge (always 1, the build in its
// labels), the usual way to join a version to every other series.
func (i Info) Register(reg prometheus.Registerer) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "portero_build_info",
		Help: "The running build: version, commit and Go version (always 1).",
	}, []string{"version", "commit", "goversion"})
	g.WithLabelValues(i.Version, i.Commit, i.GoVersion).Set(1)
	reg.MustRegister(g)
}
