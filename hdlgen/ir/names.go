package ir

import (
	"fmt"
	"strconv"
)

// Namer hands out identifiers within one module's scope.
type Namer struct {
	used map[string]bool
}

// NewNamer returns an empty scope.
func NewNamer() *Namer { return &Namer{used: map[string]bool{}} }

// Claim takes name exactly, refusing keywords, malformed identifiers and
// names already taken.
func (n *Namer) Claim(name string) error {
	if err := checkIdent(name); err != nil {
		return err
	}
	if n.used[name] {
		return fmt.Errorf("name %q is already declared in this module", name)
	}
	n.used[name] = true
	return nil
}

// Unique returns base, or base_2, base_3, ... — the first that is free —
// and claims it. base must itself be a legal identifier.
func (n *Namer) Unique(base string) (string, error) {
	if err := checkIdent(base); err != nil {
		return "", err
	}
	name := base
	for i := 2; n.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	n.used[name] = true
	return name, nil
}

// Unique claims a fresh name derived from base in m's scope.
func (m *Module) Unique(base string) string {
	name, err := m.names.Unique(base)
	if err != nil {
		m.errf("%v", err)
		return base
	}
	return name
}

func checkIdent(name string) error {
	if name == "" {
		return fmt.Errorf("empty identifier")
	}
	for i, r := range name {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && (r >= '0' && r <= '9' || r == '$'))
		if !ok {
			return fmt.Errorf("identifier %q: character %q is not allowed", name, r)
		}
	}
	if keywords[name] {
		return fmt.Errorf("identifier %q is a Verilog/SystemVerilog keyword", name)
	}
	return nil
}

// keywords are reserved in Verilog-2005 and SystemVerilog-2017: the RTL must
// read in tools of either dialect.
var keywords = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{
		"accept_on", "alias", "always", "always_comb", "always_ff", "always_latch", "and", "assert", "assign",
		"assume", "automatic", "before", "begin", "bind", "bins", "binsof", "bit", "break", "buf", "bufif0",
		"bufif1", "byte", "case", "casex", "casez", "cell", "chandle", "checker", "class", "clocking", "cmos",
		"config", "const", "constraint", "context", "continue", "cover", "covergroup", "coverpoint", "cross",
		"deassign", "default", "defparam", "design", "disable", "dist", "do", "edge", "else", "end", "endcase",
		"endchecker", "endclass", "endclocking", "endconfig", "endfunction", "endgenerate", "endgroup",
		"endinterface", "endmodule", "endpackage", "endprimitive", "endprogram", "endproperty", "endspecify",
		"endsequence", "endtable", "endtask", "enum", "event", "eventually", "expect", "export", "extends",
		"extern", "final", "first_match", "for", "force", "foreach", "forever", "fork", "forkjoin", "function",
		"generate", "genvar", "global", "highz0", "highz1", "if", "iff", "ifnone", "ignore_bins",
		"illegal_bins", "implements", "implies", "import", "incdir", "include", "initial", "inout", "input",
		"inside", "instance", "int", "integer", "interconnect", "interface", "intersect", "join", "join_any",
		"join_none", "large", "let", "liblist", "library", "local", "localparam", "logic", "longint",
		"macromodule", "matches", "medium", "modport", "module", "nand", "negedge", "nettype", "new", "nexttime",
		"nmos", "nor", "noshowcancelled", "not", "notif0", "notif1", "null", "or", "output", "package", "packed",
		"parameter", "pmos", "posedge", "primitive", "priority", "program", "property", "protected", "pull0",
		"pull1", "pulldown", "pullup", "pulsestyle_ondetect", "pulsestyle_onevent", "pure", "rand", "randc",
		"randcase", "randsequence", "rcmos", "real", "realtime", "ref", "reg", "reject_on", "release", "repeat",
		"restrict", "return", "rnmos", "rpmos", "rtran", "rtranif0", "rtranif1", "s_always", "s_eventually",
		"s_nexttime", "s_until", "s_until_with", "scalared", "sequence", "shortint", "shortreal",
		"showcancelled", "signed", "small", "soft", "solve", "specify", "specparam", "static", "string",
		"strong", "strong0", "strong1", "struct", "super", "supply0", "supply1", "sync_accept_on",
		"sync_reject_on", "table", "tagged", "task", "this", "throughout", "time", "timeprecision", "timeunit",
		"tran", "tranif0", "tranif1", "tri", "tri0", "tri1", "triand", "trior", "trireg", "type", "typedef",
		"union", "unique", "unique0", "unsigned", "until", "until_with", "untyped", "use", "uwire", "var",
		"vectored", "virtual", "void", "wait", "wait_order", "wand", "weak", "weak0", "weak1", "while",
		"wildcard", "wire", "with", "within", "wor", "xnor", "xor",
	} {
		m[k] = true
	}
	return m
}()
