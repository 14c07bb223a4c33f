package glue

import (
	"fmt"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

func (g *gen) doc(afRec, oprRec, efRec *ir.Record) ir.Doc {
	z := g.z
	ram := "distributed RAM"
	if g.bigMem {
		ram = "block RAM"
	}
	return ir.Doc{
		Title: fmt.Sprintf("Processor glue: key hashing, station requests, engine queue and long values by tag (%d tags, %d station ids)",
			z.T, z.M+z.R),
		Purpose: []string{
			"docs/microarch/processor.md 4. An operation the front end issues (iss_*)",
			"is written by its tag into opr_mem (its fields and the first 24 value",
			"bytes) and reqv_mem (its whole value), and its key goes to the key-hash",
			"unit through the kh_* register. The unit's answer (tag, slot, bucket,",
			fmt.Sprintf("sec) joins AF (%d entries); AF's head is offered to the station with", DA),
			"opr_mem[head tag] (rs_req_*, aux = {bucket, sec}). The station's pipeline",
			fmt.Sprintf("operations wait in EF (%d entries) for the engine (ht_req_*, tag = station", DE),
			"id). Engine answers go to the station through c1 (rs_cpl_*), station",
			"responses to the front end through c2 (cpl_*).",
			"",
			"By reference. The station carries a value's length and first 8 bytes",
			"only (rs.md 1). A value longer than 8 bytes travels by tag: a request's",
			"is taken from reqv_mem[tag] when its operation leaves EF for the engine",
			"(ht_req_value), and a response's is written into rspv_mem[etag[id]] when",
			"the engine answers station id `id` (etag_mem: per id, the tag of the",
			"operation it last sent to the engine; only ids < M, write-backs are",
			"never read back) and read at rspv_mem[resp tag] when the station",
			"answers (cpl_value). Short values pass through the station itself.",
			"",
			"Storage. opr_mem (" + ram + "), reqv_mem and rspv_mem (block RAM) have",
			"one write port and one registered read port. opr_mem and reqv_mem are",
			"read one cycle ahead: at each edge the read register loads the word of",
			"the tag that will be at the front of AF / EF in the next cycle (the",
			"stored next entry, or the one pushed this cycle), so the read register",
			"holds mem[head tag] in exactly the cycle a combinational read would.",
			"A write in that edge to that same tag (excluded by the tag rules of",
			"processor.md 4.5) is bypassed from a copy of the written word, so the",
			"outputs equal a combinational read of the state in every case. AF, EF",
			"and etag_mem are small distributed RAMs read combinationally.",
			fmt.Sprintf("  opr_mem  %s", oprRec.Layout()),
			fmt.Sprintf("  AF word  %s", afRec.Layout()),
			fmt.Sprintf("  EF word  %s", efRec.Layout()),
		},
		Protocol: []string{
			"iss_*, rs_req_*, rs_pipe_*, ht_req_*: valid/ready (docs/microarch.md 1.3);",
			"cpl_*, kh_*, rs_cpl_*, rs_resp_*, ht_rsp_*: no back-pressure. Every output",
			"depends on state only (a register, or a memory read addressed by state):",
			"no combinational path from an input to an output. Outputs other than the",
			"valids and readies are meaningful only while their valid is 1.",
			fmt.Sprintf("iss_ready = credits > 0 (%d credits, one per operation issued and not", DA),
			fmt.Sprintf("yet taken by the station); rs_pipe_ready = |EF| < %d. rs_req_ready may", DE),
			"depend on rs_req_slot (rs.md 5): rs_req_valid never depends on it.",
			"Environment (processor.md 4.5): iss_tag < M; a tag is issued again only",
			"after its completion left on cpl_*; kh_out_* answers each kh_in_* once;",
			"the engine answers each request once with its tag, at least a cycle after",
			"taking it; the station answers each tag once, after its pipeline answers.",
			fmt.Sprintf("iss_fid is clamped to N = %d; ht_rsp_tag is cut to %d bits for rs_cpl_id.", z.N, z.I),
		},
		Latency: []string{
			"processor.md 4.6. An operation taken on iss_* in cycle t is on kh_in_* in",
			"t+1, its hashes return on kh_out_* in t+4 and it is on rs_req_* in t+5",
			"(when AF was empty). A station pipeline operation taken in t is on",
			"ht_req_* in t+1 (when EF was empty). An engine answer in t is on",
			"rs_cpl_* in t+1; a station response in t is on cpl_* in t+1.",
			fmt.Sprintf("Credits return when the station takes an operation: a %d-cycle loop, so", 6),
			fmt.Sprintf("%d credits sustain one issue per cycle.", DA),
		},
	}
}
