package glue

import (
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/verilog"
)

func emit(t *testing.T, c config.Config) []byte {
	t.Helper()
	m, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	text, err := verilog.Emit(m, verilog.Header{Generator: "test", ConfigName: c.Name, ConfigHash: c.Hash()})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestPresetsGenerate(t *testing.T) {
	for _, p := range config.Presets() {
		c, _ := config.Preset(p)
		m, err := Generate(c)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want, _ := Ports(c)
		dp := m.DataPorts()
		if len(dp) != len(want) {
			t.Fatalf("%s: %d data ports, want %d", p, len(dp), len(want))
		}
		for i, w := range want {
			if dp[i].Sig.Name != w.Name || dp[i].Sig.W != w.W {
				t.Errorf("%s: port %d is %s[%d], want %s[%d]", p, i, dp[i].Sig.Name, dp[i].Sig.W, w.Name, w.W)
			}
		}
		emit(t, c)
	}
}

func TestRefusals(t *testing.T) {
	for _, x := range []struct {
		set []string
		key string
	}{
		{[]string{"atomic.scalar_bits=16"}, "vector.element_bits"},
		{[]string{"rs.slots=65536"}, "rs.slots"},
	} {
		c, _ := config.Preset("sim")
		for _, s := range x.set {
			if err := c.Set(s); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Generate(c)
		if err == nil || !strings.Contains(err.Error(), x.key) {
			t.Errorf("%v: error %v, want one naming %s", x.set, err, x.key)
		}
	}
}
