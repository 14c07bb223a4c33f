package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

// simParams are the sim preset's sizes (config.go: K 16, V 478, 32-bit
// elements); wire does not import config.
var simParams = Params{MaxKeyBytes: 16, MaxValueBytes: 478, ElementBytes: 4}

// docBlocks reads the hex dumps of docs/wire-format.md §8: indented lines
// "offset  bytes  comment", one block per run of such lines. Each line's
// offset is checked against the bytes before it, so a miscounted dump in
// the document fails here too.
func docBlocks(t *testing.T) [][]byte {
	t.Helper()
	doc, err := os.ReadFile("../docs/wire-format.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "## 8. Worked example")
	if !ok {
		t.Fatal("docs/wire-format.md has no §8")
	}
	var blocks [][]byte
	var cur []byte
	in := false
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "    ") || strings.TrimSpace(line) == "" {
			if in {
				blocks = append(blocks, cur)
				cur, in = nil, false
			}
			continue
		}
		cols := strings.Split(strings.TrimSpace(line), "  ")
		off, err := strconv.Atoi(cols[0])
		if err != nil {
			continue // the column heading
		}
		var hexCol string
		for _, c := range cols[1:] {
			if c = strings.TrimSpace(c); c != "" {
				hexCol = c
				break
			}
		}
		b, err := hex.DecodeString(strings.ReplaceAll(hexCol, " ", ""))
		if err != nil {
			t.Fatalf("doc line %q: %v", line, err)
		}
		if off != len(cur) {
			t.Fatalf("doc line %q: offset %d, but %d bytes precede it", line, off, len(cur))
		}
		cur, in = append(cur, b...), true
	}
	if in {
		blocks = append(blocks, cur)
	}
	return blocks
}

// fetchAddStore is just enough of a store to answer the example: GET, PUT
// and fid 0 (fetch_add) of UPDATE_S2S with rs.md §4's missing-key rule.
func fetchAddStore() func(Op) Result {
	m := map[string][]byte{}
	return func(o Op) Result {
		v, found := m[string(o.Key)]
		switch o.Code {
		case OpGet:
			if !found {
				return Result{Status: NotFound}
			}
			return Result{Status: OK, Value: v}
		case OpPut:
			m[string(o.Key)] = o.Value
			return Result{Status: OK}
		case OpUpdateS2S:
			var old [8]byte
			copy(old[:], v)
			delta, _, _ := o.Operands()
			m[string(o.Key)] = binary.LittleEndian.AppendUint64(nil, binary.LittleEndian.Uint64(old[:])+delta)
			st := OK
			if !found {
				st = NotFound
			}
			return Result{Status: st, Value: old[:]}
		}
		panic("fetchAddStore: " + o.Code.String())
	}
}

func TestWorkedExample(t *testing.T) {
	blocks := docBlocks(t)
	if len(blocks) != 3 {
		t.Fatalf("docs §8 has %d hex blocks, want request, response, error response", len(blocks))
	}
	ops := []Op{
		Put([]byte("key1"), []byte("hi")),
		Put([]byte("key2"), []byte("hi")),
		Get([]byte("key1")),
		UpdateScalar([]byte("key3"), 0, 5, 0, 0),
		UpdateScalar([]byte("key4"), 0, 5, 0, 0),
	}
	req, err := EncodeRequest(Request{Seq: 7, Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req, blocks[0]) {
		t.Errorf("request:\n got %x\nwant %x (docs/wire-format.md §8)", req, blocks[0])
	}

	d := DecodeRequest(blocks[0], simParams)
	wantFlags := []Flags{0, SameSizes | SameValue, 0, 0, SameSizes | SameValue}
	if d.Err != NoPacketError || d.Seq != 7 || len(d.Ops) != len(ops) || d.Trailing != 0 {
		t.Fatalf("decoded %+v", d)
	}
	for i, o := range d.Ops {
		if !o.Op.Equal(ops[i]) || o.Flags != wantFlags[i] || o.Status != OK {
			t.Errorf("op %d decoded as %v flags %v status %v, want %v flags %v OK", i, o.Op, o.Flags, o.Status, ops[i], wantFlags[i])
		}
	}

	rsp, err := Respond(blocks[0], simParams, fetchAddStore())
	if err != nil {
		t.Fatal(err)
	}
	if len(rsp) != 1 || !bytes.Equal(rsp[0], blocks[1]) {
		t.Errorf("response:\n got %x\nwant %x (docs/wire-format.md §8)", rsp, blocks[1])
	}

	bad := bytes.Clone(blocks[0])
	bad[4] = 0x3c
	rsp, err = Respond(bad, simParams, fetchAddStore())
	if err != nil {
		t.Fatal(err)
	}
	if len(rsp) != 1 || !bytes.Equal(rsp[0], blocks[2]) {
		t.Errorf("error response:\n got %x\nwant %x (docs/wire-format.md §8)", rsp, blocks[2])
	}
	r, err := DecodeResponse(blocks[2])
	if err != nil || r.Err != LengthMismatch || r.Received != 61 || r.Seq != 7 {
		t.Errorf("error response decodes to %+v, %v", r, err)
	}
}
