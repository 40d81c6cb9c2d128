package sim_test

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ssync-go/ssync/internal/sim"
	"github.com/ssync-go/ssync/internal/storetest"
)

var (
	seedFlag   = flag.Uint64("seed", 0, "simulation seed (0: the fixed CI seeds)")
	seedsFlag  = flag.Int("seeds", 1, "with -seed: how many consecutive seeds to run")
	stepsFlag  = flag.Int("steps", 250, "random operations per simulation run")
	storeFlag  = flag.String("store", "all", "server store: sqlite, postgres, mysql or all")
	shrinkFlag = flag.Bool("shrink", false, "on failure, look for the fewest steps that still fail and print that run")
	knownFlag  = flag.Bool("known-bugs", true, "play every operation the notes app steers around unless told (no bug of sim.KnownBugs open there); false steers around them")
	openFlag   = flag.Bool("open-bugs", false, "versions, relations: also play the operations that hit the open bugs of sim.KnownBugs")
	modelFlag  = flag.String("model", "all", "app to play: notes, versions, relations or all")
	soakFlag   = flag.Duration("soak", 0, "TestSimSoak: run seed after seed on every store for this long (or set SOAK_SECONDS)")
)

// ciSeeds run on every `go test ./...`: a few seeds of each app, every
// store, costing about what three seeds of the notes app alone did (seed
// 2 of the notes app, the smallest, gave its place to the other apps;
// `make soak` plays them all at length).
var ciSeeds = map[string][]uint64{
	sim.ModelNotes:     {1, 3},
	sim.ModelVersions:  {1},
	sim.ModelRelations: {1},
}

// models returns the apps -model selects.
func models(t *testing.T) []string {
	if *modelFlag == "all" {
		return sim.Models
	}
	for _, m := range sim.Models {
		if m == *modelFlag {
			return []string{m}
		}
	}
	t.Fatalf("no app named %q (want one of %v or all)", *modelFlag, sim.Models)
	return nil
}

// regressions are seeds that once failed, kept so that they always run.
var regressions = []struct {
	seed  uint64
	steps int
	store string // empty: every store
	model string // empty: notes
	why   string
}{
	{3, 250, "postgres", "", "the PostgreSQL pull horizon dropped to 0 when a push took its id during the query: " +
		"the device got checkpoint 0 and never received later deletions (fixed in fe4085c)"},
	{3, 250, "sqlite", "", "a push refused with a foreign-key error (500) at step 222, and every push of that device after it (fixed)"},
	{1, 250, "postgres", "", "a delete overwritten by an update pushed at the same time: note n8 comes back (fixed)"},
	{16, 250, "postgres", "", "a delete overwritten by an update pushed at the same time: note n5 comes back (fixed)"},
	{12, 250, "mysql", "", "a delete overwritten by an update pushed at the same time: note n2 comes back (fixed)"},
	{1, 250, "mysql", "", "PurgeTombstones deadlocks with a push (Error 1213) (fixed)"},
	{5, 250, "mysql", "", "a push deadlocks (Error 1213) and is refused with 422 row_refused, which the client does not retry (fixed)"},
	{725904, 400, "", sim.ModelVersions, "a row edited during a full re-pull that left out its delete: the server ignored " +
		"the edit (deleted) and the device kept the row live forever (fixed: the delete goes to the pusher again)"},
}

func backends(t *testing.T) []storetest.Backend {
	var out []storetest.Backend
	for _, b := range storetest.Backends(t) {
		if *storeFlag == "all" || *storeFlag == b.Name {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no store named %q (want sqlite, postgres, mysql or all)", *storeFlag)
	}
	return out
}

// runSeed runs one simulation and fails t with its reproduction. Bursts
// are off for the pinned regression seeds, which replay the runs they were
// found in.
func runSeed(t *testing.T, b storetest.Backend, model string, seed uint64, steps int, bursts bool) *sim.Report {
	t.Helper()
	rep := sim.Run(t, sim.Config{Seed: seed, Steps: steps, Backend: b, KnownBugs: *knownFlag, Bursts: bursts, Model: model, OpenBugs: *openFlag})
	t.Log(rep.Summary())
	if !rep.Failed() {
		if testing.Verbose() && *seedFlag != 0 {
			t.Logf("operation log:\n%s", joinLines(rep.Log))
		}
		return rep
	}
	if *shrinkFlag {
		rep = shrink(t, b, seed, steps, rep)
	}
	t.Error(rep.Reproduction())
	return rep
}

// shrink bisects the step count for the shortest run of the seed that
// still fails.
func shrink(t *testing.T, b storetest.Backend, seed uint64, steps int, failed *sim.Report) *sim.Report {
	lo, hi := 1, steps
	best := failed
	for lo < hi {
		mid := (lo + hi) / 2
		r := sim.Run(t, sim.Config{Seed: seed, Steps: mid, Backend: b, KnownBugs: *knownFlag, Bursts: failed.Bursts, Model: failed.Model, OpenBugs: *openFlag})
		if r.Failed() {
			hi, best = mid, r
		} else {
			lo = mid + 1
		}
	}
	t.Logf("shrunk seed %d from %d to %d steps", seed, steps, best.Steps)
	return best
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}

// TestSim runs the simulation of every app on every store: the fixed CI
// seeds, or the seeds given with -seed and -seeds.
func TestSim(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			for _, m := range models(t) {
				seeds := ciSeeds[m]
				if *seedFlag != 0 {
					seeds = nil
					for i := range max(1, *seedsFlag) {
						seeds = append(seeds, *seedFlag+uint64(i))
					}
				}
				t.Run(m, func(t *testing.T) {
					for _, seed := range seeds {
						t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runSeed(t, b, m, seed, *stepsFlag, true) })
					}
				})
			}
		})
	}
}

