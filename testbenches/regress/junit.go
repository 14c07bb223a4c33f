package regress

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
	seconds  float64
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// writeJUnit writes one suite per scenario so CI dashboards group runs of
// the same block together.
func writeJUnit(s *Summary, path string) error {
	bySuite := map[string]*junitSuite{}
	var order []string
	for _, r := range s.Results {
		suite := bySuite[r.Scenario]
		if suite == nil {
			suite = &junitSuite{Name: "kvd." + r.Scenario}
			bySuite[r.Scenario] = suite
			order = append(order, r.Scenario)
		}
		c := junitCase{Name: r.Name, Classname: "kvd." + r.Scenario, Time: fmt.Sprintf("%.3f", r.Seconds),
			SystemOut: fmt.Sprintf("cycles %d; replay: %s", r.Cycles, r.Replay)}
		if !r.Passed {
			suite.Failures++
			body := []string{r.Error, "replay: " + r.Replay, "record: " + r.RunDir + "/run.json"}
			if r.Shrunk != "" {
				body = append(body, "shrunk to: "+r.Shrunk)
			}
			c.Failure = &junitFailure{Message: r.Error, Body: strings.Join(body, "\n")}
		}
		suite.Tests++
		suite.seconds += r.Seconds
		suite.Time = fmt.Sprintf("%.3f", suite.seconds)
		suite.Cases = append(suite.Cases, c)
	}
	var doc junitSuites
	for _, name := range order {
		doc.Suites = append(doc.Suites, *bySuite[name])
	}
	data, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(data, '\n')...), 0o644)
}
