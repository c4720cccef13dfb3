package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFromBuildInfo(t *testing.T) {
	info := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-02T05:00:00Z"}, {Key: "vcs.modified", Value: "true"}}})
	if info.Version != "v1.2.3" || info.Commit != "abc123" || info.CommitTime != "2026-12-02T05:00:00Z" || !info.Modified || info.GoVersion != "go1.26.10" {
		t.Fatalf("%+v", info)
	}
	if s := info.String(); s != "portero v1.2.3 commit abc123+modified built from a commit of 2026-12-02T05:00:00Z go1.26.10" {
		t.Fatalf("String() = %q", s)
	}
	if v := fromBuildInfo(&debug.BuildInfo{}).Version; v != "(devel)" {
		t.Fatalf("no version: %q", v)
	}
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	Info{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.10"}.Register(reg)
	families, err := reg.Gather()
	if err != nil || len(families) != 1 || families[0].GetName() != "portero_build_info" || len(families[0].Metric) != 1 {
		t.Fatalf("gathered %v, %v", families, err)
	}
	m := families[0].Metric[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if m.GetGauge().GetValue() != 1 || labels["version"] != "v1.2.3" || labels["commit"] != "abc" || labels["goversion"] != "go1.26.10" {
		t.Fatalf("sample %v", m)
	}
}