// TestSimRegressions replays the seeds that once failed.
func TestSimRegressions(t *testing.T) {
	if len(regressions) == 0 {
		t.Skip("no regression seeds recorded")
	}
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			for _, r := range regressions {
				if r.store != "" && r.store != b.Name {
					continue
				}
				model := r.model
				if model == "" {
					model = sim.ModelNotes
				}
				name := fmt.Sprintf("seed=%d,steps=%d", r.seed, r.steps)
				if model != sim.ModelNotes {
					name = model + "/" + name
				}
				t.Run(name, func(t *testing.T) {
					t.Log(r.why)
					runSeed(t, b, model, r.seed, r.steps, false)
				})
			}
		})
	}
}

// TestSimSoak runs seed after seed on every store until -soak (or
// SOAK_SECONDS) has passed, and reports what all the runs did. It is
// skipped unless one of them is set; `make soak` sets them.
func TestSimSoak(t *testing.T) {
	budget := *soakFlag
	if s := os.Getenv("SOAK_SECONDS"); budget == 0 && s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SOAK_SECONDS=%q: %v", s, err)
		}
		budget = time.Duration(n) * time.Second
	}
	if budget <= 0 {
		t.Skip("soak: set -soak or SOAK_SECONDS")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()%1_000_000) + 1000
	}
	deadline := time.Now().Add(budget)
	stores := backends(t)
	apps := models(t)
	total := &sim.Report{Ops: map[string]int{}, Faults: map[string]int{}}
	runs := 0
	var failed []string
	t.Logf("soak: %v from seed %d, %d steps a run, stores %d", budget, seed, *stepsFlag, len(stores))
	for ; time.Now().Before(deadline) && len(failed) < 5; seed++ {
		for i, b := range stores {
			if !time.Now().Before(deadline) {
				break
			}
			// Each seed plays one app on each store, in turn.
			m := apps[(int(seed)+i)%len(apps)]
			// A subtest per run, so that each run's databases are dropped
			// when it ends.
			var rep *sim.Report
			t.Run(fmt.Sprintf("%s/%s/seed=%d", b.Name, m, seed), func(t *testing.T) {
				rep = sim.Run(t, sim.Config{Seed: seed, Steps: *stepsFlag, Backend: b, KnownBugs: *knownFlag, Bursts: true, Model: m, OpenBugs: *openFlag})
				t.Log(rep.Summary())
				if rep.Failed() {
					t.Error(rep.Reproduction())
				}
			})
			if rep == nil {
				continue // the harness could not run
			}
			runs++
			if rep.Failed() {
				failed = append(failed, fmt.Sprintf("seed %d on %s", seed, b.Name))
			}
			total.Users += rep.Users
			total.Devices += rep.Devices
			total.Steps += rep.Steps
			total.Syncs += rep.Syncs
			total.FailedSyncs += rep.FailedSyncs
			total.Pushes += rep.Pushes
			total.Replays += rep.Replays
			total.AckedWrites += rep.AckedWrites
			total.RowsChecked += rep.RowsChecked
			total.ServerRows += rep.ServerRows
			total.DeletedRows += rep.DeletedRows
			total.FieldsChecked += rep.FieldsChecked
			total.LostFields += rep.LostFields
			total.RefsChecked += rep.RefsChecked
			total.BrokenRefs += rep.BrokenRefs
			total.Ops["run of app "+m]++
			for k, v := range rep.Ops {
				total.Ops[k] += v
			}
			for k, v := range rep.Faults {
				total.Faults[k] += v
			}
		}
	}
	summary := fmt.Sprintf("soak summary: %d runs (seeds up to %d), %d devices, %d operations, %d syncs (%d failed by injected faults), "+
		"%d pushes committed, %d idempotent replays, %d acknowledged writes checked, %d row comparisons, %d server rows at the end (%d deleted), "+
		"%d field values checked (%d lost or reset), %d references checked (%d broken); "+
		"operations: %s; faults injected: %s; failing seeds: %v",
		runs, seed-1, total.Devices, total.Steps, total.Syncs, total.FailedSyncs, total.Pushes, total.Replays, total.AckedWrites,
		total.RowsChecked, total.ServerRows, total.DeletedRows, total.FieldsChecked, total.LostFields, total.RefsChecked, total.BrokenRefs,
		sim.FormatCounts(total.Ops), sim.FormatCounts(total.Faults), failed)
	t.Log(summary)
	fmt.Println(summary)
}
